"""Evidence judging (harness/edgelab/labs/evidence.py) on recorded real lines and on small made-up stores.

The recorded lines (tests/unit/data/evidence/<lab>.json) are what a real store
emitted during one attempt of each lab (tests/e2e/test_lab_attempts.py with
EDGELAB_RECORD_EVIDENCE=DIR wrote them): every ERROR/WARN log line and Warning
event, marked `cause` where it names the cause, and the lines of the same store
healthy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from unitpaths import DATA

from edgelab.labs import attempts, evidence, grading
from edgelab.labs import catalogue as labs

LABS = labs.load_all()
CATALOGUE = attempts.fault_catalogue()
RECORDED = sorted((DATA / "evidence").glob("*.json"))
HEALTHY_SAMPLES = [  # lines a healthy store logs and shows (from a real store, timestamps kept)
    "2026-11-29T23:49:08.262Z INFO  health: order at http://order-service.order.svc.cluster.local answers (11 ms)",
    "2026-11-29T23:49:13.265Z INFO  health: payment at http://payment-service.payment.svc.cluster.local answers (3 ms)",
    "2026-11-29T23:49:08.148Z INFO  config: log_level=info store_id=4523 readiness_requires=payment,order "
    "api_endpoint=http://payment-service.payment.svc.cluster.local receipt_cache_max_entries=48 "
    "tax_recalc_interval_ms=60000",
    "Successfully assigned pos/pos-backend-76486b798c-bt4c5 to store-9301-control-plane",
    'Container image "byteedge/pos-backend:2.4.1" already present on machine',
    "Scaled up replica set pos-backend-76486b798c from 0 to 3",
    "pos-backend-76486b798c-bgw4q    1/1     Running   0          29s",
    "pos-backend-service   10.244.0.13:8080,10.244.0.15:8080,10.244.0.17:8080   28s",
    "payment-processor   2/2     2            2           30s",
    "store-9141-worker2   Ready    <none>   41m   v1.34.4",
]


def attempt(lab_id: str, target: str | None = None, node: str = "store-4523-worker") -> attempts.Attempt:
    lab = LABS[lab_id]
    a = attempts.draw(lab, targets=[target] if target else None, types=[f.type for f in lab.faults])
    return a.with_node(node) if "node" in a.values else a


def symptom(lab_id: str, target: str | None = None) -> evidence.Symptom:
    return grading.symptom(LABS[lab_id], attempt(lab_id, target))


def emitted(*lines: tuple[str, str, str], lost: tuple[str, ...] = ()) -> evidence.Emitted:
    """(kind, workload, text) triples as a store's output."""
    return evidence.Emitted(tuple(evidence.Seen(kind, w.split("/")[0], f"{w}-abc", w, text, True)
                                  for kind, w, text in lines), lost)


# --- the catalogue's evidence ------------------------------------------------------------------------------


def test_every_fault_type_says_what_its_symptom_looks_like() -> None:
    for name, ft in CATALOGUE.types.items():
        assert ft.evidence, f"{name}: no evidence"
        assert set(ft.evidence) <= set(evidence.FORMS), name


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_patterns_are_specific_for_every_target(lab_id: str) -> None:
    lab = LABS[lab_id]
    for target, kind in [(t, k) for t in attempts.allowed_targets(lab)[0] for k in attempts.allowed_types(lab)[0]]:
        s = grading.symptom(lab, attempts.draw(lab, targets=[target], types=[kind]).with_node("store-4523-worker"))
        for text in ("", "error", "x" * 200, "Back-off restarting failed container", "connection refused",
                     "is unreachable", *HEALTHY_SAMPLES):
            assert not evidence.judge(text, s, None).counts, (lab_id, target, text)


def test_the_catalogue_refuses_unknown_forms_and_bad_regexes() -> None:
    from edgelab_operator import catalogue

    raw = {"workloads": {"pos/pos-backend": {}}, "types": {"demo": {
        "course": "c", "summary": "s", "symptom": "y", "symptom_seconds": 5, "targets": ["pos/pos-backend"],
        "changes": [{"scale": {"replicas": 0}}], "evidence": {"logs": ["x"], "event": ["(unclosed"],
                                                             "kubectl": ["{nope} 0/0"]}}}}
    with pytest.raises(catalogue.CatalogueError) as err:
        catalogue.parse(raw, "test.yaml")
    text = str(err.value)
    assert "unknown form 'logs'" in text and "event: not a valid regex" in text
    raw["types"]["demo"]["evidence"] = {"kubectl": ["{nope} 0/0"]}
    with pytest.raises(catalogue.CatalogueError, match=r"no value for \['nope'\]"):
        catalogue.parse(raw, "test.yaml")


# --- judging against what the store emitted ------------------------------------------------------------------

KEY_LINE = "2026-11-30T00:03:39.237Z ERROR config: required setting 'api_endpoint' missing (no file x, no $API_ENDPOINT)"


def test_a_log_line_counts_when_the_targets_pods_logged_it_timestamps_aside() -> None:
    s = symptom("lunch-stop", "pos/pos-backend")
    store = emitted(("log", "pos/pos-backend", KEY_LINE))
    assert evidence.judge(KEY_LINE, s, store).counts
    assert evidence.judge("ERROR config: required setting 'api_endpoint' missing", s, store).counts
    assert evidence.judge("2026-12-01T09:00:00Z ERROR config: required setting 'api_endpoint' missing", s, store).counts


def test_a_log_line_the_store_never_emitted_does_not_count() -> None:
    s = symptom("lunch-stop", "pos/pos-backend")
    verdict = evidence.judge(KEY_LINE, s, emitted(("log", "pos/pos-backend", "INFO main: pos-backend started")))
    assert not verdict.counts and "not among the lines the store emitted" in verdict.why


