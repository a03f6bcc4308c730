"""The debrief after `lab submit` (harness/edgelab/labs/debrief.py): what happened, as a responder would write it.

Snapshots of the rendered text for three attempts are committed in tests/unit/snapshots/: a change to
the wording or layout fails here until the snapshot is updated on purpose
(`EDGELAB_UPDATE_SNAPSHOTS=1 pytest tests/unit/labs/test_debrief.py`, then read the diff).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from unitpaths import SNAPSHOTS

from edgelab.labs import attempts, debrief, grading, vocab
from edgelab.labs import catalogue as labs

LABS = labs.load_all()
START = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
WITNESS = ("2026-11-29T23:49:18.262Z ERROR health: payment at http://payment-service.payment.svc.cluster.local is "
           "unreachable: connection refused by payment-service.payment.svc.cluster.local:80; not ready")  # a real line
NODE_WITNESS = "Node store-4523-worker2 status is now: NodeNotReady"

# Regular-expression forms a lab's evidence uses; none may reach the learner's eyes.
REGEX_FORMS = [re.compile(p) for p in (
    r"\bre:",  # the lab's marker
    r"\\[sSdDwWb.]",  # \s \S \d \w \b \.
    r"\([^()]*\|[^()]*\)",  # (a|b)
    r"\[\^?\\",  # [\d.] [^\s]
    r"['\"]\?",  # '? an optional quote
    r"\{\d+(,\d*)?\}",  # {3,} {0,40}
    r"\w\?\s",  # s? an optional letter
)]


def attempt(lab_id: str, target: str | None = None, node: str | None = None) -> attempts.Attempt:
    lab = LABS[lab_id]
    a = attempts.draw(lab, targets=[target or attempts.allowed_targets(lab)[0][0]], started_at=START)
    return a.with_node(node) if node else a


CASES = {  # snapshot file -> (lab, target, node, witness)
    "pos-down-4523-order-service": ("pos-down-4523", "order/order-service", None, None),
    "pos-down-4523-payment-processor": ("pos-down-4523", "payment/payment-processor", None, WITNESS),
    "froze-at-1620": ("froze-at-1620", None, "store-4523-worker2", NODE_WITNESS),
}


@pytest.mark.parametrize("name", CASES)
def test_the_debrief_reads_as_its_snapshot(name: str) -> None:
    lab_id, target, node, witness = CASES[name]
    text = debrief.build(LABS[lab_id], attempt(lab_id, target, node), witness).render() + "\n"
    path = SNAPSHOTS / f"debrief-{name}.txt"
    if os.environ.get("EDGELAB_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"the debrief changed; if on purpose, update {path} (see this file's docstring)"


def test_the_drawn_target_and_node_are_in_the_debrief_and_nothing_else_is() -> None:
    a, b = (debrief.build(LABS["pos-down-4523"], attempt("pos-down-4523", t)).render()
            for t in ("payment/payment-processor", "order/order-service"))
    assert "deployment/payment-processor" in a and "order-service" not in a
    assert "deployment/order-service" in b and "payment-processor" not in b
    node = debrief.build(LABS["froze-at-1620"], attempt("froze-at-1620", node="store-4523-worker")).findings[0]
    assert node.node == "store-4523-worker" and node.command == "kubectl describe node store-4523-worker"
    assert debrief.build(LABS["pos-down-4523"], attempt("pos-down-4523")).findings[0].node is None


def test_an_unrecorded_node_says_so() -> None:
    text = debrief.build(LABS["froze-at-1620"], attempt("froze-at-1620")).render()
    assert "node:      not recorded for this attempt" in text


def test_without_a_line_it_says_none_was_collected_and_names_the_command() -> None:
    lab = LABS["no-order-completes"]
    for witness in (None, "", "  \n"):
        (finding,) = debrief.build(lab, attempt(lab.id), witness).findings
        assert finding.witness is None
        text = debrief.build(lab, attempt(lab.id), witness).render()
        assert "no line was collected from this attempt; the command below shows it" in text
        assert "command:   kubectl logs <payment-processor pod> -n payment --previous" in text
    (finding,) = debrief.build(lab, attempt(lab.id), f"  {WITNESS}\n").findings
    assert finding.witness == WITNESS


def all_attempts() -> list[tuple[str, attempts.Attempt]]:
    """Every lab with every target it may draw (a node where the lab has one)."""
    out = []
    for lab in LABS.values():
        for target in attempts.allowed_targets(lab)[0]:
            for kind in attempts.allowed_types(lab)[0]:
                a = attempts.draw(lab, targets=[target, *[t[0] for t in attempts.allowed_targets(lab)[1:]]],
                                  types=[kind, *[k[0] for k in attempts.allowed_types(lab)[1:]]], started_at=START)
                out.append((lab.id, a.with_node("store-4523-worker2") if "node" in a.values else a))
    return out


@pytest.mark.parametrize(("lab_id", "a"), all_attempts(), ids=lambda x: x if isinstance(x, str) else "/".join(x.targets))
def test_no_lab_shows_a_regular_expression_in_its_debrief(lab_id: str, a: attempts.Attempt) -> None:
    lab = LABS[lab_id]
    shown = debrief.build(lab, a, None)
    text = shown.render()
    for form in REGEX_FORMS:
        assert not form.search(text), f"{lab_id}: {form.pattern} in\n{text}"
    assert "{" not in text and "<node>" not in text, text  # every template filled
    (finding,) = shown.findings
    assert finding.namespace == a.namespace and finding.workload == f"deployment/{a.workload}"
    states, causes = attempts.accepted(lab, a)
    assert finding.root_cause == causes[0] and finding.root_cause in finding.cause
    assert finding.state == debrief.STATE_WORDS[states[0]]
    assert (finding.node is not None) == (lab.findings.node is not None)
    assert json.loads(json.dumps(shown.to_dict()))["findings"][0]["command"] == finding.command


def test_the_regex_check_catches_the_forms_labs_use() -> None:
    """Every evidence pattern an attempt is judged by (the catalogue's, filled), shown as `/.../`, is caught."""
    caught = 0
    for lab_id, a in all_attempts():
        for patterns in grading.symptom(LABS[lab_id], a).patterns.values():
            for p in patterns:
                if any(c in p.pattern for c in "\\?|(["):  # a plain phrase is not a regular expression
                    assert any(form.search(f"/{p.pattern}/") for form in REGEX_FORMS), f"{lab_id}: {p.pattern}"
                    caught += 1
    assert caught > 100


def test_every_state_and_cause_has_words() -> None:
    assert set(debrief.STATE_WORDS) == set(vocab.POD_STATES)
    assert set(debrief.CAUSE_WORDS) == set(vocab.ROOT_CAUSES)


def test_a_further_fault_gets_where_and_why() -> None:
    lab = LABS["pos-down-4523"].model_copy(update={"faults": [
        *LABS["pos-down-4523"].faults, labs.FaultRef(type="all-pods-down", targets=["pos/pos-backend"])]})
    a = attempts.draw(lab, targets=["order/order-service", "pos/pos-backend"], started_at=START)
    first, second = debrief.build(lab, a, WITNESS).findings
    assert first.workload == "deployment/order-service" and first.witness == WITNESS
    assert (second.namespace, second.workload, second.state, second.witness, second.command) == (
        "pos", "deployment/pos-backend", None, None, None)
    assert second.cause == attempts.fault_catalogue().get("all-pods-down").summary
    text = debrief.build(lab, a, WITNESS).render()
    assert " fault 1:" in text and " fault 2:" in text


# --- the CLI shows it, not the raw form ----------------------------------------------------------------------


@pytest.fixture
def submitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, grading.Result]:
    """A running pos-down-4523 attempt; session.submit graded without a cluster (no requests seen)."""
    from edgelab.labs import session

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    lab, a = LABS["pos-down-4523"], attempt("pos-down-4523", "payment/payment-processor")
    run = session.Running(lab.id, a, ["dependency-down-0000"])
    session.state_file("4523").parent.mkdir(parents=True)
    session.state_file("4523").write_text(json.dumps(run.to_dict()))
    findings = tmp_path / "findings.yaml"
    findings.write_text(yaml.safe_dump({"namespace": "payment", "workload": "payment-processor",
                                        "pod_state": "NoPods", "root_cause": "dependency-down",
                                        "evidence": ["something else entirely"]}))
    result = grading.grade(lab, a, [], grading.parse_findings(findings))
    result = replace(result, debrief=debrief.build(lab, a, WITNESS))
    monkeypatch.setattr(session, "submit", lambda *_, **__: result)
    return findings, result


