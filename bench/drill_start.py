"""Measure `edgelab drill start` for N 1-node stores (docs/numbers.md, "Drills").

For each N given (default 2 and 4): a plan with N stores (ids 9141…), one
responder per store and a lab at t+0 on each; times `drill start` when no
store is up (cold: every store made), the clock's injection of every first
incident, `drill stop`, then `drill start` again with the stores up (warm:
reused, only reset), the memory the stores' nodes use meanwhile, and `drill
stop`. The stores are deleted at the end. Times are printed, never asserted.

    .venv/bin/python bench/drill_start.py 2 4
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from edgelab.drill import drills as drill
from edgelab.machine import prepare
from edgelab.store import stores as storelib

FIRST = 9141


def plan(n: int) -> dict:
    ids = [str(FIRST + i) for i in range(n)]
    return {"apiVersion": "edgelab/v1", "kind": "Drill", "name": f"bench-{n}", "title": f"{n} stores",
            "stores": [{"id": s, "nodes": 1} for s in ids],
            "responders": [{"name": f"r{s}", "store": s} for s in ids],
            "timeline": [{"at": "0s", "store": s, "lab": "pos-down-4523"} for s in ids]}


def edgelab(*args: str) -> str:
    exe = Path(sys.executable).with_name("edgelab")
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"edgelab {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def all_injected(folder: Path) -> float:
    t0 = time.monotonic()
    while True:
        st = drill.read(folder)
        if all(i["injected_at"] or i["error"] for i in st["incidents"]):
            return time.monotonic() - t0
        time.sleep(1)


def node_memory_gib() -> float:
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
                         capture_output=True, text=True, check=True).stdout
    total = 0.0
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        if name.startswith(f"store-{str(FIRST)[:3]}"):
            used = usage.split("/")[0].strip()
            num = float(used[:-3])
            total += num / 1024 if used.endswith("MiB") else num
    return total


def main(sizes: list[int]) -> None:
    artifacts = prepare.setup()
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "plan.yaml"
            path.write_text(yaml.safe_dump(plan(n)))
            t0 = time.monotonic()
            folder = Path(json.loads(edgelab("drill", "start", str(path), "--json"))["folder"])
            cold = time.monotonic() - t0
            inject = all_injected(folder)
            mem = node_memory_gib()
            t0 = time.monotonic()
            edgelab("drill", "stop", "--json")
            stop = time.monotonic() - t0
            t0 = time.monotonic()
            folder = Path(json.loads(edgelab("drill", "start", str(path), "--json"))["folder"])
            warm = time.monotonic() - t0
            inject_warm = all_injected(folder)
            edgelab("drill", "stop", "--json")
        rows.append((n, cold, inject, warm, inject_warm, stop, mem))
        for i in range(n):
            storelib.down(str(FIRST + i), artifacts)
    print("| stores (1 node) | `drill start`, stores made | all incidents begun after | `drill start`, stores up | "
          "all begun after | `drill stop` | nodes' memory during the drill |\n|---|---|---|---|---|---|---|")
    for n, cold, inject, warm, inject_warm, stop, mem in rows:
        print(f"| {n} | {cold:.0f} s | {inject:.0f} s | {warm:.0f} s | {inject_warm:.0f} s | {stop:.0f} s | "
              f"{mem:.1f} GiB |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2, 4])
