"""Lab definitions (labs/*.yaml, harness/edgelab/labs/catalogue.py): every shipped lab loads and covers the course,
its faults exist in the operator's catalogue, every template is answerable for every target, tickets give
nothing away, and malformed labs are refused with the file and the field named."""

from __future__ import annotations

import copy
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgelab.base.errors import EdgelabError
from edgelab.labs import attempts, grading, labcheck, vocab
from edgelab.labs import catalogue as labs
from edgelab_operator import catalogue as cat

CATALOGUE = cat.load()
LABS = labs.load_all()
START = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)

# The catalogue sentence: each entry is satisfied by a lab injecting one of these fault types.
COURSE = {
    "CrashLoopBackOff: application bug / bad release": {"crash-on-start"},
    "CrashLoopBackOff: missing ConfigMap key": {"missing-config-key"},
    "CrashLoopBackOff: missing Secret": {"missing-secret"},
    "CrashLoopBackOff: dependency (database) down": {"dependency-down"},
    "CrashLoopBackOff / High memory: out of memory": {"memory-limit-low", "memory-leak"},
    "ImagePullBackOff: image tag typo": {"image-tag-typo"},
    "ImagePullBackOff: registry unreachable or credentials": {"registry-unreachable", "pull-credentials-missing"},
    "Service unreachable: all pods down": {"all-pods-down"},
    "Service unreachable: selector mismatch": {"selector-mismatch"},
    "Service unreachable: network policy": {"network-policy"},
    "High CPU: infinite loop": {"cpu-hog"},
    "High memory: memory leak": {"memory-leak"},
    "High CPU/Memory: limits too low": {"memory-limit-low", "cpu-limit-low"},
    "Pending": {"impossible-requests", "node-selector-mismatch"},
    "Store hardware failure": {"node-failure"},
    "Bad rollout and rollback": {"bad-rollout"},
    "Configuration change": {"bad-config-value"},
}


def all_attempts() -> list[tuple[str, attempts.Attempt]]:
    """Every lab with every target it may draw."""
    out = []
    for lab in LABS.values():
        for target in attempts.allowed_targets(lab)[0]:
            attempt = attempts.draw(lab, targets=[target, *[t[0] for t in attempts.allowed_targets(lab)[1:]]], started_at=START)
            out.append((lab.id, attempt.with_node("store-4523-worker2") if "node" in attempt.values else attempt))
    return out


# --- the shipped labs -----------------------------------------------------------------------------------


def test_every_shipped_lab_loads_and_is_named_after_its_file() -> None:
    files = {p.stem for p in labs.LABS.glob("*.yaml") if not p.name.startswith("_")}
    assert set(LABS) == files
    assert len(LABS) >= 17


@pytest.mark.parametrize("entry", sorted(COURSE))
def test_the_catalogue_covers_the_course(entry: str) -> None:
    used = {f.type for lab in LABS.values() for f in lab.faults}
    assert COURSE[entry] & used, f"no lab practises {entry}"


def test_the_practice_scenarios_follow_the_course_flow() -> None:
    pos = LABS["pos-down-4523"]
    # 1. get pods -n pos, then 3. endpoints and 4. events, each only after 1 (order-aware)
    steps = {s.id: s for s in pos.rubric}
    assert pos.rubric[0].id == "pos-pods" and pos.rubric[0].with_ == {"namespace": "pos"}
    assert steps["pos-endpoints"].after == steps["pos-events"].after == "pos-pods"
    assert "POS is down at Store #" in pos.ticket
    pay = LABS["payment-slow"]
    assert [s.id for s in pay.rubric] == ["top-pods", "logs", "describe-pod", "deployment"]
    assert all(s.after == "top-pods" for s in pay.rubric[1:])
    assert pay.ticket.startswith("Payment processing is slow")


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_fault_types_and_targets_exist_in_the_operator_catalogue(lab_id: str) -> None:
    lab = LABS[lab_id]
    for ref, targets in zip(lab.faults, attempts.allowed_targets(lab), strict=True):
        ft = CATALOGUE.get(ref.type)
        assert targets and set(targets) <= set(ft.targets)
        if ft.needs_workers:
            assert lab.min_nodes >= ft.needs_workers + 1


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_the_pass_mark_needs_the_root_cause_and_the_remediation(lab_id: str) -> None:
    lab = LABS[lab_id]
    findings = sum(v for k, v in grading.FINDING_POINTS.items() if k != "node" or lab.findings.node is not None)
    remediation = sum(g.points for g in lab.remediation.goals) if lab.remediation else 0
    total = sum(s.points for s in lab.rubric) + findings + remediation
    assert 100 * (total - grading.FINDING_POINTS["root_cause"]) / total < lab.pass_threshold
    assert not remediation or 100 * (total - remediation) / total < lab.pass_threshold
    assert 100 * (total - min(s.points for s in lab.rubric)) / total >= lab.pass_threshold  # one slip is allowed


