"""`edgelab responder ...` and `up --listen` through Typer's CliRunner, without a store: parsing, and refusing
what cannot work (a hostile name, a malformed store id, a store that is not up, an address not of this machine)
before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelab.cli import app
from edgelab.machine import prepare, record

runner = CliRunner()


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("the machine's set-up was read although the command was refused")

    monkeypatch.setattr(prepare, "setup", must_not_run)
    monkeypatch.setattr(record, "current", must_not_run)
    return tmp_path


def test_responder_help_lists_its_commands() -> None:
    result = runner.invoke(app, ["responder", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("add", "list", "remove"):
        assert command in result.stdout
    add = runner.invoke(app, ["responder", "add", "--help"])
    assert "--store" in add.stdout and "--out" in add.stdout and "--json" in add.stdout
    assert "--listen" in runner.invoke(app, ["up", "--help"]).stdout


@pytest.mark.parametrize("name", ["../x", "Alice", "a/b", "CN=x,O=system:masters", "learner", "system-x", "a b"])
def test_a_hostile_name_is_refused_before_any_work(name: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["responder", "add", name, "--store", "9120"])
    assert result.exit_code == 1, result.output
    assert "responder name" in one_line(result.stderr) and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_store_id_is_refused() -> None:
    result = runner.invoke(app, ["responder", "add", "alice", "--store", "45x3"])
    assert result.exit_code == 1
    assert "store id '45x3' must be the store number" in one_line(result.stderr)


@pytest.mark.parametrize("args", [["responder", "add", "alice"], ["responder", "list"],
                                  ["responder", "remove", "alice"]])
def test_a_store_that_is_not_up_says_how_to_bring_it_up(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--store", "9120"])
    assert result.exit_code == 1, result.output
    assert "store 9120 is not up (run `edgelab up --store 9120` first)" in one_line(result.stderr)


def test_the_store_is_required() -> None:
    result = runner.invoke(app, ["responder", "add", "alice"])
    assert result.exit_code == 2 and "--store" in result.output


def test_remove_of_an_unknown_responder(tmp_path: Path) -> None:
    registry = tmp_path / "edgelab" / "stores" / "9120" / "responders.json"
    registry.parent.mkdir(parents=True)
    registry.write_text(json.dumps({"bob": {"user": "bob", "kubeconfig": "/x", "created_at": "2026-11-30T00:00:00"}}))
    result = runner.invoke(app, ["responder", "remove", "alice", "--store", "9120"])
    assert result.exit_code == 1
    assert "store 9120 has no responder 'alice' (responders: bob" in one_line(result.stderr)
    listed = runner.invoke(app, ["responder", "list", "--store", "9120", "--json"])
    assert listed.exit_code == 0 and [r["name"] for r in json.loads(listed.stdout)] == ["bob"]


@pytest.mark.parametrize(("address", "reason"), [("class-host", "not an IP address"),
                                                 ("203.0.113.7", "this machine has no such address"),
                                                 ("0.0.0.0", "not one address of this machine")])
def test_up_refuses_an_address_that_is_not_this_machines_before_any_work(address: str, reason: str) -> None:
    result = runner.invoke(app, ["up", "--store", "9120", "--listen", address])
    assert result.exit_code == 1, result.output
    assert reason in one_line(result.stderr) and "ip -br addr" in one_line(result.stderr)
