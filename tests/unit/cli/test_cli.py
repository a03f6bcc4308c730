"""The `edgelab` command's parsing, through Typer's CliRunner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgelab import cli
from edgelab.cli import app
from edgelab.machine import prepare, record

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    assert "setup" in result.output
    assert "cluster" in result.output


def test_cluster_up_help_mentions_nodes() -> None:
    result = runner.invoke(cli.app, ["cluster", "up", "--help"])
    assert result.exit_code == 0
    assert "--nodes" in result.output


@pytest.mark.parametrize("nodes", ["4", "0"])
def test_cluster_up_rejects_node_count_at_parse_time(monkeypatch: pytest.MonkeyPatch, nodes: str) -> None:
    called: list[object] = []

    def tripwire(*args: object, **kwargs: object) -> None:
        called.append((args, kwargs))
        raise AssertionError("build() ran although --nodes was out of range")

    monkeypatch.setattr(prepare, "setup", tripwire)
    result = runner.invoke(cli.app, ["cluster", "up", "--nodes", nodes])
    assert result.exit_code == 2, result.output
    assert "--nodes" in result.output
    assert called == []


def test_store_commands_teach_in_their_help() -> None:
    result = CliRunner().invoke(app, ["up", "--help"])
    assert result.exit_code == 0
    assert "--store" in result.stdout and "--nodes" in result.stdout and "--profile" in result.stdout
    top = CliRunner().invoke(app, ["--help"])
    for command in ("doctor", "up", "down", "status", "shell"):
        assert command in top.stdout


def test_a_malformed_store_id_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("build ran for a malformed store id")

    monkeypatch.setattr(prepare, "setup", must_not_run)
    monkeypatch.setattr(record, "current", must_not_run)
    result = CliRunner().invoke(app, ["up", "--store", "45x3"])
    assert result.exit_code == 1
    assert "store id '45x3' must be the store number" in result.stderr
    assert "Traceback" not in result.output
