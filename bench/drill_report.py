#!/usr/bin/env python3
"""Time the drill report: 20 responders, 100,000 audit events (target: under 2 s), docs/drill-metrics.md.

A synthetic but realistic drill: two stores of 10 responders each; on store 9101 the
lab pos-down-4523 at the start and a bare fault (crash-loop on order/order-service)
15 minutes in, on store 9102 the lab keeps-restarting 2 minutes in; 45 minutes of
drill. Each store's audit log holds its responders' kubectl requests (each walks the
lab's rubric at their own pace among the course's other commands, repeats some,
watches some with `get -w`, writes a fix or not; `logs` are written in two stages,
refused requests appear), the fault operator's, the harness admin's and other
service accounts' requests, five minutes of them before the drill. Submissions and
hints are in the state. The logs are written to files and read back with
`audit.read_events`, so parsing is counted. No cluster needed.

    bench/drill_report.py [--events 100000] [--repeat 3] [--json]

Also a live page's refresh: each store's log followed by `audit.Follower` (its shell lines run on this machine
where they would run in the node, so `docker exec`'s own ~0.1 s per call is not counted), first read up to the
last 100 requests, then those written and read as one refresh, and the report built again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edgelab.base.names import NAMESPACES
from edgelab.drill import report as drillreport
from edgelab.kube import audit
from edgelab.labs import attempts, grading, vocab
from edgelab.labs import catalogue as labs

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DRILL_S = 45 * 60
STORES = ("9101", "9102")
WORKLOADS = {"pos": ("pos-backend", "pos-frontend"), "payment": ("payment-processor",), "order": ("order-service",),
             "observability": ("hyperdx", "otel-collector")}
SERVICES = {"pos": "pos-backend-service", "payment": "payment-processor", "order": "order-service",
            "observability": "hyperdx"}
MACHINERY = {  # user -> (groups, share of a store's events)
    "kubernetes-admin": (["kubeadm:cluster-admins", "system:authenticated"], 0.10),
    "system:serviceaccount:byteedge-fleet:fleet-agent": (["system:serviceaccounts:byteedge-fleet"], 0.20),
    "system:serviceaccount:observability:otel-collector": (["system:serviceaccounts:observability"], 0.08),
    "system:anonymous": (["system:unauthenticated"], 0.02),
}
RESPONDER_SHARE = 0.60
RESPONDER_GROUPS = ["byteedge:incident-managers", "system:authenticated"]
HASH = "bcdfghjklmnpqrstvwxz2456789"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def pod(rng: random.Random, workload: str) -> str:
    return f"{workload}-6664458b48-{''.join(rng.choices(HASH, k=5))}"


def ref_of(uri: str) -> dict[str, Any]:
    """The objectRef the API server derives from a resource URI."""
    parts = uri.partition("?")[0].strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    ref: dict[str, Any] = {"apiVersion": parts[1] if parts[0] == "api" else parts[2]}
    if group:
        ref["apiGroup"] = group
    if rest[0] == "namespaces" and len(rest) > 2:
        ref["namespace"], rest = rest[1], rest[2:]
    ref["resource"] = rest[0]
    if len(rest) > 1:
        ref["name"] = rest[1]
    if len(rest) > 2:
        ref["subresource"] = rest[2]
    return ref


def course_command(rng: random.Random) -> list[tuple[str, str]]:
    """One kubectl command of the course (the requests it makes): [(verb, URI)]."""
    ns = rng.choice(NAMESPACES)
    wl = rng.choice(WORKLOADS[ns])
    p = pod(rng, wl)
    k = rng.randrange(12)
    if k == 0:
        return [("list", f"/api/v1/namespaces/{ns}/pods?limit=500")]
    if k == 1:  # get -w
        return [("list", f"/api/v1/namespaces/{ns}/pods?limit=500"),
                ("watch", f"/api/v1/namespaces/{ns}/pods?resourceVersion={rng.randrange(9999)}&watch=true")]
    if k == 2:  # describe pod
        return [("get", f"/api/v1/namespaces/{ns}/pods/{p}"),
                ("list", f"/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3D{p}&limit=500")]
    if k == 3:
        return [("get", f"/api/v1/namespaces/{ns}/pods/{p}/log" + ("?previous=true" if rng.random() < 0.3 else ""))]
    if k == 4:
        return [("list", f"/api/v1/namespaces/{ns}/events?limit=500")]
    if k == 5:
        return [("get", f"/api/v1/namespaces/{ns}/endpoints/{SERVICES[ns]}")]
    if k == 6:  # describe svc
        return [("get", f"/api/v1/namespaces/{ns}/services/{SERVICES[ns]}"),
                ("get", f"/api/v1/namespaces/{ns}/endpoints/{SERVICES[ns]}")]
    if k == 7:
        return [("get", f"/apis/apps/v1/namespaces/{ns}/deployments/{wl}")]
    if k == 8:
        return [("list", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods")]
    if k == 9:  # rollout history
        return [("get", f"/apis/apps/v1/namespaces/{ns}/deployments/{wl}"),
                ("list", f"/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3D{wl}")]
    if k == 10:
        return [("get", f"/api/v1/namespaces/{ns}/configmaps/{wl}-config")]
    return [("list", "/api/v1/nodes?limit=500")]


def machinery_request(rng: random.Random, user: str) -> tuple[str, str]:
    ns = rng.choice(NAMESPACES)
    wl = rng.choice(WORKLOADS[ns])
    if user.endswith("fleet-agent"):
        return rng.choice([("patch", "/apis/edgelab.io/v1alpha1/namespaces/byteedge-fleet/faults/f1/status"),
                           ("get", f"/apis/apps/v1/namespaces/{ns}/deployments/{wl}"),
                           ("watch", "/apis/edgelab.io/v1alpha1/faults?watch=true")])
    if user.endswith("otel-collector"):
        return "list", f"/api/v1/namespaces/{ns}/pods?limit=500"
    return course_command(rng)[0]


def rubric_commands(lab: labs.Lab, attempt: attempts.Attempt) -> list[tuple[str, str]]:
    """One request meeting each rubric step, in the rubric's order."""
    out: list[tuple[str, str]] = []
    for step in lab.rubric:
        values = grading.step_values(step, attempt.values)
        m = step.match
        ns = vocab.fill(m.namespace, values) if m.namespace else None
        name = vocab.fill(m.name, values).replace("*", "6664458b48-z9brj") if m.name else None
        sub = m.subresource if m.subresource not in (None, "*") else None
        query = "&".join(f"{k}={v}" for k, v in m.query.items())
        path = (f"/apis/{m.group}/v1beta1" if m.group == "metrics.k8s.io" else
                f"/apis/{m.group}/v1" if m.group else "/api/v1") + (f"/namespaces/{ns}" if ns else "") \
            + "".join(f"/{p}" for p in (m.resource[0], name, sub) if p)
        out.append((m.verb[0], path + (f"?{query}" if query else "")))
    return out


