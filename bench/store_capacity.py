#!/usr/bin/env python3
"""What the running stores use and how many more fit: per kind cluster, the memory and CPU of its
node containers (`docker stats`, read only; any kind cluster on this Docker, ours or not), then how
many more 1-node and 3-node stores fit in Docker's memory by the rule `edgelab up` applies
(harness/edgelab/machine/capacity.py, with the measured per-node figures of manifests/profiles.yaml).

    bench/store_capacity.py [--samples 1] [--interval 10] [--profile edge-small] [--json]

With --samples N it reads N times, --interval seconds apart, and reports each node's mean and peak,
plus the host's CPU busy share over that time (Linux: /proc/stat). Nothing is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from edgelab.machine import capacity
from edgelab.machine import docker as engine
from edgelab.machine.capacity import GiB, MiB
from edgelab.store import stores as storelib


def cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole host, or None where /proc/stat is not there."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return None
    fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--profile", default=None, help="profile of the stores counted as 'more' (default: the default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    st = engine.require()
    prof = storelib.profile(args.profile)
    need = storelib.node_need()
    rounds: list[list[capacity.NodeUse]] = []
    start = cpu_times()
    for i in range(max(1, args.samples)):
        if i:
            time.sleep(args.interval)
        rounds.append(capacity.running_nodes())
    end = cpu_times()
    host_busy = None
    if start and end and end[1] > start[1]:
        host_busy = round(100 * (end[0] - start[0]) / (end[1] - start[1]), 1)

    mem: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    cpu: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in rounds:
        for n in r:
            mem[(n.cluster, n.node, n.role)].append(n.memory_bytes)
            cpu[(n.cluster, n.node, n.role)].append(n.cpu_percent)
    nodes: list[dict[str, str | int | float]] = []
    clusters: dict[str, dict[str, float]] = {}
    for (c, node, role), v in sorted(mem.items()):
        memory_peak, cpu_mean = round(max(v) / MiB), round(sum(cpu[(c, node, role)]) / len(v), 1)
        nodes.append({"cluster": c, "node": node, "role": role,
                      "memory_mib_mean": round(sum(v) / len(v) / MiB), "memory_mib_peak": memory_peak,
                      "cpu_percent_mean": cpu_mean, "cpu_percent_peak": round(max(cpu[(c, node, role)]), 1)})
        total = clusters.setdefault(c, {"nodes": 0, "memory_mib_peak": 0, "cpu_percent_mean": 0.0})
        total["nodes"] += 1
        total["memory_mib_peak"] += float(memory_peak)
        total["cpu_percent_mean"] = round(total["cpu_percent_mean"] + cpu_mean, 1)
    latest = rounds[-1]
    one, three = need.store(1, prof.memory_bytes), need.store(3, prof.memory_bytes)
    report = {
        "engine": {"cpus": st.cpus, "memory_gib": round(st.memory_bytes / GiB, 1),
                   "kept_free_gib": round(capacity.margin(st.memory_bytes) / GiB, 1)},
        "samples": len(rounds), "interval_s": args.interval, "host_cpu_busy_percent": host_busy,
        "nodes": nodes, "clusters": clusters,
        "running_mib": round(sum(n.memory_bytes for n in latest) / MiB),
        "need": {"profile": prof.name, "one_node_store_mib": round(one / MiB), "three_node_store_mib": round(three / MiB),
                 "measured": need.measured},
        "more_fit": {"one_node": capacity.how_many_more(latest, st.memory_bytes, one),
                     "three_node": capacity.how_many_more(latest, st.memory_bytes, three)},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    e = report["engine"]
    print(f"Docker: {e['cpus']} CPUs, {e['memory_gib']} GiB; {e['kept_free_gib']} GiB kept free")
    print(f"{len(rounds)} sample(s), {args.interval:g} s apart; host CPU busy {host_busy}% of {e['cpus']} cores")
    print(f"{'cluster':18} {'node':32} {'role':14} {'MiB mean':>9} {'MiB peak':>9} {'CPU% mean':>9} {'CPU% peak':>9}")
    for row in nodes:
        print(f"{row['cluster']:18} {row['node']:32} {row['role']:14} {row['memory_mib_mean']:>9} "
              f"{row['memory_mib_peak']:>9} {row['cpu_percent_mean']:>9} {row['cpu_percent_peak']:>9}")
    for name, total in clusters.items():
        print(f"store/cluster {name}: {total['nodes']:.0f} node(s), {total['memory_mib_peak']:.0f} MiB at peak, "
              f"{total['cpu_percent_mean']}% of a core on average")
    print(f"running now (last sample): {report['running_mib']} MiB in {len({n.cluster for n in latest})} cluster(s)")
    print(f"a new {prof.name} store needs {round(one / MiB)} MiB (1 node) or {round(three / MiB)} MiB (3 nodes), "
          f"measured {need.measured}")
    print(f"more that fit by memory: {report['more_fit']['one_node']} one-node or "
          f"{report['more_fit']['three_node']} three-node store(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
