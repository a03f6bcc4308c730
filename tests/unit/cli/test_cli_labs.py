"""The `lab` and `progress` commands without a cluster: listing, showing, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelab.cli import app
from edgelab.cli import lab as lab_cli
from edgelab.labs import attempts, progress, vocab
from edgelab.labs import catalogue as labs
from edgelab.machine import prepare, record

runner = CliRunner()


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path


def test_lab_list_names_every_lab() -> None:
    result = runner.invoke(app, ["lab", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["id"] for r in rows} == set(labs.load_all())
    assert all(r["title"] and r["level"] in ("beginner", "intermediate", "advanced") for r in rows)


def test_lab_show_prints_the_ticket_not_the_answer() -> None:
    result = runner.invoke(app, ["lab", "show", "pos-down-4523", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "POS is down at Store #4523" in shown["ticket"] and "{" not in shown["ticket"]
    assert shown["objectives"] == attempts.objectives(labs.get("pos-down-4523"))
    assert "findings" not in shown and "rubric" not in shown and "faults" not in shown


def test_unknown_lab_is_one_clear_line() -> None:
    result = runner.invoke(app, ["lab", "show", "no-such-lab"])
    assert result.exit_code == 1
    assert "unknown lab 'no-such-lab'" in result.output and "lab list" in result.output


def test_lab_show_names_the_store_asked_for() -> None:
    result = runner.invoke(app, ["lab", "show", "pos-down-4523", "--store", "17"])
    assert result.exit_code == 0, result.output
    assert "POS is down at Store #17." in " ".join(result.stdout.split())


@pytest.mark.parametrize("args", [["lab", "start", "no-such-lab", "--store", "4523"],
                                  ["lab", "start", "pos-down-4523", "--store", "4523"],
                                  ["lab", "stop", "--store", "4523"]])
def test_lab_commands_check_lab_and_store_before_building(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A mistyped lab id or a store that is not up is said at once: no host set-up, no build first."""

    def no_build(**_: object) -> None:
        raise AssertionError("set up or read the set-up before checking the lab and the store")

    monkeypatch.setattr(prepare, "setup", no_build)
    monkeypatch.setattr(record, "current", no_build)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert ("unknown lab 'no-such-lab'" if "no-such-lab" in args else "store 4523 is not up") in result.output


def test_submit_without_a_running_lab_says_how_to_start_one() -> None:
    result = runner.invoke(app, ["lab", "submit", "--store", "4523", "--findings", "/nonexistent.yaml"])
    assert result.exit_code == 1
    assert "no lab is running on store 4523" in result.output and "lab start" in result.output