def test_the_cli_prints_the_debrief_not_the_raw_json(submitted: tuple[Path, grading.Result]) -> None:
    from edgelab.cli import app

    findings, result = submitted
    shown = CliRunner().invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(findings)])
    assert shown.exit_code == 1, shown.output  # not passed: no investigation
    said = " ".join(shown.stdout.split())  # rich wraps long lines
    assert "expected for this attempt" not in said and '"root_cause": [' not in said
    assert result.debrief is not None
    assert " ".join(result.debrief.render().split()) in said
    assert WITNESS in said


def test_the_cli_json_keeps_the_raw_form_and_adds_the_debrief(submitted: tuple[Path, grading.Result]) -> None:
    from edgelab.cli import app

    findings, result = submitted
    shown = CliRunner().invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(findings), "--json"])
    assert shown.exit_code == 1, shown.output
    out = json.loads(shown.stdout)
    assert out["expected"]["findings"] == grading.expected(LABS["pos-down-4523"], attempt(
        "pos-down-4523", "payment/payment-processor"))["findings"]
    assert out["expected"]["findings"]["evidence"]["caller"]  # the raw patterns, by form, for tools
    assert result.debrief is not None and out["debrief"] == json.loads(json.dumps(result.debrief.to_dict()))
    assert out["debrief"]["findings"][0]["witness"] == WITNESS


def test_nothing_the_learner_reads_after_submit_is_a_regular_expression(
        submitted: tuple[Path, grading.Result]) -> None:
    from edgelab.cli import app

    findings, _ = submitted
    shown = CliRunner().invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(findings)])
    said = " ".join(shown.stdout.split())
    assert "evidence (0/15)" in said  # the miss whose expectation is shown
    for form in REGEX_FORMS:
        assert not form.search(said), f"{form.pattern} in\n{shown.stdout}"


def test_the_progress_line_of_submit_ends_before_the_debrief(submitted: tuple[Path, grading.Result],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`lab submit` says "restoring the store" while it clears the faults: a line of its own, never glued to output."""
    from edgelab.cli import app
    from edgelab.labs import session

    findings, result = submitted

    def submit(*_: object, say: Callable[[str], None], **__: object) -> grading.Result:
        say("restoring the store")
        return result

    monkeypatch.setattr(session, "submit", submit)
    shown = CliRunner().invoke(app, ["lab", "submit", "--store", "4523", "--findings", str(findings)])
    lines = shown.output.splitlines()
    assert [line.split("s ", 1)[1] for line in lines if "restoring the store" in line] == ["restoring the store"]
    assert result.debrief is not None
    assert result.debrief.render().splitlines()[-1].rstrip() in [line.rstrip() for line in lines]
