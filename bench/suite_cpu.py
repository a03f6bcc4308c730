"""Where a run's CPU goes: inside the stores' node containers, or on the host (pytest, kubectl, the CLI).

    .venv/bin/python bench/suite_cpu.py -- make test          # or any command
    .venv/bin/python bench/suite_cpu.py --json -- make test

Every 5 s it reads the machine's CPU time (/proc/stat) and each running container's
CPU time from its cgroup (cgroup v1 cpuacct or v2 cpu.stat), keeping each container's
last reading (a container deleted between two readings loses at most 5 s). At the end
it prints the machine's CPU time, the part used inside kind node containers (grouped
by cluster), and the rest; and how many clusters were alive, on average and at most.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from cgroups import container_cpu

TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds the machine has spent not idle, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


def running() -> dict[str, str]:
    """Running containers: id -> kind cluster name (or the container's name)."""
    out = subprocess.run(["docker", "ps", "--no-trunc", "--format",
                          '{{.ID}} {{.Label "io.x-k8s.kind.cluster"}} {{.Names}}'],
                         capture_output=True, text=True, check=False).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = f"kind:{parts[1]}"
        elif len(parts) == 2:
            found[parts[0]] = parts[1]
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to measure after --")
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    owner: dict[str, str] = {}
    alive: list[int] = []
    done = threading.Event()

    def sample() -> None:
        now = running()
        clusters = {owner_ for owner_ in now.values() if owner_.startswith("kind:")}
        alive.append(len(clusters))
        for cid, who in now.items():
            cpu = container_cpu(cid)
            if cpu is None:
                continue
            owner[cid] = who
            first.setdefault(cid, cpu if cid in seen_at_start else 0.0)
            last[cid] = cpu

    seen_at_start = set(running())

    def loop() -> None:
        while not done.wait(args.every):
            sample()

    busy0, t0 = machine_busy(), time.monotonic()
    sample()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    rc = subprocess.call(command)
    done.set()
    thread.join()
    sample()
    wall, busy = time.monotonic() - t0, machine_busy() - busy0
    per: dict[str, float] = defaultdict(float)
    for cid, cpu in last.items():
        per[owner[cid]] += cpu - first[cid]
    in_nodes = sum(v for k, v in per.items() if k.startswith("kind:"))
    other_containers = sum(v for k, v in per.items() if not k.startswith("kind:"))
    per_cluster = {k: round(v / 60, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1])}
    result = {
        "command": " ".join(command), "exit": rc, "wall_min": round(wall / 60, 1),
        "cores": os.cpu_count(), "machine_busy_core_min": round(busy / 60, 1),
        "in_kind_nodes_core_min": round(in_nodes / 60, 1),
        "in_other_containers_core_min": round(other_containers / 60, 1),
        "on_the_host_core_min": round((busy - in_nodes - other_containers) / 60, 1),
        "clusters_alive_mean": round(sum(alive) / max(1, len(alive)), 1), "clusters_alive_max": max(alive or [0]),
        "per_cluster_core_min": per_cluster,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "per_cluster_core_min":
                print(f"{key}: {value}")
        for who, v in per_cluster.items():
            print(f"  {v:7.2f} core-min  {who}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
