#!/usr/bin/env python3
"""Time grading one lab attempt over a session of 10,000 audit events (target: under 1 s).

The events are synthetic but shaped and mixed like a store's audit log during a
lab (manifests/audit/policy.yaml keeps them): the learner's kubectl requests
(the course's commands across the store namespaces, `logs` written in two
stages), the fault operator's reads and status writes, the harness's admin
requests and other service accounts. They are written to an audit log and read
back with `audit.read_events`, as `lab submit` will; the grade is the
reference investigation of the lab buried in that noise. No cluster needed.

    bench/grading_time.py [--events 10000] [--lab pos-down-4523] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edgelab.base.names import NAMESPACES
from edgelab.kube import audit
from edgelab.labs import attempts, grading, vocab
from edgelab.labs import catalogue as labs

START = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
USERS = {  # user -> (groups, share of the events)
    "learner": (["byteedge:incident-managers", "system:authenticated"], 0.25),
    "kubernetes-admin": (["kubeadm:cluster-admins", "system:authenticated"], 0.20),
    "system:serviceaccount:byteedge-fleet:fleet-agent": (["system:serviceaccounts:byteedge-fleet"], 0.35),
    "system:serviceaccount:observability:otel-collector": (["system:serviceaccounts:observability"], 0.15),
    "system:anonymous": (["system:unauthenticated"], 0.05),
}
PODS = {"pos": ("pos-backend", "pos-frontend"), "payment": ("payment-processor",), "order": ("order-service",),
        "observability": ("hyperdx", "otel-collector")}


def _uri(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """One request of the course's kinds: (verb, URI, objectRef)."""
    ns = rng.choice(NAMESPACES)
    workload = rng.choice(PODS[ns])
    pod = f"{workload}-6664458b48-{''.join(rng.choices('bcdfghjklmnpqrstvwxz2456789', k=5))}"
    kind = rng.randrange(9)
    if kind == 0:
        return "list", f"/api/v1/namespaces/{ns}/pods?limit=500", {"resource": "pods", "namespace": ns}
    if kind == 1:
        return "get", f"/api/v1/namespaces/{ns}/pods/{pod}", {"resource": "pods", "namespace": ns, "name": pod}
    if kind == 2:
        q = "?previous=true" if rng.random() < 0.3 else ""
        return "get", f"/api/v1/namespaces/{ns}/pods/{pod}/log{q}", {"resource": "pods", "namespace": ns, "name": pod,
                                                                     "subresource": "log"}
    if kind == 3:
        return "list", f"/api/v1/namespaces/{ns}/events?limit=500", {"resource": "events", "namespace": ns}
    if kind == 4:
        return "get", f"/api/v1/namespaces/{ns}/endpoints/{workload}", {"resource": "endpoints", "namespace": ns,
                                                                        "name": workload}
    if kind == 5:
        return "get", f"/apis/apps/v1/namespaces/{ns}/deployments/{workload}", {
            "resource": "deployments", "namespace": ns, "name": workload, "apiGroup": "apps"}
    if kind == 6:
        return "list", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", {
            "resource": "pods", "namespace": ns, "apiGroup": "metrics.k8s.io"}
    if kind == 7:
        return "patch", "/apis/edgelab.io/v1alpha1/namespaces/byteedge-fleet/faults/f1/status", {
            "resource": "faults", "namespace": "byteedge-fleet", "name": "f1", "subresource": "status",
            "apiGroup": "edgelab.io"}
    return "list", "/api/v1/nodes?limit=500", {"resource": "nodes"}


