#!/usr/bin/env python3
"""Time every fault type on a real 3-node store: inject → symptom visible through the
API, clear → every object restored, clear → store healthy.

Runs the real-cluster fault tests (tests/e2e/test_faults.py), which time each
phase with the same probes they assert with, and prints the table that
docs/faults.md carries. Targets (issue 4): symptom within 20 s (node failure and
OOM state their own, see `symptom_seconds` in the catalogue), healthy again
within 30 s.

    bench/fault_times.py [--store 9105] [--keep] [--json] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="9105", help="store id to use (kept stores are reused)")
    ap.add_argument("--keep", action="store_true", help="leave the store up afterwards")
    ap.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ap.add_argument("-k", default="test_fault_shows_its_symptom", help="pytest -k expression (default: every type)")
    args = ap.parse_args()
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
        env = {**os.environ, "EDGELAB_FAULT_TIMINGS": out.name, "EDGELAB_FAULT_STORE": args.store,
               "EDGELAB_FAULTS_ALL": "1",  # every pair here, also those the lab attempts inject in the suite
               "EDGELAB_KEEP_STORE": "1" if args.keep else "0"}
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests/e2e/test_faults.py", "-q", "-k", args.k,
                               "-p", "no:cacheprovider"], cwd=REPO, env=env, check=False)
        rows = [json.loads(line) for line in Path(out.name).read_text().splitlines() if line.strip()]
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print("| fault type | symptom after | target | reverted in | healthy after clear |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['type']} | {r['symptom_s']:.0f} s | ≤ {r['symptom_target_s']} s | {r['reverted_s']:.0f} s "
                  f"| {r['healthy_s']:.0f} s |")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
