"""The drill report (harness/edgelab/drill/report.py) on hand-made audit events shaped as kube-apiserver 1.34
writes them (as in test_grading.py), read back through audit.read_events: each metric on a small known case
in exact seconds, repeats, course order, recovery credited only for the responder's own write, and the ranking."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import auditfake
import pytest
from unitpaths import DATA

from edgelab.drill import report as drillreport
from edgelab.kube import audit
from edgelab.labs import attempts, grading
from edgelab.labs import catalogue as labs

LABS = labs.load_all()
T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
STORE = "9101"
POS_POD = "pos-backend-6664458b48-z9brj"
PAY_POD = "payment-processor-7d9c5b8f6d-x2k7q"
ADMIN = "kubernetes-admin"
OPERATOR = "system:serviceaccount:byteedge-fleet:fleet-agent"


def event(user: str, verb: str, uri: str, at: str, *, code: int = 200, stage: str = "ResponseComplete",
          audit_id: str | None = None) -> dict[str, Any]:
    """One audit event of user name `user` (auditfake.event)."""
    return auditfake.event(verb, uri, at, {"username": user, "groups": ["system:authenticated"]}, code=code,
                           stage=stage, audit_id=audit_id)


def logs(user: str, ns: str, pod: str, at: str, *, previous: bool = False) -> list[dict[str, Any]]:
    """`kubectl logs`: two lines (ResponseStarted, ResponseComplete) with one auditID."""
    uri = f"/api/v1/namespaces/{ns}/pods/{pod}/log" + ("?previous=true" if previous else "")
    started = event(user, "get", uri, at, stage="ResponseStarted")
    return [started, {**started, "stage": "ResponseComplete"}]


def recorded(tmp_path: Path, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    log = tmp_path / "audit.log"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    return audit.read_events(log)


PODS, ENDPOINTS, EVENTS = ("/api/v1/namespaces/pos/pods?limit=500",
                           "/api/v1/namespaces/pos/endpoints/pos-backend-service",
                           "/api/v1/namespaces/pos/events?limit=500")
DEPLOYMENT = "/apis/apps/v1/namespaces/payment/deployments/payment-processor"


def alice() -> list[dict[str, Any]]:
    """Fast and right: the course's flow, one repeated listing, a `get -w`, and the fix."""
    a = "alice"
    return [
        event(a, "list", PODS, "12:59:00"),  # before the incident: not counted
        event(a, "list", PODS, "13:00:30"),  # +30 pos-pods
        event(a, "list", PODS.replace("500", "250"), "13:00:40"),  # the same question again: a repeat
        event(a, "watch", "/api/v1/namespaces/pos/pods?resourceVersion=4711&watch=true", "13:00:41"),  # its -w
        event(a, "get", ENDPOINTS, "13:01:00"),  # +60 pos-endpoints
        event(a, "list", EVENTS, "13:01:30"),  # +90 pos-events
        *logs(a, "pos", POS_POD, "13:02:00"),  # +120 pos-logs
        event(a, "get", DEPLOYMENT, "13:02:30"),  # +150 dependency
        event(a, "patch", DEPLOYMENT + "/scale", "13:05:00"),  # her fix, before the recovery at +1200
    ]


def bob() -> list[dict[str, Any]]:
    """Slow and wrong at first: endpoints before pods (no step met), one repeat, a refused fix."""
    b = "bob"
    return [
        event(b, "get", ENDPOINTS, "13:02:00"),  # before pos-pods: counts for nothing yet
        event(b, "list", PODS, "13:04:00"),  # +240 pos-pods
        event(b, "get", ENDPOINTS, "13:05:00"),  # same question as at +120, but now meets pos-endpoints: not a repeat
        event(b, "get", ENDPOINTS, "13:06:00"),  # now a repeat (evidence again)
        event(b, "patch", DEPLOYMENT + "/scale", "13:07:00", code=403),  # refused: not a request, not a fix
    ]


NOISE = [
    event(ADMIN, "list", PODS, "13:00:10"),
    event(OPERATOR, "patch", DEPLOYMENT + "/scale", "13:19:59"),  # the store recovers by the operator's hand
    event("carol", "list", PODS, "13:01:00"),
    event("dave", "list", PODS, "13:00:05"),  # another store's responder, on this store's log by mistake
    event("carol", "list", "/api/v1/namespaces/order/pods?limit=500", "13:40:00"),  # after the drill: not counted
]