def test_node_failure_says_it_needs_two_nodes_and_expects_the_node() -> None:
    lab = LABS["froze-at-1620"]
    assert lab.min_nodes >= 2 and lab.findings.node == "{node}"


def test_bad_rollout_asks_for_a_rollback() -> None:
    goals = {g.check for g in LABS["slower-since-eleven"].remediation.goals}  # type: ignore[union-attr]
    assert {"deployment-ready", "revision-changed"} <= goals


@pytest.mark.parametrize(("lab_id", "attempt"), all_attempts(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_template_is_filled_for_every_target(lab_id: str, attempt: attempts.Attempt) -> None:
    expected = grading.expected(LABS[lab_id], attempt)
    text = yaml.safe_dump(expected)
    assert not vocab.variables(text), f"unfilled {vocab.variables(text)}"
    assert expected["findings"]["namespace"] == attempt.namespace
    assert expected["findings"]["workload"] == attempt.workload


def test_randomised_targets_change_the_expected_answers() -> None:
    lab = LABS["pos-down-4523"]
    drawn = {attempts.draw(lab, random.Random(seed), started_at=START).targets for seed in range(40)}
    assert drawn == {("payment/payment-processor",), ("order/order-service",)}
    a, b = (attempts.draw(lab, targets=[t], started_at=START) for t in ("payment/payment-processor", "order/order-service"))
    ea, eb = grading.expected(lab, a), grading.expected(lab, b)
    assert ea["findings"] != eb["findings"] and ea["rubric"] != eb["rubric"]


# --- tickets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_no_ticket_gives_the_cause_away(lab_id: str) -> None:
    lab = LABS[lab_id]
    text = attempts.ticket(lab, attempts.draw(lab, started_at=START)).lower()
    assert labcheck.ticket_spoilers(text) == []
    for word in ("fault", "inject", "chaos", "lab", "kubectl", "pod"):
        assert not re.search(rf"\b{word}s?\b", text)
    for ft in CATALOGUE.types:
        assert ft not in text
    for target in CATALOGUE.workloads:
        assert target.split("/")[1] not in text
    assert not vocab.variables(lab.ticket) - {"store"}


@pytest.mark.parametrize("text", ["The registers freeze because the memory limit is too low",
                                  "A fault was injected in the lab", "pos pods are in CrashLoopBackOff",
                                  "Looks like a memory leak", "the registry is down", "someone changed the ConfigMap"])
def test_spoilers_are_found(text: str) -> None:
    assert labcheck.ticket_spoilers(text)


# --- vocabularies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "state"), [
    ("CrashLoopBackOff", "CrashLoopBackOff"), ("crashloop", "CrashLoopBackOff"),
    ("crash loop back off", "CrashLoopBackOff"), ("  Crash-Loop-BackOff ", "CrashLoopBackOff"),
    ("ImagePullBackOff", "ImagePullBackOff"), ("image pull back-off", "ImagePullBackOff"),
    ("ErrImagePull", "ErrImagePull"), ("OOMKilled", "OOMKilled"), ("oom killed", "OOMKilled"),
    ("running but not ready", "NotReady"), ("0/1", "NotReady"), ("no pods", "NoPods"), ("0/0", "NoPods"),
    ("pending", "Pending"), ("Container Creating", "ContainerCreating"),
    ("crash", None), ("", None), ("*", None), ("bad", None),
])
def test_pod_state_synonyms(text: str, state: str | None) -> None:
    assert vocab.pod_state(text) == state


