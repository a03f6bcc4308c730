"""Grading (harness/edgelab/labs/grading.py) on recorded-style audit events: events shaped as kube-apiserver
1.34 writes them (see test_audit.py), written to an audit log and read back with audit.read_events, as
`lab submit` will. Investigation matching (users, start time, order), tolerant but never accidental
findings, remediation against a state snapshot, and findings files that cannot be graded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import auditfake
import pytest

from edgelab.kube import audit
from edgelab.labs import attempts, grading
from edgelab.labs import catalogue as labs

LABS = labs.load_all()
START = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
LEARNER = {"username": "learner", "groups": ["byteedge:incident-managers", "system:authenticated"]}
ADMIN = {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
OPERATOR = {"username": "system:serviceaccount:byteedge-fleet:fleet-agent",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:byteedge-fleet"]}
POS_POD = "pos-backend-6664458b48-z9brj"
PAY_POD = "payment-processor-7d9c5b8f6d-x2k7q"


def event(verb: str, uri: str, at: str, *, user: dict[str, Any] = LEARNER, code: int = 200,
          stage: str = "ResponseComplete", audit_id: str | None = None) -> dict[str, Any]:
    """One audit event at Metadata level (auditfake.event), the learner's unless `user` says otherwise."""
    return auditfake.event(verb, uri, at, user, code=code, stage=stage, audit_id=audit_id)


def logs(ns: str, pod: str, at: str, *, previous: bool = False) -> list[dict[str, Any]]:
    """`kubectl logs`: two lines (ResponseStarted, ResponseComplete) with one auditID."""
    uri = f"/api/v1/namespaces/{ns}/pods/{pod}/log" + ("?previous=true" if previous else "")
    started = event("get", uri, at, stage="ResponseStarted")
    return [started, {**started, "stage": "ResponseComplete"}]


