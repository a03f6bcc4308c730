"""What an idle store costs, per component: CPU share of one core and memory.

    .venv/bin/python bench/idle_store.py --store 4523 [--settle 60] [--window 60] [--json]

The store must be up (`edgelab up --store ID`). After `--settle` seconds the script
reads, for every process inside the store's node containers (seen from the host
through the container's cgroup), its CPU time at the start and the end of a
`--window`-second window, and groups processes by component (API server, etcd,
kubelet, containerd, each workload, ...). Memory is each component's resident set
at the end. Only /proc and `docker inspect` are read; nothing in the store changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from cgroups import container_cpu

from edgelab.store import stores as storelib

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# a process's command line -> the component it belongs to (first match wins)
COMPONENTS = [
    ("kube-apiserver", r"kube-apiserver"),
    ("etcd", r"^etcd"),
    ("kube-controller-manager", r"kube-controller-manager"),
    ("kube-scheduler", r"kube-scheduler"),
    ("kubelet", r"^/usr/bin/kubelet|^kubelet"),
    ("containerd + shims", r"containerd"),
    ("runc (probes, exec)", r"runc"),
    ("kube-proxy", r"kube-proxy"),
    ("pod network", r"kube-router|kindnet|bridge|portmap|host-local|loopback"),
    ("metrics-server", r"metrics-server"),
    ("coredns", r"coredns"),
    ("fault operator", r"kopf|edgelab_operator|fleet-agent|node-agent"),
    ("systemd, journald", r"systemd|journal"),
    ("pause", r"^/pause"),
]


def node_containers(store: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter", f"label=io.x-k8s.kind.cluster="
                          f"{storelib.cluster_name(store)}"], capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def cgroup_of(container: str) -> str:
    cid = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", container], capture_output=True, text=True,
                         check=True).stdout.strip()
    return cid


def pids_in(container_id: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if container_id in (entry / "cgroup").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def sample(pid: int) -> tuple[str, float, int] | None:
    """(command line, CPU seconds so far incl. reaped children, resident bytes)."""
    try:
        cmd = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS  # utime stime cutime cstime
        rss = int(fields[21]) * PAGE
        return cmd, cpu, rss
    except (OSError, IndexError, ValueError):
        return None


def component(cmd: str) -> str:
    for label, pattern in COMPONENTS:
        if re.search(pattern, cmd):
            return label
    if "edgeapp" in cmd:
        return "store workloads (edgeapp)"
    return "other: " + (cmd.split(" ")[0][-40:] or "?")


def measure(store: str, window: float) -> dict:
    containers = node_containers(store)
    ids = [cgroup_of(c) for c in containers]
    before: dict[int, tuple[str, float, int]] = {}
    for cid in ids:
        for pid in pids_in(cid):
            if (s := sample(pid)) is not None:
                before[pid] = s
    t0 = time.monotonic()
    # CPU of processes that start and end inside the window (probes' runc, exec) is caught by the parents'
    # cutime/cstime once reaped; the node's own cgroup total catches everything
    total0 = sum(node_cpu(c, cid) for c, cid in zip(containers, ids, strict=True))
    time.sleep(window)
    elapsed = time.monotonic() - t0
    total1 = sum(node_cpu(c, cid) for c, cid in zip(containers, ids, strict=True))
    cpu: dict[str, float] = defaultdict(float)
    rss: dict[str, int] = defaultdict(int)
    for cid in ids:
        for pid in pids_in(cid):
            s = sample(pid)
            if s is None:
                continue
            cmd, c1, r = s
            name = component(cmd)
            if pid in before:  # seen at both ends
                cpu[name] += c1 - before[pid][1]
            rss[name] += r
    per = {k: round(100 * v / elapsed, 2) for k, v in cpu.items()}
    seen = sum(cpu.values())
    total = total1 - total0
    per["short-lived processes (not seen at both ends)"] = round(100 * max(0.0, total - seen) / elapsed, 2)
    return {
        "store": store,
        "nodes": containers,
        "window_s": round(elapsed, 1),
        "total_pct_of_core": round(100 * total / elapsed, 2),
        "total_rss_mib": round(sum(rss.values()) / 2**20),
        "cpu_pct_of_core": dict(sorted(per.items(), key=lambda kv: -kv[1])),
        "rss_mib": {k: round(v / 2**20) for k, v in sorted(rss.items(), key=lambda kv: -kv[1])},
    }


def node_cpu(container: str, container_id: str) -> float:
    """The node container's whole CPU time in seconds, from the host's cgroup."""
    cpu = container_cpu(container_id)
    if cpu is None:
        raise SystemExit(f"cannot find the cgroup of {container} ({container_id[:12]}) under /sys/fs/cgroup")
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--settle", type=float, default=60, help="seconds to wait before measuring (default 60)")
    ap.add_argument("--window", type=float, default=60, help="seconds measured (default 60)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    time.sleep(args.settle)
    result = measure(args.store, args.window)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"store {result['store']} ({len(result['nodes'])} node(s)), {result['window_s']} s idle: "
          f"{result['total_pct_of_core']} % of a core, {result['total_rss_mib']} MiB resident")
    print("| component | CPU, % of a core | resident MiB |\n|---|---:|---:|")
    for name, pct in result["cpu_pct_of_core"].items():
        print(f"| {name} | {pct} | {result['rss_mib'].get(name, '')} |")


if __name__ == "__main__":
    main()
