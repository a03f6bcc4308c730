#!/usr/bin/env python3
"""Lab switch time on a running store: `lab start B` while lab A runs (reset included:
A's faults reverted, store healthy, B's faults injected, start marked). Target < 30 s.

    bench/lab_switch.py --store 4523 [--labs cannot-reach-store-system,slower-since-eleven,payment-slow] [--json]

The store must be up (edgelab up --store N --nodes 3 for froze-at-1620).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from edgelab.labs import session
from edgelab.machine.prepare import setup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="4523")
    ap.add_argument("--labs", default="cannot-reach-store-system,slower-since-eleven,payment-slow,amber-since-six,pos-down-4523")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    setup()  # the machine is prepared (the store was brought up with it)
    rows = []
    for lab in args.labs.split(","):
        t0 = time.monotonic()
        session.start(args.store, lab)
        rows.append({"lab": lab, "switch_s": round(time.monotonic() - t0, 1)})
        if not args.json:
            print(f"{lab:26} started in {rows[-1]['switch_s']:5.1f} s (reset of the previous lab included)")
    t0 = time.monotonic()
    session.stop(args.store)
    rows.append({"lab": "(stop)", "switch_s": round(time.monotonic() - t0, 1)})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'stop':26} store healthy in {rows[-1]['switch_s']:5.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
