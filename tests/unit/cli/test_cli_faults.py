"""The `edgelab fault` commands, through Typer's CliRunner, without a store: listing the catalogue, and
refusing what cannot work (a malformed store id, a store that is not up, a clear that names nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelab.cli import app
from edgelab.kube import faults
from edgelab_operator import catalogue as cat

runner = CliRunner()


def one_line(text: str) -> str:
    """Rich wraps long lines at the console width; the message is one logical line."""
    return " ".join(text.split())


pytestmark = pytest.mark.usefixtures("private_state")  # tests/unit/conftest.py


def test_fault_list_names_every_type() -> None:
    result = runner.invoke(app, ["fault", "list"])
    assert result.exit_code == 0, result.output
    for name in cat.load().types:
        assert name in result.stdout, name


def test_fault_list_json_has_one_entry_per_type() -> None:
    result = runner.invoke(app, ["fault", "list", "--json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    types = cat.load().types
    assert isinstance(entries, list)
    assert [e["type"] for e in entries] == list(types)
    for e in entries:
        ft = types[e["type"]]
        assert e["targets"] == list(ft.targets)
        assert e["symptom_seconds"] == ft.symptom_seconds and isinstance(e["symptom_seconds"], int)
        assert {"course", "summary", "symptom"} <= e.keys()


def test_fault_inject_refuses_a_malformed_store_id(private_state: Path) -> None:
    result = runner.invoke(app, ["fault", "inject", "crash-on-start", "--store", "abc"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "store id 'abc'" in lines[0]
    assert "Traceback" not in result.output
    assert not any(private_state.iterdir()), "a malformed store id created state"


def test_fault_clear_needs_a_name_or_all() -> None:
    result = runner.invoke(app, ["fault", "clear", "--store", "4523"])
    assert result.exit_code == 2, result.output
    assert "--all" in result.stderr


def test_fault_clear_refuses_a_name_and_all_together() -> None:
    result = runner.invoke(app, ["fault", "clear", "--store", "4523", "crash-on-start-1a2b", "--all"])
    assert result.exit_code == 2, result.output


def test_fault_status_of_a_store_that_is_not_up(private_state: Path) -> None:
    result = runner.invoke(app, ["fault", "status", "--store", "7777"])
    assert result.exit_code == 1, result.output
    message = one_line(result.stderr)
    assert message.startswith("error:")
    assert "is the store up?" in message
    assert "edgelab up --store" in message
    kubeconfig = private_state / "edgelab" / "stores" / "7777" / "admin.kubeconfig"
    assert str(kubeconfig) in "".join(result.stderr.split()), "the error does not say where it looked"
    assert "Traceback" not in result.output
    assert not (private_state / "edgelab").exists(), "asking about a store created state"


def test_fault_inject_into_a_store_that_is_not_up() -> None:
    result = runner.invoke(app, ["fault", "inject", "crash-on-start", "--store", "7777"])
    assert result.exit_code == 1, result.output
    assert "is the store up?" in one_line(result.stderr)


def test_parse_params() -> None:
    assert faults.parse_params(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    assert faults.parse_params(["empty="]) == {"empty": ""}
    assert faults.parse_params([]) == {}


@pytest.mark.parametrize("pair", ["nokey", "=value"])
def test_parse_params_refuses_a_pair_without_name_and_value(pair: str) -> None:
    with pytest.raises(faults.FaultError) as e:
        faults.parse_params([pair])
    assert pair in str(e.value) and "name=value" in str(e.value)


def test_fault_info_of_a_fresh_and_an_active_fault() -> None:
    fresh = {"metadata": {"name": "cpu-hog-1a2b"}, "spec": {"type": "cpu-hog", "target": "pos/pos-backend"}}
    info = faults.FaultInfo.of(fresh)
    assert (info.name, info.type, info.target, info.phase, info.message, info.created) == (
        "cpu-hog-1a2b", "cpu-hog", "pos/pos-backend", "Pending", "", "")
    active = {"metadata": {"name": "x", "creationTimestamp": "2025-01-01T10:00:00Z"}, "spec": {"type": "cpu-hog"},
              "status": {"phase": "Active", "target": "payment/payment-processor", "message": "each pod at its limit"}}
    info = faults.FaultInfo.of(active)
    assert (info.target, info.phase, info.message, info.created) == (
        "payment/payment-processor", "Active", "each pod at its limit", "2025-01-01T10:00:00Z")


def test_fault_clear_force_needs_a_name() -> None:
    result = runner.invoke(app, ["fault", "clear", "--store", "4523", "--all", "--force"])
    assert result.exit_code == 2, result.output
    assert "--force needs a name" in result.stderr


def test_fault_info_carries_each_record_and_condition_without_snapshots() -> None:
    obj = {"metadata": {"name": "dead-box"}, "spec": {"type": "node-failure"},
           "status": {"phase": "Stuck", "target": "pos/pos-backend",
                      "records": [{"kind": "Node", "namespace": "", "name": "s-worker", "changes": [0],
                                   "phase": "NotRecovered", "message": "node s-worker is still NotReady"},
                                  {"kind": "ConfigMap", "namespace": "pos", "name": "pos-config", "changes": [1],
                                   "snapshot": "{\"data\": {}}", "phase": "Recovered", "message": ""}],
                      "conditions": [{"type": "AllRecovered", "status": "False", "reason": "TimedOut",
                                      "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    info = faults.FaultInfo.of(obj)
    assert info.records == (
        {"kind": "Node", "namespace": "", "name": "s-worker", "phase": "NotRecovered",
         "message": "node s-worker is still NotReady"},
        {"kind": "ConfigMap", "namespace": "pos", "name": "pos-config", "phase": "Recovered", "message": ""})
    assert info.conditions == ({"type": "AllRecovered", "status": "False", "reason": "TimedOut", "message": "m"},)