def session(n: int, reference: list[tuple[str, str, dict[str, Any]]], seed: int = 4523) -> list[dict[str, Any]]:
    """`n` audit lines over 30 minutes (some before the lab started), the reference steps spread among them."""
    rng = random.Random(seed)
    names, weights = list(USERS), [share for _, share in USERS.values()]
    lines: list[dict[str, Any]] = []
    at = START - timedelta(minutes=5)
    step = timedelta(seconds=1800 / n)
    insert_at = {int(n * (i + 1) / (len(reference) + 1)): r for i, r in enumerate(reference)}
    for i in range(n):
        at += step
        user = names[0] if i in insert_at else rng.choices(names, weights)[0]
        verb, uri, ref = insert_at.get(i) or _uri(rng)
        stamp = at.isoformat().replace("+00:00", "Z")
        e = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{i}",
             "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
             "user": {"username": user, "groups": USERS[user][0]}, "sourceIPs": ["172.18.0.1"],
             "userAgent": "kubectl/v1.34.4 (linux/amd64) kubernetes/0000000", "objectRef": ref,
             "responseStatus": {"metadata": {}, "code": 403 if user == "system:anonymous" else 200},
             "requestReceivedTimestamp": stamp, "stageTimestamp": stamp}
        if ref.get("subresource") == "log":  # logs are written in two stages
            lines.append({**e, "stage": "ResponseStarted"})
        lines.append(e)
    return lines


def reference(lab: labs.Lab, attempt: attempts.Attempt) -> list[tuple[str, str, dict[str, Any]]]:
    """One request meeting each rubric step, in the rubric's order."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for step in lab.rubric:
        values = grading.step_values(step, attempt.values)
        m = step.match
        ns = vocab.fill(m.namespace, values) if m.namespace else None
        name = vocab.fill(m.name, values).replace("*", "6664458b48-z9brj") if m.name else None
        ref = {"resource": m.resource[0], **({"namespace": ns} if ns else {}), **({"name": name} if name else {}),
               **({"subresource": m.subresource} if m.subresource not in (None, "*") else {}),
               **({"apiGroup": m.group} if m.group else {})}
        query = "&".join(f"{k}={v}" for k, v in m.query.items())
        path = (f"/apis/{m.group}/v1" if m.group else "/api/v1") + (f"/namespaces/{ns}" if ns else "") \
            + "".join(f"/{p}" for p in (ref["resource"], name, ref.get("subresource")) if p)
        out.append((m.verb[0], path + (f"?{query}" if query else ""), ref))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000, help="audit lines in the session (default 10000)")
    ap.add_argument("--lab", default="pos-down-4523")
    ap.add_argument("--repeat", type=int, default=5, help="runs; the median is reported")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    lab = labs.load_all()[args.lab]
    attempt = attempts.draw(lab, random.Random(1), started_at=START).with_node("store-4523-worker")
    findings = grading.parse_findings(json.dumps({
        "namespace": attempt.namespace, "workload": attempt.workload, "pod_state": lab.findings.pod_state[0],
        "root_cause": lab.findings.root_cause[0], "evidence": []}))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.log"
        log.write_text("".join(json.dumps(e) + "\n" for e in session(args.events, reference(lab, attempt))))
        read, graded, result = [], [], None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            events = audit.read_events(log)
            t1 = time.perf_counter()
            result = grading.grade(lab, attempt, events, findings)
            t2 = time.perf_counter()
            read.append(t1 - t0)
            graded.append(t2 - t1)
    assert result is not None
    investigation = [x for x in result.lines if x.part == "investigation"]
    total_s, target_s = round(statistics.median(r + g for r, g in zip(read, graded, strict=True)), 4), 1.0
    row = {"lab": lab.id, "events": len(events), "learner_events": sum(audit.username(e) == "learner" for e in events),
           "read_s": round(statistics.median(read), 4), "grade_s": round(statistics.median(graded), 4),
           "total_s": total_s, "target_s": target_s, "investigation_met": sum(x.ok for x in investigation),
           "steps": len(investigation)}
    row["within_target"] = total_s < target_s
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['lab']}: {row['events']} audit events ({row['learner_events']} of the learner): "
              f"read {row['read_s']:.3f} s + grade {row['grade_s']:.3f} s = {row['total_s']:.3f} s "
              f"(target < {row['target_s']:.0f} s); reference steps met {row['investigation_met']}/{row['steps']}")
    return 0 if row["within_target"] and row["investigation_met"] == row["steps"] else 1


if __name__ == "__main__":
    sys.exit(main())
