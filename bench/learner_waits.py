#!/usr/bin/env python3
"""The learner's waits, per lab (issue 27): `lab start`, `lab reset`, `lab submit` on a running store.

    bench/learner_waits.py --store 4523 [--labs a,b,...] [--json]

For each lab, in the order a learner meets them: `lab start` (the store left by the previous lab's submit:
the reset to healthy is part of the wait), `lab reset` (a new draw of the same lab), `lab submit` with the
expected findings (grading reads the store's audit trail; its faults are cleared). Targets: start ≤ 10 s,
reset ≤ 10 s, submit ≤ 3 s. Labs needing more nodes than the store has are skipped and said so
(`edgelab up --store N --nodes 2` runs every lab). The store must be up; it is left healthy with no lab.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from edgelab.labs import attempts, catalogue, grading, session
from edgelab.machine.prepare import setup
from edgelab.store import stores as storelib

TARGETS = {"start_s": 10.0, "reset_s": 10.0, "submit_s": 3.0}


def right_answer(lab: catalogue.Lab, run: session.Running) -> grading.Answer:
    f = grading.expected(lab, run.attempt)["findings"]
    return grading.Answer(namespace=f["namespace"], workload=f["workload"], pod_state=f["pod_state"][0],
                          root_cause=f["root_cause"][0], evidence=())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="4523")
    ap.add_argument("--labs", default="", help="comma-separated lab ids (default: every lab)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    setup()
    nodes = len(storelib.node_containers(storelib.cluster_name(args.store)))
    ids = args.labs.split(",") if args.labs else sorted(catalogue.load_all())
    rows: list[dict[str, Any]] = []
    session.stop(args.store)  # no lab running, the store healthy
    for lab_id in ids:
        lab = catalogue.get(lab_id)
        if lab.min_nodes > nodes:
            rows.append({"lab": lab_id, "skipped": f"needs {lab.min_nodes} nodes, the store has {nodes}"})
            continue
        t0 = time.monotonic()
        session.start(args.store, lab_id)
        t1 = time.monotonic()
        _, run = session.reset(args.store)
        t2 = time.monotonic()
        result = session.submit(args.store, right_answer(lab, run))
        t3 = time.monotonic()
        start_s, reset_s, submit_s = round(t1 - t0, 1), round(t2 - t1, 1), round(t3 - t2, 1)
        rows.append({"lab": lab_id, "start_s": start_s, "reset_s": reset_s, "submit_s": submit_s,
                     "faults": attempts.fault_types(lab, run.attempt),
                     "score": result.score})
        if not args.json:
            print(f"{lab_id:28} start {start_s:5.1f} s   reset {reset_s:5.1f} s   submit {submit_s:4.1f} s", flush=True)
    session.stop(args.store)
    timed_rows = [r for r in rows if "start_s" in r]
    worst = {k: max((r[k] for r in timed_rows), default=0.0) for k in TARGETS}
    summary = {"store": args.store, "nodes": nodes, "labs": rows, "worst": worst,
               "within": {k: worst[k] <= TARGETS[k] for k in TARGETS}, "targets": TARGETS}
    if args.json:
        print(json.dumps(summary))
    else:
        for r in rows:
            if "skipped" in r:
                print(f"{r['lab']:28} skipped: {r['skipped']}")
        print("worst: " + ", ".join(f"{k.removesuffix('_s')} {worst[k]:.1f} s (target {TARGETS[k]:.0f} s)"
                                    for k in TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