def test_a_log_line_from_another_workload_does_not_count() -> None:
    s = symptom("lunch-stop", "pos/pos-backend")
    verdict = evidence.judge(KEY_LINE, s, emitted(("log", "order/order-service", KEY_LINE)))
    assert not verdict.counts and "from order/order-service, not from pos/pos-backend" in verdict.why


def test_when_pods_are_gone_a_log_line_is_taken_on_its_pattern_and_says_so() -> None:
    s = symptom("lunch-stop", "pos/pos-backend")
    verdict = evidence.judge(KEY_LINE, s, emitted(lost=("pos/pos-backend-abc-x1",)))
    assert verdict.counts and "pods of the attempt are gone" in verdict.why


def test_a_caller_line_counts_from_whoever_logged_it_but_names_the_target() -> None:
    line = ("2026-11-29T23:49:08.250Z WARN  health: payment at http://payment-service.payment.svc.cluster.local "
            "did not answer: connection refused by payment-service.payment.svc.cluster.local:80")
    store = emitted(("log", "pos/pos-backend", line))
    assert evidence.judge(line, symptom("pos-down-4523", "payment/payment-processor"), store).counts
    assert not evidence.judge(line, symptom("pos-down-4523", "order/order-service"), store).counts


def test_kubectl_output_counts_on_its_pattern_alone() -> None:
    row = "payment-processor   0/0     0            0           30s"
    assert evidence.judge(row, symptom("pos-down-4523", "payment/payment-processor"), emitted()).counts
    assert not evidence.judge(row, symptom("pos-down-4523", "order/order-service"), emitted()).counts


def test_an_event_row_counts_when_its_message_was_emitted_about_the_target() -> None:
    message = 'Failed to pull image "byteedge/pos-backend:2.4.11": rpc error: code = NotFound'
    row = f"12s  Warning  Failed  pod/pos-backend-5f7-xk2  {message}"
    s = symptom("amber-since-715", "pos/pos-backend")
    assert evidence.judge(row, s, emitted(("event", "pos/pos-backend", message))).counts
    generic = "lookup registry.byteedge.internal on 172.18.0.1:53: no such host"  # names no workload
    s = symptom("amber-and-slower", "pos/pos-backend")
    assert evidence.judge(generic, s, emitted(("event", "pos/pos-backend", generic))).counts
    assert not evidence.judge(generic, s, emitted(("event", "pos/pos-frontend", generic))).counts


def test_the_witness_is_a_real_warning_of_the_attempt() -> None:
    s = symptom("lunch-stop", "pos/pos-backend")
    store = emitted(("event", "pos/pos-backend", "Back-off restarting failed container"),
                    ("log", "pos/pos-backend", KEY_LINE))
    assert evidence.witness(s, store) == KEY_LINE
    assert evidence.witness(s, None) is None
    assert evidence.witness(s, emitted()) is None


def test_grading_says_why_a_quote_did_not_count() -> None:
    lab, a = LABS["lunch-stop"], attempt("lunch-stop", "pos/pos-backend")
    answer = grading.Answer("pos", "pos-backend", "CrashLoopBackOff", "missing-config-key", (KEY_LINE,))
    r = grading.grade(lab, a, [], answer, emitted=emitted(("log", "pos/pos-backend", "INFO fine")))
    line = next(x for x in r.lines if x.item == "evidence")
    assert not line.ok and "not among the lines the store emitted" in line.note
    assert "re:" not in line.expected and "\\" not in line.expected
    r = grading.grade(lab, a, [], answer, emitted=emitted(("log", "pos/pos-backend", KEY_LINE)))
    assert next(x for x in r.lines if x.item == "evidence").ok and r.witness == KEY_LINE


def test_bare_strips_timestamps_and_case() -> None:
    assert evidence.bare("2026-11-30T00:03:39.237Z  ERROR  Config: x") == "error config: x"
    assert evidence.workload_of("pos-backend-76486b798c-bgw4q", ["pos-backend", "pos-frontend"]) == "pos-backend"
    assert evidence.workload_of("payment-processor-7d9f", ["pos-backend"]) == ""


# --- recorded real lines ---------------------------------------------------------------------------------------


def _recorded(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_real_lines_were_recorded_for_most_labs() -> None:
    assert len(RECORDED) >= 15, [p.name for p in RECORDED]


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_real_lines_naming_the_cause_count_and_healthy_ones_do_not(path: Path) -> None:
    rec = _recorded(path)
    lab = LABS[rec["lab"]]
    a = attempts.draw(lab, targets=[rec["target"]], types=[rec["type"]],  # today's facts of the target
                      store=rec["values"]["store"])
    if rec["values"].get("node"):
        a = a.with_node(rec["values"]["node"])
    s = grading.symptom(lab, a)
    store = evidence.Emitted(tuple(evidence.Seen(x["kind"], x["workload"].split("/")[0], x["source"], x["workload"],
                                                 x["text"], True) for x in rec["lines"]))
    for x in rec["lines"]:
        if x["cause"]:
            assert evidence.judge(x["text"], s, store).counts, x
            assert evidence.judge(x["text"], s, None).counts, x
    for text in rec["healthy"]:
        assert not evidence.judge(text, s, None).counts, text
    for other in [t for t in attempts.allowed_targets(lab)[0] if t != rec["target"]]:
        elsewhere = grading.symptom(lab, attempts.draw(lab, targets=[other], types=[rec["type"]]))
        for x in rec["lines"]:
            if x["cause"]:
                assert not evidence.judge(x["text"], elsewhere, store).counts, (other, x)