@pytest.mark.parametrize(("text", "cause"), [
    ("missing-config-key", "missing-config-key"), ("Missing ConfigMap key", "missing-config-key"),
    ("missing   configmap KEY", "missing-config-key"), ("missing secret", "missing-secret"),
    ("Typo in image tag", "image-typo"), ("NetworkPolicy", "network-policy"), ("network policy", "network-policy"),
    ("database connection failure", "dependency-down"), ("registry down", "registry-unreachable"),
    ("db_pool_exhausted", "db-pool-exhausted"), ("infinite loop", "infinite-loop"),
    ("out of memory", None), ("it broke", None), ("", None), ("*", None), ("missing", None),
])
def test_root_cause_synonyms(text: str, cause: str | None) -> None:
    assert vocab.root_cause(text) == cause


def test_every_lab_root_cause_is_in_the_vocabulary() -> None:
    for lab in LABS.values():
        assert set(lab.findings.root_cause) <= set(vocab.ROOT_CAUSES)
        assert set(lab.findings.pod_state) <= set(vocab.POD_STATES)


# --- attempts -------------------------------------------------------------------------------------------


def test_an_attempt_round_trips_through_json() -> None:
    lab = LABS["froze-at-1620"]
    a = attempts.draw(lab, started_at=START, store="9105").with_node("store-9105-worker").with_revisions({"pos/pos-backend": 2})
    assert a.node == "store-9105-worker" and a.values["store"] == "9105"
    assert attempts.Attempt.from_dict(yaml.safe_load(yaml.safe_dump(a.to_dict()))) == a


def test_node_unknown_until_the_operator_picks_it() -> None:
    assert attempts.draw(LABS["froze-at-1620"], started_at=START).node is None


def test_a_target_the_lab_does_not_allow_is_refused() -> None:
    with pytest.raises(labs.LabError, match="not allowed"):
        attempts.draw(LABS["no-order-completes"], targets=["pos/pos-backend"])


# --- malformed labs -------------------------------------------------------------------------------------

VALID: dict[str, Any] = {
    "id": "sample",
    "title": "Sample",
    "course": "Issue 1: CrashLoopBackOff",
    "level": "beginner",
    "points": 50,
    "pass_threshold": 80,
    "ticket": "Store #{store}: the registers stopped working at noon.",
    "faults": [{"type": "missing-config-key"}],
    "findings": {"namespace": "{namespace}", "workload": "{workload}", "pod_state": "CrashLoopBackOff",
                 "root_cause": "missing-config-key", "evidence": ["re:required setting '?{required_key}'? missing"],
                 "command": "kubectl logs <{workload} pod> -n {namespace} --previous"},
    "rubric": [
        {"id": "pods", "description": "listed pods", "points": 10, "command": "kubectl get pods -n {namespace}",
         "match": {"verb": "list", "resource": "pods", "namespace": "{namespace}"}},
        {"use": "previous-logs", "points": 20, "after": "pods"},
        {"id": "events", "description": "events", "points": 10, "command": "kubectl get events -n {namespace}",
         "match": {"verb": ["list", "watch"], "resource": "events", "namespace": "{namespace}"}},
    ],
}


def write(tmp_path: Path, data: Any, name: str = "sample") -> Path:
    (tmp_path / "_steps.yaml").write_text((labs.LABS / "_steps.yaml").read_text())
    path = tmp_path / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def broken(**changes: Any) -> dict[str, Any]:
    """VALID with changes at dotted paths (`rubric.2.match.verb`); value None deletes."""
    data = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        key: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[key]
        else:
            node[key] = value
    return data


def test_the_sample_is_valid(tmp_path: Path) -> None:
    lab = labs.load(write(tmp_path, VALID))
    assert lab.rubric[1].id == "previous-logs" and lab.rubric[1].match.query == {"previous": "true"}