def test_progress_json_reads_the_database(state: Path) -> None:
    with progress.Progress() as p:
        p.record_attempt("alex", "slower-since-eleven", 70.0, False)
        p.record_attempt("alex", "slower-since-eleven", 100.0, True)
    result = runner.invoke(app, ["progress", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["learner"] == "alex" and row["attempts"] == 2 and row["best_score"] == 100.0 and row["passed"]


def test_lab_template_is_a_findings_file_that_parses_once_filled(tmp_path: Path) -> None:
    from edgelab.labs import grading

    result = runner.invoke(app, ["lab", "template"])
    assert result.exit_code == 0, result.output
    filled = (result.stdout.replace('namespace: ""', "namespace: pos").replace('workload: ""', "workload: pos-backend")
              .replace('pod_state: ""', "pod_state: CrashLoopBackOff")
              .replace('root_cause: ""', "root_cause: application-bug").replace('- ""', "- cannot start"))
    path = tmp_path / "findings.yaml"
    path.write_text(filled)
    answer = grading.parse_findings(path)
    assert (answer.namespace, answer.workload, answer.root_cause) == ("pos", "pos-backend", "application-bug")
    path.write_text(result.stdout)  # unfilled: refused, naming the empty fields
    with pytest.raises(grading.FindingsError):
        grading.parse_findings(path)


def test_progress_is_a_table_and_its_database_can_be_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "ci" / "progress.sqlite"
    monkeypatch.setenv("EDGELAB_PROGRESS_DB", str(own))
    assert progress.default_path() == own
    with progress.Progress() as p:
        p.record_attempt("sam", "pos-down-4523", 60.0, False)
        p.record_attempt("sam", "pos-down-4523", 95.0, True)
    result = runner.invoke(app, ["progress"])
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["learner", "lab", "attempts", "best", "score", "pass", "rate", "passed"]
    assert row.split() == ["sam", "pos-down-4523", "2", "95%", "50%", "yes"]
    monkeypatch.delenv("EDGELAB_PROGRESS_DB")
    assert runner.invoke(app, ["progress"]).stdout.strip() == "no attempts yet"  # the default one is untouched


def test_lab_causes_lists_the_vocabulary() -> None:
    result = runner.invoke(app, ["lab", "causes"])
    assert result.exit_code == 0
    for cause in vocab.ROOT_CAUSES:
        assert cause in result.stdout


def test_a_malformed_findings_file_costs_no_attempt(state: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from edgelab.labs import session

    lab = labs.load_all()["slower-since-eleven"]
    attempt = attempts.draw(lab, store="4523", started_at=datetime.now(UTC))
    run = session.Running(lab.id, attempt, ["bad-rollout-0000"])
    session.state_file("4523").parent.mkdir(parents=True)
    session.state_file("4523").write_text(json.dumps(run.to_dict()))
    bad = tmp_path / "findings.yaml"
    bad.write_text("namespace: pos\nworkload: [pos-backend\n")
    result = runner.invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(bad)])
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # rich wraps long lines
    assert "not valid YAML" in said and "did not count as an attempt" in said
    assert session.running("4523") == run  # still running, nothing recorded
    with progress.Progress() as p:
        assert p.summary() == []


def _running(lab_id: str) -> object:
    from datetime import UTC, datetime

    from edgelab.labs import session

    lab = labs.load_all()[lab_id]
    run = session.Running(lab.id, attempts.draw(lab, store="4523", started_at=datetime.now(UTC)), ["f-0000"])
    session.state_file("4523").parent.mkdir(parents=True, exist_ok=True)
    session.state_file("4523").write_text(json.dumps(run.to_dict()))
    return run


def test_hints_come_in_order_and_say_what_they_cost(state: Path) -> None:
    from edgelab.labs import session

    _running("slower-since-eleven")
    lab = labs.load_all()["slower-since-eleven"]
    shown = [runner.invoke(app, ["lab", "hint", "--store", "4523"]) for _ in range(len(lab.hints) + 1)]
    assert all(r.exit_code == 0 for r in shown), [r.output for r in shown]
    assert [r.stdout.split(":")[0] for r in shown] == [f"hint {min(i, len(lab.hints))}/{len(lab.hints)}"
                                                       for i in range(1, len(lab.hints) + 2)]
    assert lab.hints[0] in shown[0].stdout and lab.hints[-1] in shown[-1].stdout
    assert f"cost {lab.hint_cost:g}% of the score" in shown[0].stderr
    assert f"cost {len(lab.hints) * lab.hint_cost:g}%" in shown[-1].stderr  # the last again: no further cost
    run = session.running("4523")
    assert run is not None and run.hints_shown == len(lab.hints)


def test_findings_prompts_ask_again_until_the_answer_is_in_the_vocabulary() -> None:
    """`lab submit` without --findings: what the prompts collect is a findings file's content."""
    import typer

    from edgelab.labs import grading

    prompt_app = typer.Typer()

    @prompt_app.command()
    def ask() -> None:
        print("---\n" + lab_cli.prompt_findings())  # CliRunner echoes the typed input to stdout first

    typed = ["payment", "payment-processor-7d9f8-x2x4q", "sleeping", "crash loop", "gremlins", "missing secret",
             "ERROR config: required secret 'api_key' missing", "Back-off restarting failed container", "", ""]
    result = runner.invoke(prompt_app, [], input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    assert "'sleeping' is not one of" in result.stderr and "'gremlins' is not one of" in result.stderr
    answer = grading.parse_findings(result.stdout.split("---\n", 1)[1])
    assert (answer.namespace, answer.workload) == ("payment", "payment-processor-7d9f8-x2x4q")
    assert (answer.pod_state, answer.root_cause, answer.node) == ("CrashLoopBackOff", "missing-secret", None)
    assert answer.evidence == ("ERROR config: required secret 'api_key' missing", "Back-off restarting failed container")


def test_hint_and_causes_speak_json(state: Path) -> None:
    _running("slower-since-eleven")
    lab = labs.load_all()["slower-since-eleven"]
    shown = runner.invoke(app, ["lab", "hint", "--store", "4523", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {"hint": lab.hints[0], "number": 1, "of": len(lab.hints),
                                        "cost_each": lab.hint_cost, "cost_so_far": lab.hint_cost}
    causes = runner.invoke(app, ["lab", "causes", "--json"])
    assert causes.exit_code == 0 and set(json.loads(causes.stdout)) == set(vocab.ROOT_CAUSES)


def test_submit_to_a_store_that_does_not_answer_keeps_the_lab(tmp_path: Path) -> None:
    """Its API server gone (Docker stopped, say): one line saying how to bring it back; nothing graded or lost."""
    import socket

    import yaml

    from edgelab.labs import session
    from edgelab.store import stores as storelib

    run = _running("pos-down-4523")
    with socket.socket() as s:  # a local port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = storelib.paths("4523").admin_kubeconfig
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    findings = tmp_path / "findings.yaml"
    findings.write_text(yaml.safe_dump({"namespace": "payment", "workload": "payment-processor", "pod_state": "NoPods",
                                        "root_cause": "dependency-down", "evidence": ["unreachable"]}))
    result = runner.invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(findings)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "store 4523 does not answer" in said and "edgelab up --store 4523" in said, said
    assert session.running("4523") == run
    with progress.Progress() as p:
        assert p.summary() == []