def recorded(tmp_path: Path, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Through the real reader: as `lab submit` gets them."""
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    return audit.read_events(log)


NOISE = [  # the lab's machinery and the admin, all through the session
    event("patch", "/apis/apps/v1/namespaces/payment/deployments/payment-processor/scale", "13:00:01", user=OPERATOR),
    event("get", "/apis/apps/v1/namespaces/payment/deployments/payment-processor", "13:00:02", user=ADMIN),
    event("list", "/api/v1/namespaces/pos/pods?limit=500", "13:00:30", user=ADMIN),
    event("list", "/api/v1/namespaces/pos/events?limit=500", "13:02:30", user=ADMIN),
]

# Scenario 1 as the course teaches it, on a drawn target payment/payment-processor.
POS_DOWN = [
    event("list", "/api/v1/namespaces/pos/pods?limit=500", "13:01:00"),
    event("get", "/api/v1/namespaces/pos/endpoints/pos-backend-service", "13:02:00"),
    event("list", "/api/v1/namespaces/pos/events?limit=500", "13:03:00"),
    *logs("pos", POS_POD, "13:04:00"),
    event("list", "/api/v1/namespaces/payment/pods?limit=500", "13:05:00"),
    event("get", "/apis/apps/v1/namespaces/payment/deployments/payment-processor", "13:05:30"),
]
POS_DOWN_FINDINGS = """
namespace: payment
workload: payment-processor
pod_state: NoPods
root_cause: dependency-down
evidence:
  - "2026-11-25T13:04:01.120Z ERROR health: payment at http://payment-service.payment.svc.cluster.local is unreachable: connection refused; not ready"
"""


def attempt(lab_id: str, target: str | None = None, **kw: Any) -> attempts.Attempt:
    lab = LABS[lab_id]
    return attempts.draw(lab, targets=[target] if target else None, started_at=START, **kw)


def grade(tmp_path: Path, lab_id: str, target: str, events: list[dict[str, Any]], findings: str,
          state: dict[str, Any] | None = None, a: attempts.Attempt | None = None) -> grading.Result:
    a = a or attempt(lab_id, target)
    return grading.grade(LABS[lab_id], a, recorded(tmp_path, NOISE + events), grading.parse_findings(findings), state)


def line(result: grading.Result, item: str) -> grading.Line:
    return next(x for x in result.lines if x.item == item)


# --- a reference investigation ---------------------------------------------------------------------------


def test_the_reference_investigation_scores_100(tmp_path: Path) -> None:
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", POS_DOWN, POS_DOWN_FINDINGS)
    assert (r.score, r.passed, r.points) == (100.0, True, 100)
    assert r.feedback().endswith("nothing missed")
    assert line(r, "pos-logs").got == f"13:04:00 get pods/log pos/{POS_POD}"
    assert {x.part for x in r.lines} == {"investigation", "findings"}
    json.dumps(r.to_dict())  # reports carry it as JSON


def test_the_course_flow_for_payment_is_slow(tmp_path: Path) -> None:
    events = [
        event("list", "/apis/metrics.k8s.io/v1beta1/namespaces/payment/pods", "13:01:00"),
        *logs("payment", PAY_POD, "13:02:00"),
        event("get", f"/api/v1/namespaces/payment/pods/{PAY_POD}", "13:03:00"),
        event("list", f"/api/v1/namespaces/payment/events?fieldSelector=involvedObject.name%3D{PAY_POD}", "13:03:01"),
        event("get", "/apis/apps/v1/namespaces/payment/deployments/payment-processor", "13:04:00"),
    ]
    findings = """{"namespace": "payment", "workload": "payment-processor", "pod_state": "Running",
                   "root_cause": "connection pool exhausted",
                   "evidence": "WARN db: waited 1830 ms for a connection for an authorisation (pool_size=1, in_use=1, waiting=2)"}"""
    r = grade(tmp_path, "payment-slow", "payment/payment-processor", events, findings,
              a=attempt("payment-slow", "payment/payment-processor", types=["db-pool-exhausted"]))
    assert r.score == 100.0 and r.passed


# --- what scores less, and what the feedback says ------------------------------------------------------------


def test_a_wrong_root_cause_scores_less_and_does_not_pass(tmp_path: Path) -> None:
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", POS_DOWN,
              POS_DOWN_FINDINGS.replace("dependency-down", "network policy"))
    cause = line(r, "root_cause")
    assert (cause.earned, cause.got) == (0, "'network policy' (network-policy)")
    assert cause.expected == "dependency-down or all-pods-down"
    assert cause.command == "kubectl logs <pos-backend pod> -n pos"
    assert r.score == 80.0 and not r.passed and r.points == 0
    assert "- findings: root cause (0/40)" in r.feedback() and "try: kubectl logs <pos-backend pod> -n pos" in r.feedback()


MISSING_KEY = """
namespace: pos
workload: pos-backend-6664458b48-z9brj
pod_state: CrashLoopBackOff
root_cause: missing configmap key
evidence: "ERROR config: required setting 'api_endpoint' missing (no file /etc/byteedge/config/api_endpoint, no $API_ENDPOINT)"
"""


def test_a_missing_key_step_scores_less_and_names_its_command(tmp_path: Path) -> None:
    events = [
        event("list", "/api/v1/namespaces/pos/pods?limit=500", "13:01:00"),
        *logs("pos", POS_POD, "13:02:00"),  # current logs: empty, the container is waiting
        event("get", f"/api/v1/namespaces/pos/pods/{POS_POD}", "13:03:00"),
        event("get", "/api/v1/namespaces/pos/configmaps/pos-config", "13:04:00"),
    ]
    r = grade(tmp_path, "lunch-stop", "pos/pos-backend", events, MISSING_KEY)
    missed = [x.item for x in r.missed()]
    assert "previous-logs" in missed
    assert line(r, "previous-logs").command == "kubectl logs <pos-backend pod> -n pos --previous"
    assert "try: kubectl logs <pos-backend pod> -n pos --previous" in r.feedback()
    # the ConfigMap step comes after the previous logs in the course's order: not met either
    assert line(r, "configmap").note == "counts only after 'read the previous logs of a crashing pos-backend pod', " \
                                        "which was not seen"
    assert r.score < 100 and not r.passed

    with_previous = events[:3] + logs("pos", POS_POD, "13:03:30", previous=True) + events[3:]
    assert grade(tmp_path, "lunch-stop", "pos/pos-backend", with_previous, MISSING_KEY).score == 100.0


def test_an_out_of_order_step_scores_less_where_order_matters(tmp_path: Path) -> None:
    # pos-backend's logs read before the course's first step, `kubectl get pods -n pos`
    events = [*logs("pos", POS_POD, "13:00:40"), *[e for e in POS_DOWN if "/log" not in e["requestURI"]]]
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", events, POS_DOWN_FINDINGS)
    pos_logs = line(r, "pos-logs")
    assert pos_logs.earned == 0
    assert pos_logs.note.startswith("seen at 13:00:40, before 'listed the pods in pos'")
    assert pos_logs.got == f"13:00:40 get pods/log pos/{POS_POD}"
    # the step that needs the logs first is missed too; steps without order still count
    assert line(r, "dependency").earned == 0
    assert line(r, "pos-endpoints").ok and line(r, "pos-events").ok
    assert r.score < 100


def test_order_is_the_order_requests_were_received(tmp_path: Path) -> None:
    # the log's line order is the order requests completed; the flow is judged by when they were received
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", list(reversed(POS_DOWN)), POS_DOWN_FINDINGS)
    assert r.score == 100.0
    early = event("get", "/api/v1/namespaces/pos/endpoints/pos-backend-service", "13:00:45")
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", [early, POS_DOWN[0], *POS_DOWN[2:]],
              POS_DOWN_FINDINGS)
    assert not line(r, "pos-endpoints").ok  # endpoints before `get pods -n pos`: the flow says pods first
    assert line(r, "pos-pods").ok and line(r, "pos-logs").ok and line(r, "pos-events").ok


def test_someone_elses_randomised_answer_does_not_pass(tmp_path: Path) -> None:
    """The answer for payment/payment-processor, handed in on an attempt that drew order/order-service."""
    r = grade(tmp_path, "pos-down-4523", "order/order-service", POS_DOWN, POS_DOWN_FINDINGS)
    assert not line(r, "namespace").ok and not line(r, "workload").ok
    for item in ("pod_state", "root_cause", "evidence"):
        assert line(r, item).earned == 0
    assert line(r, "root_cause").note == "not credited: the findings are about another workload than order-service"
    assert not line(r, "dependency").ok  # they looked at payment, not order
    assert line(r, "dependency").command == "kubectl get deployment order-service -n order"
    assert r.score < 50 and not r.passed
    assert r.expected["findings"]["workload"] == "order-service"


# --- which events count ----------------------------------------------------------------------------------------


def test_other_users_events_never_count(tmp_path: Path) -> None:
    as_admin = [{**e, "user": ADMIN} for e in POS_DOWN]
    as_operator = [{**e, "user": OPERATOR, "auditID": e["auditID"] + "-op"} for e in POS_DOWN]
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", as_admin + as_operator, POS_DOWN_FINDINGS)
    assert all(x.earned == 0 for x in r.lines if x.part == "investigation")
    assert line(r, "pos-pods").got == "no such request"


def test_events_before_the_start_never_count(tmp_path: Path) -> None:
    early = [{**e, "requestReceivedTimestamp": e["requestReceivedTimestamp"].replace("T13:", "T12:"),
              "stageTimestamp": e["stageTimestamp"].replace("T13:", "T12:")} for e in POS_DOWN]
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", early, POS_DOWN_FINDINGS)
    assert all(x.earned == 0 for x in r.lines if x.part == "investigation")
    # a naive start time is UTC, as in audit.read_events
    a = attempt("pos-down-4523", "payment/payment-processor")
    naive = attempts.Attempt(a.lab, a.targets, a.values, START.replace(tzinfo=None))
    assert grade(tmp_path, "pos-down-4523", "", POS_DOWN, POS_DOWN_FINDINGS, a=naive).score == 100.0


def test_refused_requests_do_not_count_but_not_found_does(tmp_path: Path) -> None:
    events = [
        event("list", "/api/v1/namespaces/pos/pods?limit=500", "13:01:00"),
        event("get", f"/api/v1/namespaces/pos/pods/{POS_POD}", "13:02:00", code=403),
        event("list", "/api/v1/namespaces/pos/events", "13:03:00", code=503),
        event("get", "/api/v1/namespaces/pos/configmaps/pos-config", "13:04:00", code=404),
    ]
    r = grade(tmp_path, "try-again-later", "pos/pos-backend", events, MISSING_KEY)
    assert not line(r, "describe-pod").ok and not line(r, "events").ok
    assert line(r, "configmap").ok  # `configmap "pos-config" not found` is an answer


def test_a_list_across_all_namespaces_counts_for_a_namespace(tmp_path: Path) -> None:
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor",
              [event("list", "/api/v1/pods?limit=500", "13:01:00"), *POS_DOWN[1:]], POS_DOWN_FINDINGS)
    assert line(r, "pos-pods").ok and r.score == 100.0


def test_top_is_not_a_listing_and_a_listing_is_not_top(tmp_path: Path) -> None:
    top = event("list", "/apis/metrics.k8s.io/v1beta1/namespaces/pos/pods", "13:01:00")
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", [top, *POS_DOWN[1:]], POS_DOWN_FINDINGS)
    assert not line(r, "pos-pods").ok
    r = grade(tmp_path, "sluggish-registers", "pos/pos-backend", [event("list", "/api/v1/namespaces/pos/pods", "13:01:00")],
              MISSING_KEY)
    assert not line(r, "top-pods").ok


def test_endpoints_of_another_service_do_not_count_but_listing_them_all_does(tmp_path: Path) -> None:
    first, rest = POS_DOWN[0], POS_DOWN[2:]
    other = event("get", "/api/v1/namespaces/pos/endpoints/pos-frontend", "13:02:00")
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", [first, other, *rest], POS_DOWN_FINDINGS)
    assert not line(r, "pos-endpoints").ok
    listed = event("list", "/api/v1/namespaces/pos/endpoints?limit=500", "13:02:00")
    r = grade(tmp_path, "pos-down-4523", "payment/payment-processor", [first, listed, *rest], POS_DOWN_FINDINGS)
    assert line(r, "pos-endpoints").ok


def test_previous_logs_need_previous(tmp_path: Path) -> None:
    step = next(s for s in LABS["lunch-stop"].rubric if s.id == "previous-logs")
    match = grading.matcher(step, attempt("lunch-stop", "pos/pos-backend").values)
    events = recorded(tmp_path, [*logs("pos", POS_POD, "13:01:00"), *logs("pos", POS_POD, "13:02:00", previous=True),
                                 *logs("pos", "pos-frontend-5f7b9c6d48-abcde", "13:03:00", previous=True)])
    requests = grading.requests(events, "learner", START)
    assert [match(r) for r in requests] == [False, True, False]


def test_the_learners_requests_are_found_among_ten_thousand_events(tmp_path: Path) -> None:
    """Other users' traffic around the learner's changes nothing (bench/grading_time.py measures the time)."""
    filler = [event("get", f"/api/v1/namespaces/pos/pods/{POS_POD}", f"13:{i // 60 % 60:02d}:{i % 60:02d}",
                    user=ADMIN if i % 3 else LEARNER) for i in range(10_000)]
    events = recorded(tmp_path, filler + POS_DOWN)
    a = attempt("pos-down-4523", "payment/payment-processor")
    r = grading.grade(LABS["pos-down-4523"], a, events, grading.parse_findings(POS_DOWN_FINDINGS))
    assert r.score == 100.0 and r.passed, r.explain()


# --- findings, tolerantly but never by accident ------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    "pos-backend", "POS-Backend ", "  pos-backend\n", "deployment/pos-backend", "deploy pos-backend",
    "deployment.apps/pos-backend", "pos/pos-backend", "-n pos pos-backend", POS_POD, "pod/" + POS_POD,
    "pos-backend-6664458b48", "POS-BACKEND-6664458B48-Z9BRJ",
])
def test_workload_answers_that_match(answer: str) -> None:
    assert grading.workload_matches(answer, "pos-backend", "pos")


@pytest.mark.parametrize("answer", [
    "", " ", "*", ".*", "pos-*", "pos-backend-.*", "pos", "pos-frontend", "pos-backend-service", "backend",
    "pos-frontend-5f7b9c6d48-abcde", "pos-backend-xyz", "pos-backend-aeiou12-abcde", "payment/pos-backend",
    "pos-backend and payment-processor", "pos-backend pos-frontend",
])
def test_workload_answers_that_do_not(answer: str) -> None:
    assert not grading.workload_matches(answer, "pos-backend", "pos")


@pytest.mark.parametrize(("answer", "ok"), [
    ("pos", True), (" POS ", True), ("namespace/pos", True), ("-n pos", True), ("ns pos", True),
    ("", False), ("*", False), ("pos payment", False), ("payment", False), ("po", False), ("default", False),
])
def test_namespace_answers(answer: str, ok: bool) -> None:
    assert grading.namespace_matches(answer, "pos") is ok


@pytest.mark.parametrize(("quote", "ok"), [
    ("ERROR config: required setting 'api_endpoint' missing (no file ...)", True),
    ("required   SETTING 'api_endpoint'\n  missing", True),  # case and whitespace
    ("required setting \u2018api_endpoint\u2019 missing", True),  # typographic quotes
    ("required setting api_endpoint missing", True),  # the lab's regex makes quotes optional
    ("required setting 'order_endpoint' missing", False),  # another key
    ("required setting", False), ("", False), ("*", False), (".*", False), ("missing", False),
])
def test_evidence_quotes(quote: str, ok: bool) -> None:
    assert (grading.evidence_matches([quote], LABS["lunch-stop"], attempt("lunch-stop", "pos/pos-backend"))
            is not None) is ok


def test_evidence_of_another_target_does_not_match() -> None:
    lab = LABS["pos-down-4523"]
    quote = "payment at http://payment-service.payment.svc.cluster.local is unreachable: connection refused"
    assert grading.evidence_matches([quote], lab, attempt("pos-down-4523", "payment/payment-processor"))
    assert not grading.evidence_matches([quote], lab, attempt("pos-down-4523", "order/order-service"))


def test_image_typo_evidence_is_the_mistyped_image_not_the_right_one() -> None:
    lab, a = LABS["amber-since-715"], attempt("amber-since-715", "pos/pos-backend")
    typo = 'Failed to pull image "byteedge/pos-backend:2.4.11": rpc error: code = NotFound'
    assert grading.evidence_matches([typo], lab, a)
    assert not grading.evidence_matches(['Pulled image "byteedge/pos-backend:2.4.1"'], lab, a)


def test_tolerant_findings_score_full(tmp_path: Path) -> None:
    tolerant = """
    namespace: " POS "
    workload: pod/pos-backend-6664458b48-z9brj
    pod_state: crash loop back off
    root_cause: Missing ConfigMap Key
    evidence: ["Back-off restarting failed container", "required setting 'api_endpoint' missing"]
    """
    r = grade(tmp_path, "lunch-stop", "pos/pos-backend", [], tolerant)
    assert all(line(r, item).ok for item in ("namespace", "workload", "pod_state", "root_cause", "evidence"))
    assert line(r, "evidence").got == '"required setting \'api_endpoint\' missing"'


def test_empty_answers_score_nothing(tmp_path: Path) -> None:
    empty = 'namespace: ""\nworkload: ""\npod_state: Running\nroot_cause: high-load\nevidence: []\n'
    r = grade(tmp_path, "lunch-stop", "pos/pos-backend", [], empty)
    assert sum(x.earned for x in r.lines) == 0
    assert line(r, "workload").command == "kubectl get deployments -n pos"


def test_node_findings(tmp_path: Path) -> None:
    a = attempt("froze-at-1620").with_node("store-4523-worker2")
    findings = """
    namespace: pos
    workload: pos-backend
    node: node/store-4523-worker2
    pod_state: Terminating
    root_cause: store hardware failure
    evidence: "store-4523-worker2   NotReady   <none>   41m   v1.34.0"
    """
    r = grade(tmp_path, "froze-at-1620", "", [], findings, a=a)
    assert line(r, "node").ok and line(r, "evidence").ok and line(r, "root_cause").ok
    other = grade(tmp_path, "froze-at-1620", "", [], findings, a=a.with_node("store-4523-worker"))
    assert not line(other, "node").ok and not line(other, "evidence").ok


# --- remediation -----------------------------------------------------------------------------------------------

BAD_ROLLOUT = [
    event("get", "/apis/apps/v1/namespaces/pos/deployments/pos-backend", "13:01:00"),
    event("list", "/apis/apps/v1/namespaces/pos/replicasets?labelSelector=app%3Dpos-backend", "13:01:30"),
    event("list", "/api/v1/namespaces/pos/pods?limit=500", "13:02:00"),
    *logs("pos", "pos-backend-7f8d9c6b5d-q4wzx", "13:03:00"),
    event("patch", "/apis/apps/v1/namespaces/pos/deployments/pos-backend?fieldManager=kubectl-rollout", "13:05:00"),
]
BAD_ROLLOUT_FINDINGS = """
namespace: pos
workload: pos-backend-7f8d9c6b5d-q4wzx
pod_state: running but not ready
root_cause: bad rollout
evidence: "ERROR health: payment at http://payment-gateway.payment.svc.cluster.local is unreachable: cannot resolve host"
"""


def rolled_back(revision: int = 3, ready: int = 3) -> dict[str, Any]:
    return {"deployments": {"pos/pos-backend": {"replicas": 3, "ready": ready, "updated": 3, "revision": revision}},
            "endpoints": {"pos/pos-backend-service": ready}}


def test_a_rollback_scores_the_remediation(tmp_path: Path) -> None:
    a = attempt("slower-since-eleven", "pos/pos-backend").with_revisions({"pos/pos-backend": 2})
    r = grade(tmp_path, "slower-since-eleven", "", BAD_ROLLOUT, BAD_ROLLOUT_FINDINGS, rolled_back(), a=a)
    assert r.score == 100.0 and [x.item for x in r.lines if x.part == "remediation"] == \
        ["deployment-ready", "revision-changed"]
    assert line(r, "deployment-ready").got == "READY 3/3, 3 up to date"


def test_no_rollback_does_not_pass(tmp_path: Path) -> None:
    a = attempt("slower-since-eleven", "pos/pos-backend").with_revisions({"pos/pos-backend": 2})
    r = grade(tmp_path, "slower-since-eleven", "", BAD_ROLLOUT[:-1], BAD_ROLLOUT_FINDINGS, rolled_back(revision=2, ready=2), a=a)
    assert not r.passed
    assert [x.command for x in r.missed()] == ["kubectl rollout undo deployment/pos-backend -n pos"] * 2
    assert line(r, "revision-changed").got == "revision 2 at the start, 2 now"


def test_remediation_without_a_snapshot_or_a_baseline(tmp_path: Path) -> None:
    r = grade(tmp_path, "slower-since-eleven", "pos/pos-backend", BAD_ROLLOUT, BAD_ROLLOUT_FINDINGS)
    assert line(r, "deployment-ready").got == "the store's state was not collected"
    r = grade(tmp_path, "slower-since-eleven", "pos/pos-backend", BAD_ROLLOUT, BAD_ROLLOUT_FINDINGS, rolled_back())
    assert line(r, "revision-changed").got == "no revision recorded when the lab started"


def test_scaling_back_up_needs_every_replica(tmp_path: Path) -> None:
    state = {"deployments": {"pos/pos-backend": {"replicas": 1, "ready": 1, "updated": 1, "revision": 1}},
             "endpoints": {"pos/pos-backend-service": 1}}
    r = grade(tmp_path, "unavailable-at-1202", "pos/pos-backend", [], MISSING_KEY, state)
    assert not line(r, "deployment-ready").ok and line(r, "endpoints-present").ok
    assert line(r, "deployment-ready").command == "kubectl scale deployment/pos-backend -n pos --replicas=3"


# --- the result ---------------------------------------------------------------------------------------------


def test_the_result_explains_every_line_and_what_was_expected(tmp_path: Path) -> None:
    r = grade(tmp_path, "pos-down-4523", "order/order-service", POS_DOWN, POS_DOWN_FINDINGS)
    text = r.explain()
    assert text.count("✓") + text.count("✗") == len(r.lines)
    assert "try: kubectl get deployment order-service -n order" in text
    assert r.expected["targets"] == ["order/order-service"]
    assert any("order\\-service\\.order" in p for p in r.expected["findings"]["evidence"]["caller"])
    assert [s["id"] for s in r.expected["rubric"]] == ["pos-pods", "pos-endpoints", "pos-events", "pos-logs",
                                                       "dependency"]
    d = r.to_dict()
    assert d["score"] == r.score and d["lines"][0]["ok"] is True


# --- findings files that cannot be graded ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message"), [
    ("namespace: pos\nworkload: [unclosed\n", "not valid YAML or JSON at line 3, column 1"),
    ("just a sentence", "must be a mapping with the fields namespace, workload"),
    ("namespace: pos\nworkload: pos-backend\npod_state: Running\nevidence: x\n", "missing field(s) root_cause"),
    (MISSING_KEY + "rootcause: typo\n", "unknown field(s) rootcause"),
    (MISSING_KEY.replace("missing configmap key", "gremlins"),
     "root_cause: 'gremlins' is not a known root cause; use one of: application-bug, missing-configmap"),
    (MISSING_KEY.replace("CrashLoopBackOff", "Sleepy"), "pod_state: 'Sleepy' is not a pod state; use one of: Running"),
    (MISSING_KEY.replace("pos-backend-6664458b48-z9brj", "{a: 1}"), "workload: must be text"),
    ("namespace: pos\nworkload: pos-backend\npod_state: Running\nroot_cause: leak\nevidence: " + "x" * 600,
     "evidence: quote the line(s) that show the cause"),
    ("namespace: pos\nworkload: pos-backend\npod_state: Running\nroot_cause: leak\nevidence: {a: 1}", "evidence: a quoted"),
])
def test_malformed_findings_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(grading.FindingsError) as err:
        grading.parse_findings(text)
    assert message in str(err.value)
    assert "did not count as an attempt" in str(err.value)


def test_every_findings_problem_at_once_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "findings.yaml"
    path.write_text("namespace: pos\nworkload: pos-backend\npod_state: Sleepy\nroot_cause: gremlins\n")
    with pytest.raises(grading.FindingsError) as err:
        grading.parse_findings(path)
    assert [p.split(":")[0] for p in err.value.problems] == ["missing field(s) evidence", "pod_state", "root_cause"]
    assert str(err.value).startswith(f"{path}: ")


def test_a_missing_findings_file() -> None:
    with pytest.raises(grading.FindingsError, match="cannot read"):
        grading.parse_findings(Path("/nonexistent/findings.yaml"))


def test_json_findings_and_the_template() -> None:
    answer = grading.parse_findings(json.dumps({"namespace": "pos", "workload": "pos-backend", "pod_state": "crashloop",
                                                "root_cause": "missing secret", "evidence": ["x"], "node": None}))
    assert (answer.pod_state, answer.root_cause, answer.node) == ("CrashLoopBackOff", "missing-secret", None)
    with pytest.raises(grading.FindingsError, match="not a pod state"):  # the template, unfilled, is not gradable
        grading.parse_findings(grading.FINDINGS_TEMPLATE)


def test_each_hint_shown_takes_the_labs_hint_cost_off_the_score(tmp_path: Path) -> None:
    lab = LABS["pos-down-4523"]
    a = attempt("pos-down-4523", "payment/payment-processor")
    events = recorded(tmp_path, NOISE + POS_DOWN)
    answer = grading.parse_findings(POS_DOWN_FINDINGS)
    two = grading.grade(lab, a, events, answer, hints_shown=2)
    assert (two.score, two.hint_penalty, two.hints_shown) == (100 - 2 * lab.hint_cost, 2 * lab.hint_cost, 2)
    assert two.earned == two.possible  # the parts are not touched: only the score
    assert f"hints: 2 shown, -{2 * lab.hint_cost:g}%" in two.explain()
    assert f"less {2 * lab.hint_cost:g}% for 2 hint(s)" in two.feedback()
    assert grading.grade(lab, a, events, answer, hints_shown=1000).score == 0  # never below zero
    assert "hints" not in grading.grade(lab, a, events, answer).explain()