@pytest.mark.parametrize(("changes", "where", "rule"), [
    ({"rubric.2.match.verb": "fetch"}, "rubric[2].match.verb", "'get', 'list'"),
    ({"rubric.0.match.resource": ["Pods!"]}, "rubric[0].match.resource[0]", "pattern"),
    ({"rubric.0.points": 0}, "rubric[0].points", "greater than 0"),
    ({"rubric.0.colour": "red"}, "rubric[0].colour", "Extra inputs"),
    ({"tickett": "x"}, "tickett", "Extra inputs"),
    ({"findings.root_cause": None}, "findings.root_cause", "Field required"),
    ({"findings.root_cause": "gremlins"}, "findings.root_cause[0]", "unknown root cause 'gremlins'; use one of"),
    ({"findings.pod_state": ["Sleeping"]}, "findings.pod_state[0]", "unknown pod state"),
    ({"level": "expert"}, "level", "'beginner', 'intermediate' or 'advanced'"),
    ({"pass_threshold": 120}, "pass_threshold", "less than or equal to 100"),
    ({"faults.0.type": "gremlins"}, "faults[0].type", "unknown fault type 'gremlins'"),
    ({"faults.0.targets": ["pos/pos-frontend"]}, "faults[0].targets[0]", "not a target of fault type"),
    ({"faults.0.type": "node-failure", "findings.root_cause": "node-failure"}, "min_nodes", "at least 2 nodes"),
    ({"id": "other"}, "id", "must equal the file name 'sample'"),
    ({"rubric.1.after": "events"}, "rubric[1].after", "not the id of an earlier step"),
    ({"rubric.2.id": "pods"}, "rubric[2].id", "used twice"),
    ({"rubric.0.match.name": "{pod}"}, "rubric[0].match.name", "unknown template variable(s) ['pod']"),
    ({"rubric.0.command": "kubectl describe node {node}"}, "rubric[0].command", "unknown template variable(s) ['node']"),
    ({"findings.workload": "pos-backend"}, "findings.workload", "must reference the drawn target"),
    ({"rubric.0.match.name": "pos-backend-*"}, "rubric[0].match.name", "names the target 'pos-backend' literally"),
    ({"findings.evidence": ["re:.*(x|y)?"]}, "findings.evidence[0]", "matches almost anything"),
    ({"findings.evidence": ["re:(unclosed"]}, "findings.evidence[0]", "not a valid regex"),
    ({"ticket": "Store #{store}: the pods crash since the ConfigMap lost a key."}, "ticket", "gives the cause away"),
    ({"ticket": "Store #{store}: {workload} stopped working at noon."}, "ticket", "may use only {store}"),
    ({"title": "Roll back the bad rollout"}, "title", "gives the cause away (bad rollout"),
    ({"rubric.1.use": "tea-break"}, "rubric[1].use", "unknown shared step 'tea-break'"),
    ({"faults.0.alternatives": [{"type": "gremlins", "pod_state": "Running", "root_cause": "infinite-loop"}]},
     "faults[0].alternatives[0].type", "unknown fault type 'gremlins'"),
    ({"faults.0.alternatives": [{"type": "cpu-hog", "pod_state": "Running"}]},
     "faults[0].alternatives[0].root_cause", "Field required"),
    ({"faults.0.alternatives": [{"type": "missing-secret", "pod_state": "Running", "root_cause": "missing-secret"}]},
     "faults[0].targets", "a fault with alternatives lists its targets"),
])
def test_schema_errors_name_file_and_field(tmp_path: Path, changes: dict[str, Any], where: str, rule: str) -> None:
    path = write(tmp_path, broken(**changes))
    with pytest.raises(labs.LabError) as err:
        labs.load(path)
    assert isinstance(err.value, EdgelabError)
    assert any(p.startswith(f"{path}: {where}") and rule in p for p in err.value.problems), err.value.problems


