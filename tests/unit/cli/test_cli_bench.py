"""`edgelab bench` and `edgelab bench compare` without a cluster: the runner and the store's node count are fakes
(benchfake.py), everything else is the real command."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from benchfake import AGENT, FakeRunner, run_line, write_lines
from typer.testing import CliRunner

from edgelab.agents import bench as agentbench
from edgelab.base.errors import EdgelabError
from edgelab.cli import app, common

runner = CliRunner()
LABS = "pos-down-4523,froze-at-1620,payment-slow"


def error_exit() -> int:
    """The exit status the CLI gives every EdgelabError (`common.fail`)."""
    return common.fail(EdgelabError("probe")).exit_code


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRunner:
    fake = FakeRunner({"pos-down-4523": [(100.0, False), (60.0, True)], "payment-slow": [(90.0, False)] * 2})
    monkeypatch.setattr(agentbench, "default_runner", lambda: fake)
    monkeypatch.setattr(agentbench, "store_nodes", lambda store: 1)
    return fake


def test_bench_json_is_one_object_on_stdout(fake: FakeRunner, tmp_path: Path) -> None:
    out, report = tmp_path / "runs.jsonl", tmp_path / "bench.xml"
    result = runner.invoke(app, ["bench", "--agent", AGENT, "--store", "4523", "--labs", LABS, "--repeat", "2",
                                 "--time-limit", "5m", "--out", str(out), "--junit", str(report), "--json"],
                           env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # exactly one JSON object: nothing else on stdout
    assert summary["runs"] == str(out) and summary["agent"] == AGENT and summary["store"] == "4523"
    assert [(x["lab"], x["runs"], x["passed"], x["pass_at_1"], x["pass_at_k"], x["k"], x["skipped"])
            for x in summary["labs"]] == [("pos-down-4523", 2, 1, 0.5, 1.0, 2, None),
                                          ("froze-at-1620", 0, 0, None, None, 2, "needs 2 nodes; store 4523 has 1"),
                                          ("payment-slow", 2, 2, 1.0, 1.0, 2, None)]
    assert summary["overall"]["pass_at_1"] == 0.75 and summary["overall"]["timeouts"] == 1
    assert [c["time_limit"] for c in fake.calls] == [300.0] * 4
    assert len(out.read_text().splitlines()) == 5  # four runs, one skipped lab
    assert len(ET.parse(report).getroot().findall("testsuite/testcase")) == 4
    assert f"results: {out}" in result.stderr and "pos-down-4523#2" in result.stderr  # progress: stderr


def test_bench_table_per_lab_and_overall(fake: FakeRunner, tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    result = runner.invoke(app, ["bench", "--agent", AGENT, "-s", "4523", "--labs", LABS, "--repeat", "2",
                                 "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["lab"] == ["lab", "runs", "passed", "pass@1", "pass@2", "mean", "score", "agent", "s", "requests",
                           "timeouts"]
    assert rows["pos-down-4523"] == ["pos-down-4523", "2", "1", "0.50", "1.00", "80.0%", "315", "8.0", "1"]
    assert rows["payment-slow"] == ["payment-slow", "2", "2", "1.00", "1.00", "90.0%", "29", "9.0", "0"]
    assert " ".join(rows["froze-at-1620"]).endswith("skipped: needs 2 nodes; store 4523 has 1")
    assert rows["overall"][:10] == ["overall", "(2", "labs)", "4", "3", "0.75", "1.00", "85.0%", "172", "8.5"]
    assert f"results: {out}" in result.stdout


def test_bench_writes_its_file_here_by_default(fake: FakeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["bench", "--agent", AGENT, "--store", "4523", "--labs", "payment-slow", "--json"])
    assert result.exit_code == 0, result.output
    (made,) = tmp_path.glob("bench-*Z.jsonl")
    assert json.loads(result.stdout)["runs"] == made.name


@pytest.mark.parametrize(("args", "message"), [
    (["--labs", "pos-down-4523,nope"], "unknown lab(s) 'nope'; the labs are:"),
    (["--labs", ","], "--labs names no lab"),
    (["--repeat", "0"], "--repeat 0: each lab runs at least once"),
    (["--time-limit", "ten"], "--time-limit 'ten': give it like 90s, 10m or 1h"),
])
def test_bench_errors_are_one_plain_line(fake: FakeRunner, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["bench", "--agent", AGENT, "--store", "4523", "--out", str(tmp_path / "r.jsonl"),
                                 *args])
    assert result.exit_code == error_exit(), result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert fake.calls == [] and not (tmp_path / "r.jsonl").exists()


def test_bench_needs_agent_and_store_and_shows_help_without_arguments(fake: FakeRunner) -> None:
    result = runner.invoke(app, ["bench", "--store", "4523"])
    assert result.exit_code == error_exit() and "give the agent and the store" in result.output
    shown = runner.invoke(app, ["bench"], env={"COLUMNS": "200"})
    assert "Example: edgelab bench --agent" in shown.output and "compare" in shown.output


def test_bench_on_a_store_that_is_not_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real node count: no kubeconfig for the store, the store's own message."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(agentbench, "default_runner", lambda: pytest.fail("nothing may run"))
    result = runner.invoke(app, ["bench", "--agent", AGENT, "--store", "9876", "--labs", "payment-slow",
                                 "--out", str(tmp_path / "r.jsonl")])
    assert result.exit_code == error_exit(), result.output
    assert "store 9876 is not up" in result.output and not (tmp_path / "r.jsonl").exists()


def test_help_teaches_both_with_an_example(fake: FakeRunner) -> None:
    main = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"})
    assert main.exit_code == 0
    for text in ("--agent", "--store", "--labs", "--repeat", "--time-limit", "--mount", "--out", "--junit", "--json",
                 "Example: edgelab bench --agent", "edgelab bench compare A.jsonl B.jsonl"):
        assert text in main.output
    sub = runner.invoke(app, ["bench", "compare", "--help"], env={"COLUMNS": "200"})
    assert sub.exit_code == 0 and "Example: edgelab bench compare" in sub.output and fake.calls == []


def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = write_lines(tmp_path / "a.jsonl", [run_line("pos-down-4523", 1, 60.0, agent="agent-a"),
                                           run_line("amber-since-six", 1, 90.0, agent="agent-a")])
    b = write_lines(tmp_path / "b.jsonl", [run_line("pos-down-4523", 1, 100.0, agent="agent-b"),
                                           run_line("payment-slow", 1, 95.0, agent="agent-b")])
    return a, b


def test_compare_table_marks_labs_only_on_one_side(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    result = runner.invoke(app, ["bench", "compare", str(a), str(b)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"A: {a} (agent 'agent-a')" and lines[1] == f"B: {b} (agent 'agent-b')"
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.strip()}
    assert rows["pos-down-4523"] == ["pos-down-4523", "0.00", "1.00", "60.0%", "100.0%", "+40.0", "30", "30", "10.0",
                                     "10.0"]
    assert rows["amber-since-six"][:6] == ["amber-since-six", "1.00", "-", "90.0%", "-", "-"]
    assert " ".join(rows["amber-since-six"]).endswith("not in B")
    assert "not in A" in " ".join(rows["payment-slow"])
    assert rows["overall"][:4] == ["overall", "(1", "lab", "both"]


def test_compare_json(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    result = runner.invoke(app, ["bench", "compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    c = json.loads(result.stdout)
    assert c["a"]["agents"] == ["agent-a"] and c["overall"]["labs"] == ["pos-down-4523"]
    assert [(x["lab"], x["only"], x["delta_score"]) for x in c["labs"]] == [
        ("pos-down-4523", None, 40.0), ("amber-since-six", "a", None), ("payment-slow", "b", None)]


def test_compare_a_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    a, _ = two_files(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(a.read_text() + "{truncated\n")
    result = runner.invoke(app, ["bench", "compare", str(a), str(bad)], env={"COLUMNS": "300"})
    assert result.exit_code == error_exit()
    assert f"{bad}, line 3: not JSON" in " ".join(result.output.split())