def drill(n_events: int, seed: int = 14) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The state of a finished drill and, per store, its audit lines (oldest first)."""
    rng = random.Random(seed)
    all_labs = labs.load_all()
    pos, restart = all_labs["pos-down-4523"], all_labs["keeps-restarting"]
    a1 = attempts.draw(pos, targets=["payment/payment-processor"], store="9101", started_at=START)
    a2 = attempts.draw(restart, targets=["order/order-service"], store="9102",
                       started_at=START + timedelta(minutes=2))
    incidents: list[dict[str, Any]] = [
        {"id": "i1", "store": "9101", "lab": pos.id, "fault": None, "title": pos.title, "ticket": "POS is down",
         "planned_at_s": 0.0, "injected_at": iso(START), "recovered_at": iso(START + timedelta(minutes=25)),
         "ended_at": iso(START + timedelta(seconds=DRILL_S)), "target": "payment/payment-processor",
         "attempt": a1.to_dict()},
        {"id": "i2", "store": "9102", "lab": restart.id, "fault": None, "title": restart.title,
         "ticket": "keeps restarting", "planned_at_s": 120.0, "injected_at": iso(START + timedelta(minutes=2)),
         "recovered_at": iso(START + timedelta(minutes=30)), "ended_at": iso(START + timedelta(seconds=DRILL_S)),
         "target": "order/order-service", "attempt": a2.to_dict()},
        {"id": "i3", "store": "9101", "lab": None, "fault": "crash-loop", "title": "Kitchen screens empty",
         "ticket": "kitchen", "planned_at_s": 900.0, "injected_at": iso(START + timedelta(minutes=15)),
         "recovered_at": None, "ended_at": iso(START + timedelta(seconds=DRILL_S)), "target": "order/order-service",
         "attempt": None},
    ]
    responders = [{"name": f"r{s}-{i:02d}", "store": s, "kubeconfig": f"/tmp/r{s}-{i:02d}.kubeconfig"}
                  for s in STORES for i in range(10)]
    submissions, hints = [], []
    per_store = n_events // len(STORES)
    logs: dict[str, list[dict[str, Any]]] = {}
    ids = iter(range(10**9))
    for store in STORES:
        mine = [r["name"] for r in responders if r["store"] == store]
        lab_incident = incidents[0] if store == "9101" else incidents[1]
        lab, attempt = (pos, a1) if store == "9101" else (restart, a2)
        injected = datetime.fromisoformat(lab_incident["injected_at"])
        planned: list[tuple[datetime, str, str, str]] = []  # (at, user, verb, uri)
        for name in mine:
            pace = rng.uniform(20, 240)  # seconds between their rubric steps
            steps = rubric_commands(lab, attempt)
            if rng.random() < 0.3:  # some start elsewhere
                rng.shuffle(steps)
            for k, (verb, uri) in enumerate(steps):
                if rng.random() < 0.85:
                    planned.append((injected + timedelta(seconds=pace * (k + 1) + rng.uniform(0, 10)), name, verb,
                                    uri))
            if rng.random() < 0.5:  # their fix
                planned.append((injected + timedelta(seconds=pace * (len(steps) + 2)), name, "patch",
                                f"/apis/apps/v1/namespaces/{attempt.namespace}/deployments/{attempt.workload}"))
            found = injected + timedelta(seconds=pace * (len(steps) + 1) + rng.uniform(0, 120))
            for n in range(rng.choice((0, 0, 1, 2))):
                hints.append({"responder": name, "incident": lab_incident["id"],
                              "at": iso(injected + timedelta(seconds=pace * (n + 1.5))), "n": n + 1})
            if rng.random() < 0.9:  # most answer, some twice
                right = rng.random() < 0.7
                for attempt_no in range(1 if right else rng.choice((1, 2))):
                    ok = right or attempt_no == 1
                    result_lines = [{"part": "findings", "item": item, "ok": ok or item != "root_cause"}
                                    for item in ("namespace", "workload", "pod_state", "root_cause", "evidence")]
                    score = round(rng.uniform(85, 100) if ok else rng.uniform(30, 80), 1)
                    submissions.append({"responder": name, "incident": lab_incident["id"],
                                        "at": iso(found + timedelta(minutes=5 * attempt_no)),
                                        "result": {"lab": lab.id, "score": score, "passed": score >= 85,
                                                   "lines": result_lines}})
        share = [(u, g[1]) for u, g in MACHINERY.items()] + [(name, RESPONDER_SHARE / len(mine)) for name in mine]
        users, weights = [u for u, _ in share], [w for _, w in share]
        lines: list[dict[str, Any]] = []
        at, step = START - timedelta(minutes=5), timedelta(seconds=(DRILL_S + 300) / per_store)
        queue = sorted(planned)
        count = 0
        while count < per_store:
            at += step
            if queue and queue[0][0] <= at:
                _, user, verb, uri = queue.pop(0)
                requests = [(verb, uri)]
            else:
                user = rng.choices(users, weights)[0]
                requests = course_command(rng) if user in mine else [machinery_request(rng, user)]
                if user in mine and rng.random() < 0.1:
                    requests = requests * 2  # asked again
            for verb, uri in requests:
                stamp = iso(at)
                refused = user == "system:anonymous" or (user in mine and rng.random() < 0.02)
                e: dict[str, Any] = {
                    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                    "auditID": f"{store}-{next(ids)}", "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
                    "user": {"username": user, "groups": RESPONDER_GROUPS if user in mine else MACHINERY[user][0]},
                    "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.34.4 (linux/amd64) kubernetes/0000000",
                    "objectRef": ref_of(uri), "responseStatus": {"metadata": {}, "code": 403 if refused else 200},
                    "requestReceivedTimestamp": stamp, "stageTimestamp": stamp}
                if e["objectRef"].get("subresource") == "log" or verb == "watch":  # written in two stages
                    lines.append({**e, "stage": "ResponseStarted"})
                lines.append(e)
                count += 1
        logs[store] = lines
    state = {"name": "lunch-rush", "title": "Lunch rush at two stores", "plan": "drills/lunch-rush.yaml",
             "state": "finished", "started_at": iso(START), "ended_at": iso(START + timedelta(seconds=DRILL_S)),
             "stores": [{"id": s, "nodes": 1, "server": f"https://127.0.0.1:3511{i}"} for i, s in enumerate(STORES)],
             "responders": responders, "incidents": incidents, "submissions": submissions, "hints": hints}
    return state, logs


class ThisMachine:
    """Runs a follower's shell lines here instead of in a node."""

    def exec(self, node: str, argv: list[str], *, input_text: str | None = None, timeout: float = 300,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check)


