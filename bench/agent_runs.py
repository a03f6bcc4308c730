"""The baseline agent over every lab a store can run, and what a graded run costs beyond the agent's own time
(docs/numbers.md, "Graded runs for programs").

Runs `edgelab bench --agent "python3 agents/baseline.py"` on STORE (made with `edgelab up --store STORE`
first; a 1-node store skips froze-at-1620, a 2- or 3-node store runs it) and prints, from the results
file: per lab whether it passed, its score, the agent's own seconds, the whole run's seconds; then the
pass rate and, over all runs, the overhead of a graded run (the whole run less the agent's own time:
lab start with its store reset, the run's identity, the container, grading) as median and range.
Times are printed, never asserted.

    .venv/bin/python bench/agent_runs.py 4523 [--repeat N] [--labs a,b]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from edgelab.agents import bench as agentbench
from edgelab.agents import run as agentrun

REPO = Path(__file__).resolve().parents[1]
BASELINE = "python3 agents/baseline.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--labs", default=None)
    ap.add_argument("--agent", default=BASELINE)
    args = ap.parse_args()
    out = agentrun.runs_dir().parent / "bench" / f"baseline-{args.store}-{datetime.now(UTC):%Y%m%dT%H%M%S}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(Path(sys.executable).with_name("edgelab")), "bench", "--store", args.store, "--agent", args.agent,
           "--mount", str(REPO), "--repeat", str(args.repeat), "--out", str(out)]
    if args.labs:
        cmd += ["--labs", args.labs]
    subprocess.run(cmd, check=False, cwd=REPO)
    results = agentbench.load(out)
    runs = [line for line in results.lines if isinstance(line, agentbench.RunLine)]
    print("\n| lab | passed | score | agent s | run s |\n|---|---|---|---|---|")
    for r in runs:
        print(f"| {r.lab} | {'yes' if r.passed else 'no'} | {r.score:g} | {r.agent_seconds:.0f} | {r.total_seconds:.0f} |")
    for s in results.lines:
        if isinstance(s, agentbench.SkipLine):
            print(f"| {s.lab} | skipped: {s.skipped} | | | |")
    if not runs:
        return 1
    passed = sum(r.passed for r in runs)
    over = [r.total_seconds - r.agent_seconds for r in runs]
    print(f"\npassed {passed} of {len(runs)} runs ({100 * passed / len(runs):.0f} %) over "
          f"{len({r.lab for r in runs})} labs; agent's own time median {statistics.median(r.agent_seconds for r in runs):.0f} s;"
          f" a graded run's overhead beyond the agent: median {statistics.median(over):.0f} s "
          f"(range {min(over):.0f}-{max(over):.0f} s); whole bench {sum(r.total_seconds for r in runs) / 60:.1f} min")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