def test_an_id_that_names_the_cause_is_refused(tmp_path: Path) -> None:
    """`lab start missing-secret` would tell the learner the answer before the ticket does."""
    path = write(tmp_path, {**VALID, "id": "missing-secret"}, name="missing-secret")
    with pytest.raises(labs.LabError) as err:
        labs.load(path)
    assert any(p.startswith(f"{path}: id: gives the cause away (missing secret") for p in err.value.problems), \
        err.value.problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, broken(**{"level": "expert", "rubric.0.points": -1, "findings.command": None}))
    with pytest.raises(labs.LabError) as err:
        labs.load(path)
    assert [p.split(": ")[1] for p in err.value.problems] == ["level", "findings.command", "rubric[0].points"]


def test_bad_values_are_shown(tmp_path: Path) -> None:
    with pytest.raises(labs.LabError, match=r"rubric\[2\]\.match\.verb\[0\]: .*\(got 'fetch'\)"):
        labs.load(write(tmp_path, broken(**{"rubric.2.match.verb": "fetch"})))


def test_not_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "id: [unclosed\n")
    with pytest.raises(labs.LabError, match=f"{re.escape(str(path))}: not valid YAML"):
        labs.load(path)


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(labs.LabError, match="a lab is a mapping"):
        labs.load(write(tmp_path, "- a list\n"))


def test_load_all_reports_every_file(tmp_path: Path) -> None:
    write(tmp_path, broken(level="expert"), "sample")
    write(tmp_path, {**broken(**{"findings.root_cause": "gremlins"}), "id": "second"}, "second")
    with pytest.raises(labs.LabError) as err:
        labs.load_all(tmp_path)
    assert {Path(p.split(": ")[0]).name for p in err.value.problems} == {"sample.yaml", "second.yaml"}
    assert "labs/README.md" in str(err.value)


def test_load_all_skips_underscore_files(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    assert list(labs.load_all(tmp_path)) == ["sample"]


@pytest.mark.parametrize("lab_id", ["no-such-lab", "_steps", "../labs/pos-down-4523", ""])
def test_get_knows_only_lab_files(lab_id: str) -> None:
    with pytest.raises(labs.UnknownLab, match="`edgelab lab list` shows them"):
        labs.get(lab_id)


def test_get_loads_one_lab_as_load_all_does() -> None:
    assert labs.get("pos-down-4523") == LABS["pos-down-4523"]


# --- a cause drawn per attempt (payment-slow) -------------------------------------------------------------


def test_a_lab_with_alternatives_draws_its_cause_and_grades_each_with_its_own_answer() -> None:
    import random

    from edgelab.labs import grading

    lab = LABS["payment-slow"]
    assert attempts.allowed_types(lab) == [["db-pool-exhausted", "cpu-limit-low", "cpu-hog"]]
    drawn = {attempts.draw(lab, random.Random(seed)).types for seed in range(30)}
    assert drawn == {("db-pool-exhausted",), ("cpu-limit-low",), ("cpu-hog",)}
    hog = attempts.draw(lab, types=["cpu-hog"])
    assert attempts.Attempt.from_dict(hog.to_dict()) == hog
    assert attempts.accepted(lab, hog) == (["Running"], ["infinite-loop"])
    assert hog.values["cpu_setting"] == "fraud_rules_refresh_ms"
    right = grading.Answer("payment", "payment-processor", "Running", "infinite-loop", ("x",))
    result = grading.grade(lab, hog, [], right)
    assert next(x for x in result.lines if x.item == "root_cause").ok
    pool = grading.grade(lab, attempts.draw(lab, types=["db-pool-exhausted"]), [], right)
    assert not next(x for x in pool.lines if x.item == "root_cause").ok  # another attempt's cause does not pass
    assert grading.expected(lab, hog)["findings"]["root_cause"] == ["infinite-loop"]
    with pytest.raises(labs.LabError, match="fault types \\['memory-leak'\\] are not allowed"):
        attempts.draw(lab, types=["memory-leak"])


def test_a_lab_without_alternatives_records_no_types() -> None:
    a = attempts.draw(LABS["lunch-stop"])
    assert a.types == () and attempts.fault_types(LABS["lunch-stop"], a) == ["missing-config-key"]