def findings_lines(ok: bool) -> list[dict[str, Any]]:
    return [{"part": "investigation", "item": "pos-pods", "ok": False, "earned": 0, "possible": 20},
            *({"part": "findings", "item": item, "ok": ok or item != "root_cause", "earned": 1, "possible": 1}
              for item in ("namespace", "workload", "pod_state", "root_cause", "evidence"))]


def result(score: float, passed: bool, right: bool) -> dict[str, Any]:
    return {"lab": "pos-down-4523", "score": score, "passed": passed, "lines": findings_lines(right)}


def incident(**kw: Any) -> dict[str, Any]:
    lab = LABS["pos-down-4523"]
    attempt = attempts.draw(lab, targets=["payment/payment-processor"], store=STORE, started_at=T0)
    base = {"id": "i1", "store": STORE, "lab": lab.id, "fault": None, "title": lab.title, "ticket": "POS is down",
            "planned_at_s": 0.0, "injected_at": "2026-11-25T13:00:00Z", "recovered_at": "2026-11-25T13:20:00Z",
            "ended_at": "2026-11-25T13:30:00Z", "target": "payment/payment-processor", "attempt": attempt.to_dict()}
    return {**base, **kw}


def state(incidents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    at = "2026-11-25T13:{}Z".format
    return {
        "name": "lunch-rush", "title": "Lunch rush", "plan": "/tmp/lunch-rush.yaml", "state": "finished",
        "started_at": "2026-11-25T12:58:00Z", "ended_at": "2026-11-25T13:30:00Z",
        "stores": [{"id": STORE, "nodes": 1, "server": "https://127.0.0.1:35111"},
                   {"id": "9102", "nodes": 1, "server": "https://127.0.0.1:35112"}],
        "responders": [{"name": "carol", "store": STORE, "kubeconfig": "/k/carol"},
                       {"name": "bob", "store": STORE, "kubeconfig": "/k/bob"},
                       {"name": "alice", "store": STORE, "kubeconfig": "/k/alice"},
                       {"name": "dave", "store": "9102", "kubeconfig": "/k/dave"}],
        "incidents": incidents if incidents is not None else [incident()],
        "submissions": [
            {"responder": "bob", "incident": "i1", "at": at("15:00"), "result": result(80.0, False, True)},
            {"responder": "alice", "incident": "i1", "at": at("03:00"), "result": result(100.0, True, True)},
            {"responder": "bob", "incident": "i1", "at": at("10:00"), "result": result(40.0, False, False)},
        ],
        "hints": [{"responder": "bob", "incident": "i1", "at": at("08:00"), "n": 1}],
    }


@pytest.fixture
def report(tmp_path: Path) -> dict[str, Any]:
    events = recorded(tmp_path, [*alice(), *bob(), *NOISE])
    return drillreport.build(state(), {STORE: events, "9102": []}, now=datetime(2026, 11, 25, 13, 45, tzinfo=UTC))


def mine(report: dict[str, Any], name: str, incident: str = "i1") -> dict[str, Any]:
    r = next(r for r in report["responders"] if r["name"] == name)
    return next(i for i in r["incidents"] if i["incident"] == incident)


def test_fast_and_right_ranks_above_slow_and_wrong_above_never_answered(report: dict[str, Any]) -> None:
    ranked = [(r["rank"], r["name"]) for r in report["responders"] if r["store"] == STORE]
    assert ranked == [(1, "alice"), (2, "bob"), (3, "carol")]
    alice_, bob_ = report["responders"][0], report["responders"][1]
    assert (alice_["passed"], alice_["score"], bob_["passed"], bob_["score"]) == (1, 100.0, 0, 80.0)
    assert alice_["why"] == "Passed 1 of 1 with a total score of 100; ahead of bob on incidents passed."
    carol = next(r for r in report["responders"] if r["name"] == "carol")
    assert carol["why"] == "Submitted no findings for any of their 1 incident(s), so ranks last."


def test_equal_scores_are_ranked_by_the_time_to_correct_findings_then_plan_order(tmp_path: Path) -> None:
    st = state()
    st["submissions"] = [{"responder": n, "incident": "i1", "at": f"2026-11-25T13:{m}:00Z",
                          "result": result(100.0, True, True)} for n, m in (("carol", "03"), ("bob", "15"),
                                                                            ("alice", "03"))]
    report = drillreport.build(st, {STORE: recorded(tmp_path, [*alice(), *bob()])}, now=T0.replace(hour=14))
    ranked = [r for r in report["responders"] if r["store"] == STORE]
    assert [r["name"] for r in ranked] == ["alice", "carol", "bob"]
    assert ranked[0]["why"] == ("Passed 1 of 1 with a total score of 100; correct findings 3 min after the fault; "
                                "first relevant request 30 s after the fault; ahead of carol on time to first "
                                "relevant request.")
    assert ranked[1]["why"] == ("Passed 1 of 1 with a total score of 100; correct findings 3 min after the fault; "
                                "ahead of bob on time to correct findings.")
    assert ranked[2]["why"] == "Passed 1 of 1 with a total score of 100; ahead of dave, who submitted no findings."


def test_each_metric_in_exact_seconds(report: dict[str, Any]) -> None:
    a = mine(report, "alice")
    assert {k: a[k] for k in ("answered", "score", "passed", "first_relevant_s", "correct_findings_s", "recovery_s",
                              "requests", "evidence_requests", "repeats", "course_order")} == {
        "answered": True, "score": 100.0, "passed": True, "first_relevant_s": 30.0, "correct_findings_s": 180.0,
        "recovery_s": 1200.0, "requests": 8, "evidence_requests": 6, "repeats": 1, "course_order": True}
    assert [(s["id"], s["first_s"]) for s in a["steps"]] == [
        ("pos-pods", 30.0), ("pos-endpoints", 60.0), ("pos-events", 90.0), ("pos-logs", 120.0), ("dependency", 150.0)]
    b = mine(report, "bob")
    assert {k: b[k] for k in ("score", "passed", "first_relevant_s", "correct_findings_s", "recovery_s", "requests",
                              "evidence_requests", "repeats")} == {
        "score": 80.0, "passed": False, "first_relevant_s": 240.0, "correct_findings_s": 900.0, "recovery_s": None,
        "requests": 4, "evidence_requests": 3, "repeats": 1}
    assert b["course_order"] is False  # the endpoints (after: pos-pods) before listing the pods
    c = mine(report, "carol")
    assert (c["answered"], c["score"], c["passed"], c["requests"], c["first_relevant_s"]) == (False, None, None, 1, 60.0)


def test_the_timeline_tells_the_investigation_in_order(report: dict[str, Any]) -> None:
    kinds = [(e["t_s"], e["kind"], e["step"]) for e in mine(report, "alice")["timeline"]]
    assert kinds == [(-60.0, "request", None), (0.0, "injected", None), (30.0, "evidence", "pos-pods"), (40.0, "repeat", "pos-pods"),
                     (41.0, "request", None), (60.0, "evidence", "pos-endpoints"), (90.0, "evidence", "pos-events"),
                     (120.0, "evidence", "pos-logs"), (150.0, "evidence", "dependency"), (180.0, "submission", None), (300.0, "request", None),
                     (1200.0, "recovered", None)]
    # the lead-in (since the drill began, 12:58) is shown, not counted: alice's request of 12:59
    texts = [e["text"] for e in mine(report, "alice")["timeline"]]
    assert texts[0] == texts[2] == "list pods pos" and texts[-2] == "patch deployments/scale.apps payment/payment-processor"
    assert texts[-1] == ("the store recovered after their fix (patch deployments/scale.apps "
                         "payment/payment-processor at +5:00)")
    bob_ = [(e["t_s"], e["kind"], e["text"]) for e in mine(report, "bob")["timeline"]]
    assert (480.0, "hint", "hint 1 shown") in bob_
    assert (600.0, "submission", "submitted: 40% not passed") in bob_
    assert (900.0, "submission", "submitted: 80% not passed; findings right") in bob_
    assert bob_[-1] == (1200.0, "recovered", "the store recovered without their fix")


def test_recovery_needs_their_own_successful_write_before_the_recovery(tmp_path: Path) -> None:
    late = [*bob(), event("bob", "patch", DEPLOYMENT + "/scale", "13:20:01")]  # after the recovery
    failed = [event("carol", "patch", DEPLOYMENT + "/scale", "13:10:00", code=404)]
    events = recorded(tmp_path, [*late, *failed, *NOISE])
    report = drillreport.build(state(), {STORE: events}, now=T0.replace(hour=14))
    assert mine(report, "bob")["recovery_s"] is None and mine(report, "carol")["recovery_s"] is None
    writes = recorded(tmp_path, [event("carol", "delete", f"/api/v1/namespaces/payment/pods/{PAY_POD}", "13:10:00")])
    report = drillreport.build(state(), {STORE: writes}, now=T0.replace(hour=14))
    assert mine(report, "carol")["recovery_s"] == 1200.0


def test_events_of_other_users_and_before_the_incident_are_ignored(tmp_path: Path) -> None:
    events = recorded(tmp_path, [*alice(), *NOISE])
    quiet = drillreport.build(state(), {STORE: recorded(tmp_path, alice())}, now=T0.replace(hour=14))
    noisy = drillreport.build(state(), {STORE: events}, now=T0.replace(hour=14))
    assert mine(noisy, "alice") == mine(quiet, "alice")
    assert mine(noisy, "bob")["requests"] == 0 and mine(noisy, "bob")["timeline"][0]["kind"] == "injected"
    assert next(r for r in noisy["responders"] if r["name"] == "dave")["incidents"] == []


def test_an_open_incident_counts_until_now_and_one_not_injected_counts_nothing(tmp_path: Path) -> None:
    events = recorded(tmp_path, alice())
    open_ = drillreport.build(state([incident(ended_at=None, recovered_at=None)]), {STORE: events},
                              now=T0.replace(minute=2))  # until 13:02:00, both ends included
    a = mine(open_, "alice")
    assert (a["requests"], a["evidence_requests"], a["recovery_s"]) == (6, 5, None)
    pending = drillreport.build(state([incident(injected_at=None, recovered_at=None, ended_at=None)]),
                                {STORE: events}, now=T0.replace(hour=14))
    alice_ = next(r for r in pending["responders"] if r["name"] == "alice")
    assert alice_["incidents"] == [], "an incident that has not begun is nobody's yet (not counted in 'of N')"
    assert pending["incidents"][0]["injected_at"] is None  # the scoreboard still lists it, as planned


def test_the_lead_in_of_a_later_incident_starts_when_the_previous_one_ended(tmp_path: Path) -> None:
    later = incident(id="i2", injected_at="2026-11-25T13:35:00Z", recovered_at=None, ended_at="2026-11-25T13:45:00Z")
    events = recorded(tmp_path, [*alice(), event("alice", "list", EVENTS, "13:32:00")])
    report = drillreport.build(state([incident(), later]), {STORE: events}, now=T0.replace(hour=14))
    lead_in = [(e["t_s"], e["text"]) for e in mine(report, "alice", "i2")["timeline"] if e["t_s"] < 0]
    assert lead_in == [(-180.0, "list events pos")]  # not 12:59's, nor anything of i1 (ended 13:30)
    assert mine(report, "alice", "i2")["requests"] == 0


def test_a_fault_without_a_lab_measures_the_first_request_in_the_targets_namespace(tmp_path: Path) -> None:
    fault = incident(id="i2", lab=None, fault="crash-loop", target="payment/payment-processor", attempt=None)
    report = drillreport.build(state([fault]), {STORE: recorded(tmp_path, alice())}, now=T0.replace(hour=14))
    a = mine(report, "alice", "i2")
    assert (a["first_relevant_s"], a["evidence_requests"], a["steps"], a["course_order"], a["recovery_s"],
            a["answered"]) == (150.0, 0, [], None, 1200.0, False)


def test_the_report_has_the_contracts_keys(report: dict[str, Any]) -> None:
    assert report["schema"] == "edgelab.drill.report/v1"
    assert set(report) == {"schema", "drill", "stores", "incidents", "responders"}
    assert set(report["drill"]) == {"name", "title", "state", "started_at", "ended_at", "now"}
    assert report["drill"]["now"] == "2026-11-25T13:45:00Z"
    assert set(report["responders"][0]) == {"name", "rank", "store", "kubeconfig", "score", "passed", "why",
                                            "incidents"}
    assert set(mine(report, "alice")) == {
        "incident", "answered", "score", "passed", "first_relevant_s", "correct_findings_s", "recovery_s",
        "requests", "evidence_requests", "repeats", "course_order", "steps", "timeline"}
    assert json.loads(json.dumps(report)) == report


FIXTURE = DATA / "drill" / "report.json"


@pytest.mark.skipif(not FIXTURE.exists(), reason="the page's fixture report is not in this branch yet")
def test_the_page_fixture_has_the_same_keys_as_a_built_report(report: dict[str, Any]) -> None:
    fixture = json.loads(FIXTURE.read_text())

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return shape(value[0]) if value else None
        return None

    def same(ours: Any, theirs: Any, where: str = "report") -> None:
        if isinstance(ours, dict) and isinstance(theirs, dict):
            assert set(ours) == set(theirs), where
            for k in ours:
                same(ours[k], theirs[k], f"{where}.{k}")

    same(shape(report), shape(fixture))


# --- repeats and course order, on the measure itself ----------------------------------------------------------


def reqs(*events: dict[str, Any], user: str = "learner") -> list[grading.Request]:
    return grading.requests(events, user, T0)


def keeps_restarting() -> tuple[labs.Lab, dict[str, Any]]:
    lab = LABS["keeps-restarting"]
    attempt = attempts.draw(lab, targets=[lab.faults[0].targets[0]] if lab.faults[0].targets else None, started_at=T0)
    return lab, dict(grading.matchers(lab, attempt.values)) | {"_ns": attempt.namespace, "_wl": attempt.workload}


def test_course_order_followed_and_not_followed() -> None:
    lab, m = keeps_restarting()
    ns, wl = m.pop("_ns"), m.pop("_wl")
    pod = f"{wl}-6664458b48-z9brj"
    u = "learner"
    pods = event(u, "list", f"/api/v1/namespaces/{ns}/pods?limit=500", "13:01:00")
    previous = logs(u, ns, pod, "13:02:00", previous=True)[1]
    describe = event(u, "get", f"/api/v1/namespaces/{ns}/pods/{pod}", "13:03:00")
    top = event(u, "list", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", "13:04:00")
    history = event(u, "list", f"/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3D{wl}", "13:05:00")
    followed = drillreport.measure(reqs(pods, previous, describe, top, history), lab, m)
    assert (followed.course_order, len(followed.met)) == (True, 5)
    # top first, then get pods: back four stages (5 -> 1)
    late = {**pods, "requestReceivedTimestamp": "2026-11-25T13:04:30.000000Z"}
    jumped = drillreport.measure(reqs(top, late, history), lab, m)
    assert jumped.course_order is False
    # logs --previous after top: back three stages (5 -> 2); describe (`after` list-pods) is never judged
    backwards = drillreport.measure(reqs(pods, top, {**previous, "requestReceivedTimestamp":
                                                     "2026-11-25T13:04:10.000000Z"}), lab, m)
    assert backwards.course_order is False
    assert drillreport.measure(reqs(), lab, m).course_order is None
    # describe (after: list-pods) before listing the pods: not the lab's order, though it met nothing then
    early = {**describe, "requestReceivedTimestamp": "2026-11-25T13:00:30.000000Z"}
    assert drillreport.measure(reqs(early, pods, previous), lab, m).course_order is False
    # describe without ever listing the pods: not followed either
    assert drillreport.measure(reqs(describe, top), lab, m).course_order is False


def test_repeats_ignore_kubectls_limit_and_the_watch_of_get_w_but_not_a_new_question() -> None:
    u = "learner"
    a = event(u, "list", "/api/v1/namespaces/pos/pods?limit=500", "13:01:00")
    b = event(u, "watch", "/api/v1/namespaces/pos/pods?resourceVersion=1&watch=true", "13:01:01")  # get -w
    c = event(u, "list", "/api/v1/namespaces/pos/pods?limit=250", "13:02:00")  # same question
    d = event(u, "list", "/api/v1/namespaces/pos/pods?labelSelector=app%3Dpos-backend&limit=500", "13:03:00")  # new
    e = event(u, "watch", "/api/v1/namespaces/pos/pods?resourceVersion=9&watch=true", "13:04:00")  # after another one
    m = drillreport.measure(reqs(a, b, c, d, e), None, None, "pos")
    assert m.kinds == ["request", "request", "repeat", "request", "repeat"]
    assert (m.repeats, m.first_relevant, m.course_order) == (2, 0, None)


def test_stage_of_each_course_command() -> None:
    u = "learner"
    cases = {
        "/api/v1/namespaces/pos/pods?limit=500": 1, "/api/v1/nodes?limit=500": 1,
        f"/api/v1/namespaces/pos/pods/{POS_POD}/log?previous=true": 2, ENDPOINTS: 2,
        "/api/v1/namespaces/pos/events?limit=500": 3,
        "/api/v1/namespaces/pos/events?fieldSelector=involvedObject.name%3Dx": 4,
        f"/api/v1/namespaces/pos/pods/{POS_POD}": 4, "/api/v1/namespaces/pos/services/pos-backend-service": 4,
        "/apis/metrics.k8s.io/v1beta1/namespaces/pos/pods": 5, "/apis/apps/v1/namespaces/pos/replicasets": 6,
        "/apis/apps/v1/namespaces/pos/deployments/pos-backend": 6, "/api/v1/namespaces/pos/configmaps/x": None,
    }
    for uri, expected in cases.items():
        (r,) = reqs(event(u, "get" if uri.rsplit("/", 1)[-1].split("?")[0] not in
                          ("pods", "nodes", "events", "replicasets") else "list", uri, "13:01:00"))
        assert drillreport.stage(r) == expected, uri


# --- a single attempt, for the learner's debrief ----------------------------------------------------------------


def test_attempt_timeline_and_its_text(tmp_path: Path) -> None:
    lab = LABS["pos-down-4523"]
    attempt = attempts.draw(lab, targets=["payment/payment-processor"], store="4523", started_at=T0)
    events = recorded(tmp_path, [event("learner", "list", PODS, "13:00:42"),
                                 event("learner", "list", PODS, "13:01:10"),
                                 event("alice", "list", PODS, "13:00:50")])
    entries = drillreport.attempt_timeline(lab, attempt, events, result(85.0, True, True),
                                           hints_at=[T0.replace(minute=1)], submitted_at=T0.replace(minute=3))
    assert drillreport.timeline_text(entries) == "\n".join([
        "+0:00  injected    fault injected: POS is down at Store #4523 (payment/payment-processor)",
        "+0:42  evidence    list pods pos  [pos-pods]",
        "+1:00  hint        hint 1 shown",
        "+1:10  repeat      list pods pos  [pos-pods]",
        "+3:00  submission  submitted: 85% passed; findings right",
    ])
    assert drillreport.timeline_text([e for e in entries if e["kind"] == "evidence"]) == \
        "+0:42  evidence  list pods pos  [pos-pods]"


def test_clock_and_duration() -> None:
    assert [drillreport.clock(s) for s in (0, 42.9, 725, 3723, -5)] == ["+0:00", "+0:42", "+12:05", "+1:02:03",
                                                                        "-0:05"]
    assert [drillreport.duration(s) for s in (42, 192, 180, 3720)] == ["42 s", "3 min 12 s", "3 min", "1 h 2 min"]


def test_the_debrief_shows_the_timeline_when_given_one(tmp_path: Path) -> None:
    from edgelab.labs import debrief

    lab = LABS["pos-down-4523"]
    attempt = attempts.draw(lab, targets=["payment/payment-processor"], store="4523", started_at=T0)
    entries = drillreport.attempt_timeline(lab, attempt, recorded(tmp_path, [event("learner", "list", PODS, "13:00:42")]),
                                           None)
    plain = debrief.build(lab, attempt, None)
    shown = plain.with_timeline(entries)
    assert shown.render() == plain.render() + "\n" + "\n".join([
        "what you did, from the start of the lab:",
        "  +0:00  injected  fault injected: POS is down at Store #4523 (payment/payment-processor)",
        "  +0:42  evidence  list pods pos  [pos-pods]"])
    assert shown.to_dict()["timeline"] == entries and plain.to_dict()["timeline"] == []
    assert json.loads(json.dumps(grading.Result("l", "t", (), 0, 0, 0.0, 0.0, False, 0, {}, debrief=shown).to_dict()))