def refresh(state: dict[str, Any], lines: dict[str, list[dict[str, Any]]], tmp: Path, now: datetime,
            new: int = 100) -> dict[str, float]:
    """One live-page refresh after `new` more requests per store: (read, build) seconds, and the bytes it fetched."""
    followers, tails = {}, {}
    for store, store_lines in lines.items():
        folder = tmp / f"follow-{store}"
        folder.mkdir()
        log = folder / audit.LOG_FILE
        log.write_text("".join(json.dumps(e) + "\n" for e in store_lines[:-new]))
        followers[store] = audit.Follower(ThisMachine(), "node", log_dir=str(folder))  # type: ignore[arg-type]
        followers[store].events()
        tails[store] = (log, "".join(json.dumps(e) + "\n" for e in store_lines[-new:]))
    before = sum(f.fetched for f in followers.values())
    for log, text in tails.values():
        with log.open("a") as out:
            out.write(text)
    t0 = time.perf_counter()
    events = {store: f.events() for store, f in followers.items()}
    t1 = time.perf_counter()
    drillreport.build(state, events, now=now)
    t2 = time.perf_counter()
    return {"refresh_read_s": round(t1 - t0, 3), "refresh_build_s": round(t2 - t1, 3),
            "refresh_fetched_kib": round((sum(f.fetched for f in followers.values()) - before) / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="requests in the audit logs (default 100000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best is reported, and each total")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    state, lines = drill(args.events)
    now = datetime.fromisoformat(state["ended_at"])
    runs, cpu, responders_only = [], [], []  # wall and CPU seconds of (read, build) per run: CPU time says less about a busy machine
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for store, store_lines in lines.items():
            paths[store] = Path(tmp) / f"{store}.log"
            paths[store].write_text("".join(json.dumps(e) + "\n" for e in store_lines))
        labs.load_all()  # read once per process: `drill report` has them (and the store module) loaded
        drillreport.store_namespaces()
        names = {store: [r["name"] for r in state["responders"] if r["store"] == store] for store in paths}
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            events = {store: audit.read_events(path) for store, path in paths.items()}
            c1, t1 = time.process_time(), time.perf_counter()
            report = drillreport.build(state, events, now=now)
            c2, t2 = time.process_time(), time.perf_counter()
            theirs = {store: audit.read_events(path, user=names[store]) for store, path in paths.items()}
            c3, t3 = time.process_time(), time.perf_counter()
            runs.append((t1 - t0, t2 - t1))
            cpu.append((c1 - c0, c2 - c1))
            responders_only.append((t3 - t2, c3 - c2))
            assert drillreport.build(state, theirs, now=now)["responders"] == report["responders"]
            last, n_read = report, sum(map(len, events.values()))
            del events, report, theirs  # freed here, not inside the next run's timing
        live = refresh(state, lines, Path(tmp), now)
    report = last
    best_read, best_build = min(r for r, _ in runs), min(b for _, b in runs)
    totals = [round(r + b, 3) for r, b in runs]
    best_total_s, target_s = round(min(r + b for r, b in runs), 3), 2.0
    row = {"responders": len(state["responders"]), "events": n_read,
           "lines": sum(map(len, lines.values())), "stores": len(lines),
           "read_s": round(best_read, 3), "build_s": round(best_build, 3),
           "best_total_s": best_total_s, "totals_s": totals,
           "read_responders_s": round(min(w for w, _ in responders_only), 3),
           "cpu_read_responders_s": round(min(c for _, c in responders_only), 3),
           "cpu_read_s": round(min(r for r, _ in cpu), 3), "cpu_build_s": round(min(b for _, b in cpu), 3),
           "cpu_best_total_s": round(min(r + b for r, b in cpu), 3),
           "load_1min": round(os.getloadavg()[0], 1), "cores": os.cpu_count(),
           "target_s": target_s, "timeline_entries": sum(len(i["timeline"]) for r in report["responders"]
                                                         for i in r["incidents"])}
    row.update(live)
    row["within_target"] = best_total_s < target_s
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['responders']} responders, {row['stores']} stores, {row['events']} audit events "
              f"({row['lines']} lines): best read {row['read_s']:.3f} s, best build {row['build_s']:.3f} s, "
              f"best read+build {row['best_total_s']:.3f} s (target < {row['target_s']:.0f} s); "
              f"totals {', '.join(f'{t:.3f}' for t in totals)} s; CPU time: read {row['cpu_read_s']:.3f} s, "
              f"build {row['cpu_build_s']:.3f} s, best total {row['cpu_best_total_s']:.3f} s; "
              f"load {row['load_1min']} on {row['cores']} cores; read with user=the store's responders: "
              f"{row['read_responders_s']:.3f} s (CPU {row['cpu_read_responders_s']:.3f} s); "
              f"{row['timeline_entries']} timeline entries")
        print(f"a live page's refresh after 100 more requests per store: read {row['refresh_read_s']:.3f} s "
              f"({row['refresh_fetched_kib']} KiB fetched), build {row['refresh_build_s']:.3f} s")
        for r in report["responders"][:3]:
            print(f"  {r['rank']}. {r['name']}: {r['why']}")
    return 0 if row["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
