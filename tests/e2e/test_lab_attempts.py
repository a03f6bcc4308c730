"""Every lab on a real store, played through as an attempt: `lab start` breaks the
store, a reference investigation runs the rubric's own kubectl commands with the
learner's kubeconfig (so the audit log holds real learner requests), the evidence
is quoted from what those commands printed, the fix (where asked) is made as the
learner, and the submission scores 100%. On the same recorded requests, a wrong
root cause, a missing key step and another attempt's answer each score less.
Plus: the shortcuts the admission policy refuses, with its reason.

Each attempt is also its fault's test (plays.py): the pair it injects shows the fault type's symptom
through the API (symptoms.py), and once the attempt is submitted every object of the store equals the
picture taken when the store was made, so the fault was reverted exactly and the store goes to the next
attempt as it came. The attempts run on two stores side by side: a 3-node one (the node failure, half the
plays) and a 1-node one (the other half, the CLI's own grading).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plays
import prepared
import pytest
import storestate
import symptoms
from kubernetes import client, config
from waiting import Unmet, wait_for

from edgelab.kube import audit
from edgelab.labs import attempts, evidence, grading, labcheck, session, vocab
from edgelab.labs import catalogue as labs
from edgelab.machine.record import Artifacts
from edgelab.store import layout
from edgelab.store import stores as storelib

LABS = plays.LABS
_POD = re.compile(r"<([a-z0-9-]+) pod>")


@dataclass
class Lab:
    store: str
    artifacts: Artifacts
    core: client.CoreV1Api
    learner: Path
    healthy: evidence.Emitted  # what the healthy store logs and its events over a quiet minute
    baseline: dict[str, dict[str, Any]]  # every object of the store as made (storestate.py)
    probes: symptoms.Store

    def kubectl(self, command: str) -> tuple[int, str]:
        args = shlex.split(command)
        assert args[0] == "kubectl", command
        proc = storelib.cluster.Kubectl(self.artifacts.kubectl, self.learner)(*args[1:], check=False, timeout=60)
        return proc.returncode, proc.stdout + proc.stderr


def _lab(store: str) -> Iterator[Lab]:
    api = config.new_client_from_config(str(storelib.paths(store).admin_kubeconfig))
    session.stop(store)  # the store as every attempt starts from it: reset to its manifests, healthy
    baseline = storestate.take(api)
    quiet = datetime.now(UTC)
    time.sleep(HEALTHY_WINDOW)
    healthy = evidence.collect(api, quiet, storelib.NAMESPACES)
    yield Lab(store, prepared.artifacts(), client.CoreV1Api(api), storelib.paths(store).learner_kubeconfig, healthy,
              baseline, symptoms.Store.of(store))
    session.stop(store)


@pytest.fixture(scope="module")
def lab_store(lab_store3: str) -> Iterator[Lab]:
    """The 3-node lab store (conftest's `lab_store3`)."""
    yield from _lab(lab_store3)


@pytest.fixture(scope="module")
def small_lab_store(lab_store1: str) -> Iterator[Lab]:
    """The 1-node lab store (conftest's `lab_store1`), beside the 3-node one."""
    yield from _lab(lab_store1)


def pod_for(s: Lab, namespace: str, workload: str, previous: bool) -> str:
    """The pod a learner would pick: one that restarted (for --previous), else an unready one, else any."""
    pods = [p for p in s.core.list_namespaced_pod(namespace, label_selector=f"app={workload}").items
            if p.metadata.deletion_timestamp is None]
    if not pods:
        return f"{workload}-none"

    def rank(p: Any) -> tuple[int, int]:
        statuses = p.status.container_statuses or []
        restarts = sum(c.restart_count for c in statuses)
        ready = all(c.ready for c in statuses) and bool(statuses)
        return (-restarts if previous else 0, 1 if ready else 0)

    return sorted(pods, key=rank)[0].metadata.name


def concrete(s: Lab, command: str) -> str:
    ns = re.search(r"-n (\S+)", command)
    return _POD.sub(lambda m: pod_for(s, ns.group(1) if ns else "default", m.group(1), "--previous" in command), command)


def investigate(s: Lab, lab: labs.Lab, attempt: attempts.Attempt, timeout: float) -> str:
    """Run the rubric's commands as the learner, in order, until one output shows the evidence; return that line.

    The line must be one the store emitted during the attempt (as `lab submit` checks): `kubectl logs` also
    shows what a pod logged before the lab began (its start, an earlier lab), which is not this incident.
    """
    exp = grading.expected(lab, attempt)
    api = config.new_client_from_config(str(storelib.paths(s.store).admin_kubeconfig))

    def shown() -> str | Unmet:
        seen = ""
        for step in exp["rubric"]:
            _, output = s.kubectl(concrete(s, step["command"]))
            seen = output
            emitted = evidence.collect(api, attempt.output_since, storelib.NAMESPACES, attempt.started_at)
            for line in output.splitlines():
                if grading.evidence_matches([line], lab, attempt, emitted):
                    # the rest of the rubric once more, so every step is met after the evidence
                    for rest in exp["rubric"]:
                        s.kubectl(concrete(s, rest["command"]))
                    return line.strip()
        return Unmet(f"no output of the rubric's commands showed {exp['findings']['evidence']}; "
                     f"last output: {seen[-800:]}")

    return wait_for(shown, timeout=timeout, interval=3, what=f"{lab.id}: the evidence")


def answer_for(exp: dict[str, Any], quote: str) -> grading.Answer:
    f = exp["findings"]
    return grading.Answer(f["namespace"], f["workload"], f["pod_state"][0], f["root_cause"][0], (quote,),
                          f.get("node"))


HEALTHY_WINDOW = 45  # seconds of a settled store's output, the lines that must never count as evidence

# What names the cause, per fault type, said independently of the catalogue's patterns: an ERROR/WARN log line
# or a Warning event of the attempt that contains one of these (filled for the drawn target) must count as
# evidence. `{fact}` are the attempt's values.
CAUSE_WORDS: dict[str, tuple[str, ...]] = {
    "crash-on-start": ("log_level",),
    "missing-configmap": ('"{config}" not found',),
    "missing-config-key": ("'{required_key}'",),
    "missing-secret": ("'{secret_key}'",),
    "dependency-down": ("{service}.{namespace}",),
    "all-pods-down": ("{service}.{namespace}",),
    "memory-limit-low": ("OOMKilled",),
    "memory-leak": ("OOMKilled", "0 evicted"),
    "cpu-hog": ("recalculated", "recompiled"),
    "cpu-limit-low": (),
    "image-tag-typo": ("{image}1",),
    "registry-unreachable": ("registry.byteedge.internal",),
    "pull-credentials-missing": ("byteedge-registry", "registry.byteedge.internal"),
    "selector-mismatch": ("{service}.{namespace}",),
    "network-policy": ("{service}.{namespace}",),
    "impossible-requests": ("Insufficient cpu",),
    "node-selector-mismatch": ("node affinity/selector",),
    "node-failure": ("{node} ",),
    "bad-rollout": ("{moved_dependency}",),
    "bad-config-value": ("svc.cluster.local:8080",),
    "db-pool-exhausted": ("for a connection", "database connection"),
}


def cause_lines(lab: labs.Lab, attempt: attempts.Attempt, emitted: evidence.Emitted) -> list[evidence.Seen]:
    """The attempt's ERROR/WARN lines and Warning events that name the cause (by CAUSE_WORDS)."""
    words = [vocab.fill(w, attempt.values).lower() for w in CAUSE_WORDS[attempts.fault_types(lab, attempt)[0]]]
    return [line for line in emitted.lines if line.warning and any(w in line.text.lower() for w in words)]


def record(lab: labs.Lab, attempt: attempts.Attempt, emitted: evidence.Emitted, healthy: evidence.Emitted) -> None:
    """EDGELAB_RECORD_EVIDENCE=DIR: keep the attempt's warning lines (for the unit tests' recorded lines)."""
    folder = os.environ.get("EDGELAB_RECORD_EVIDENCE")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    rows = [{"kind": x.kind, "workload": x.workload, "source": x.source, "text": x.text, "cause": x in causes}
            for causes in [cause_lines(lab, attempt, emitted)] for x in emitted.lines if x.warning]
    (Path(folder) / f"{lab.id}.json").write_text(json.dumps({
        "lab": lab.id, "type": attempts.fault_types(lab, attempt)[0], "target": attempt.targets[0],
        "values": dict(attempt.values),
        "lines": rows, "healthy": [x.text for x in healthy.lines]}, indent=1))


def symptom_budget(lab: labs.Lab) -> float:
    from edgelab_operator import catalogue

    cat = catalogue.load()
    return max(cat.get(kind).symptom_seconds for kinds in attempts.allowed_types(lab) for kind in kinds) + 60


# the node failure needs a second node; the rest alternate between the stores
ON_THREE = [p for i, p in enumerate(plays.PLAYS) if LABS[p.lab].min_nodes > 1 or i % 2]
ON_ONE = [p for p in plays.PLAYS if p not in ON_THREE]


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.parametrize("p", ON_THREE, ids=[p.id for p in ON_THREE])
def test_lab_attempt_on_three_nodes(lab_store: Lab, p: plays.Play) -> None:
    """Full marks for the reference attempt, less for each shortcut; the fault's symptom and exact revert."""
    play(lab_store, p)


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.parametrize("p", ON_ONE, ids=[p.id for p in ON_ONE])
def test_lab_attempt_on_one_node(small_lab_store: Lab, p: plays.Play) -> None:
    """As on three nodes: the course's store is 1-3 boxes, and every lab but the node failure fits one."""
    play(small_lab_store, p)


def play(s: Lab, p: plays.Play) -> None:
    """One reference attempt at `p` (its target and cause given), the fault's symptom, the shortcuts that must
    score less, the submission, and the store back as it was made."""
    lab_id = p.lab
    s.probes.mark()
    lab, run = session.start(s.store, lab_id, targets=[p.target], types=[p.fault_type])
    attempt = run.attempt
    assert (attempts.fault_types(lab, attempt)[0], attempt.targets[0]) == (p.fault_type, p.target), attempt
    exp = grading.expected(lab, attempt)
    quote = investigate(s, lab, attempt, symptom_budget(lab))
    # the fault test of this pair: its symptom through the API (as the course describes it)
    ft = plays.CATALOGUE.get(p.fault_type)
    probe = symptoms.probe(p.fault_type, p.target, ft.default_target)
    if probe is not None:
        wait_for(lambda: probe(s.probes), timeout=symptom_budget(lab), interval=1,
                 what=f"{p.fault_type} on {p.target}: {ft.symptom}")
    if p.fault_type == "node-failure":  # and as the learner lists the nodes
        code, out = s.kubectl("kubectl get nodes --no-headers")
        assert code == 0 and any(line.split()[1].startswith("NotReady") for line in out.splitlines()), out
    fixes = dict.fromkeys(vocab.fill(g.command, attempt.values) for g in (lab.remediation.goals if lab.remediation else []))
    for command in fixes:  # each fix once: a second `rollout undo` would undo the first
        code, out = s.kubectl(command)
        assert code == 0, f"{command}: {out}"
    answer = answer_for(exp, quote)

    api = config.new_client_from_config(str(storelib.paths(s.store).admin_kubeconfig))
    node = layout.control_plane(s.store)
    if os.environ.get("EDGELAB_RECORD_EVIDENCE"):  # recording: let the symptom run its course, for more real lines
        time.sleep(symptom_budget(lab) - 60)
    emitted = evidence.collect(api, attempt.output_since, storelib.NAMESPACES, attempt.started_at)
    record(lab, attempt, emitted, s.healthy)

    # fair evidence: every ERROR/WARN line and Warning event of the attempt that names the cause counts...
    symptom = grading.symptom(lab, attempt)
    refused = [f"{x.source}: {x.text!r}: {v.why}" for x in cause_lines(lab, attempt, emitted)
               if not (v := evidence.judge(x.text, symptom, emitted)).counts]
    assert not refused, "real lines naming the cause that do not count:\n" + "\n".join(refused)
    # ...and never accidental: no line of a healthy store (every log line and event of a quiet minute) counts,
    # nor the attempt's lines for another target
    healthy = [x.text for x in s.healthy.lines if evidence.judge(x.text, symptom, None).counts]
    assert not healthy, f"a healthy store's lines count as evidence: {healthy}"
    for other in [t for t in attempts.allowed_targets(lab)[0] if t != attempt.targets[0]]:
        elsewhere = grading.symptom(lab, attempts.draw(lab, targets=[other, *attempt.targets[1:]], store=s.store,
                                                       types=attempts.fault_types(lab, attempt)))
        wrong = [x.text for x in emitted.lines if x.warning and evidence.judge(x.text, elsewhere, emitted).counts]
        assert not wrong, f"lines of this attempt count for another target {other}: {wrong}"
    assert evidence.judge(quote, symptom, emitted).counts, f"the reference quote {quote!r} is not confirmed"

    trail = audit.read_node_events(storelib.provider_for(s.store), node, since=attempt.started_at)  # the attempt's audit trail, read once

    def graded(ans: grading.Answer, events: list[dict[str, Any]] | None = None) -> grading.Result:
        return grading.grade(lab, attempt, trail if events is None else events, ans, session.remediation_state(api),
                             emitted=emitted)

    if lab.remediation:  # the fix takes a rollout: wait until the store shows it
        def fixed() -> bool | Unmet:
            r = graded(answer)
            return True if r.score == 100 else Unmet(r.explain())

        wait_for(fixed, timeout=180, interval=3, what=f"{lab_id}: the fix to show in the store")
    reference = graded(answer)
    assert reference.score == 100, reference.explain()

    # a wrong root cause
    wrong = next(c for c in vocab.ROOT_CAUSES if c not in exp["findings"]["root_cause"])
    result = graded(replace(answer, root_cause=wrong))
    assert result.score < 100 and not result.passed, result.explain()
    assert any(line.item == "root_cause" and not line.ok for line in result.lines), result.explain()

    # a key step skipped: drop the requests that met the rubric's first step
    first = lab.rubric[0]
    match = grading.matcher(first, grading.step_values(first, attempt.values))
    events = [e for e in trail
              if not any(match(r) for r in grading.requests([e], attempt.user, attempt.started_at))]
    result = graded(answer, events)
    assert result.score < 100, result.explain()
    assert exp["rubric"][0]["command"] in result.feedback(), result.feedback()

    # another attempt's answer (a different drawn target or cause), where the lab draws one
    others = [attempts.draw(lab, targets=[t, *attempt.targets[1:]], types=attempts.fault_types(lab, attempt),
                            store=s.store) for t in attempts.allowed_targets(lab)[0] if t != attempt.targets[0]]
    others += [attempts.draw(lab, targets=list(attempt.targets), types=[k, *attempts.fault_types(lab, attempt)[1:]],
                             store=s.store)
               for k in attempts.allowed_types(lab)[0] if k != attempts.fault_types(lab, attempt)[0]]
    for other in others[:2]:
        result = graded(answer_for(grading.expected(lab, other), quote))
        assert not result.passed and result.score < reference.score, result.explain()

    # the real submission: graded, recorded, store restored
    final = session.submit(s.store, answer, learner="e2e", db=storelib.state_dir(s.store) / "progress.db")
    assert final.score == 100 and final.passed, final.explain()
    assert final.debrief is not None, final  # what happened, in words (node included where the lab has one)
    assert final.debrief.findings[0].workload == f"deployment/{attempt.workload}", final.debrief.render()
    assert "not recorded" not in final.debrief.render(), final.debrief.render()
    assert session.running(s.store) is None

    # the fault reverted exactly: every object as the store was made (the tests' own picture, not the
    # operator's records), and the store healthy for the next attempt
    assert storestate.changed(s.baseline, storestate.take(api)) == [], \
        f"{p.fault_type} on {p.target}: the store is not as it was made"
    if p.fault_type == "node-failure":
        wait_for(lambda: symptoms.nodes_back(s.probes), timeout=240, interval=2, what="every node Ready, untainted")
    storelib.wait_healthy(s.store)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_shortcuts_are_refused_with_the_reason(lab_store: Lab) -> None:
    s = lab_store
    session.stop(s.store)
    pod = pod_for(s, "pos", "pos-backend", previous=False)
    code, out = s.kubectl(f"kubectl label pod {pod} -n pos app=pos-backend-api --overwrite")
    assert code != 0 and "hides the problem" in out, out
    code, out = s.kubectl("kubectl delete deployment pos-backend -n pos")
    assert code != 0 and "hides the outage" in out, out
    assert s.core.read_namespaced_pod(pod, "pos").metadata.labels["app"] == "pos-backend"


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_the_cli_grades_passes_and_failures_with_reports(small_lab_store: Lab, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`lab start` / `lab hint` / `lab submit [--findings] --json --junit` / `progress`: exit 0 only on a pass.

    The passing attempt takes one hint (its cost comes off the score) and submits a file;
    the failing one answers the interactive prompts, a mistyped root cause asked again.
    """
    import json
    import xml.etree.ElementTree as ET

    import yaml
    from typer.testing import CliRunner

    from edgelab.cli import app

    s, runner = small_lab_store, CliRunner()
    monkeypatch.setenv("EDGELAB_PROGRESS_DB", str(tmp_path / "progress.sqlite"))  # not the machine's own
    learner = f"cli-e2e-{secrets.token_hex(3)}"
    outcomes = []
    for right in (True, False):
        started = runner.invoke(app, ["lab", "start", "pos-down-4523", "--store", s.store, "--json"])
        assert started.exit_code == 0, started.output
        ticket = json.loads(started.stdout)["ticket"]
        assert "POS is down" in ticket and not labcheck.ticket_spoilers(ticket)
        run = session.running(s.store)
        assert run is not None
        lab = LABS["pos-down-4523"]
        exp = grading.expected(lab, run.attempt)
        quote = investigate(s, lab, run.attempt, symptom_budget(lab))
        f = exp["findings"]
        report = tmp_path / f"junit-{right}.xml"
        args = ["lab", "submit", "--store", s.store, "--json", "--junit", str(report), "--learner", learner]
        if right:
            hinted = runner.invoke(app, ["lab", "hint", "--store", s.store])
            assert hinted.exit_code == 0 and hinted.stdout.startswith("hint 1/"), hinted.output
            path = tmp_path / "findings.yaml"
            path.write_text(yaml.safe_dump({"namespace": f["namespace"], "workload": f["workload"],
                                            "pod_state": f["pod_state"][0], "root_cause": f["root_cause"][0],
                                            "evidence": [quote]}))
            submitted = runner.invoke(app, [*args, "--findings", str(path)])
        else:
            typed = [f["namespace"], f["workload"], f["pod_state"][0], "gremlins", "typo in image tag", quote, "", ""]
            submitted = runner.invoke(app, args, input="\n".join(typed) + "\n")
            assert "'gremlins' is not one of" in submitted.stderr, submitted.output
        assert submitted.exit_code == (0 if right else 1), submitted.output
        result = json.loads(submitted.stdout.splitlines()[-1])  # after CliRunner's echo of the typed lines
        assert result["passed"] is right, result
        assert result["debrief"]["findings"][0]["workload"] == f"deployment/{f['workload']}", result["debrief"]
        if right:
            assert result["score"] == 100 - lab.hint_cost and result["hints_shown"] == 1, result
        else:
            assert result["score"] < 100, result
            cause = next(x for x in result["lines"] if x["item"] == "root_cause")
            assert not cause["ok"] and "image-typo" in cause["got"], cause
        case = ET.parse(report).getroot().find(".//testcase")
        assert case is not None and case.get("name") == "pos-down-4523"
        failure = case.find("failure")
        assert (failure is None) is right
        if not right:
            assert "root" in (failure.text or "") + (failure.get("message") or "")  # type: ignore[union-attr]
        outcomes.append(result["score"])
    shown = runner.invoke(app, ["progress", "--learner", learner, "--json"])
    (row,) = json.loads(shown.stdout)
    assert row["attempts"] == 2 and row["best_score"] == 100 - LABS["pos-down-4523"].hint_cost
    assert row["passed"] and row["pass_rate"] == 50
    assert (tmp_path / "progress.sqlite").is_file()

    # reset (a new draw on a reset store) and stop, as a script would drive them
    started = runner.invoke(app, ["lab", "start", "pos-down-4523", "--store", s.store, "--json"])
    assert started.exit_code == 0, started.output
    reset = runner.invoke(app, ["lab", "reset", "--store", s.store, "--json"])
    assert reset.exit_code == 0, reset.output
    again = json.loads(reset.stdout)
    assert again["lab"] == "pos-down-4523" and again["started_at"] > json.loads(started.stdout)["started_at"]
    stopped = runner.invoke(app, ["lab", "stop", "--store", s.store, "--json"])
    assert stopped.exit_code == 0 and json.loads(stopped.stdout)["stopped"] == "pos-down-4523", stopped.output
    assert session.running(s.store) is None and storelib.status(s.store).healthy
