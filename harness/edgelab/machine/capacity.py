"""How many stores this machine carries: what running stores' nodes really use, what a new one needs.

The decision (`fit`) is a pure function of three readings: the running kind nodes' memory
(`docker stats`), Docker's memory (`docker.require()`), and what the new store needs (a
figure measured on our machines, manifests/profiles.yaml `node_use`). Reading Docker is
separate (`running_nodes`), so the rule is unit-tested without a daemon.

Memory decides, not CPU: a node over its memory is killed (the kernel's OOM killer, in the
node or on the host), while a node short of CPU is only slower. docs/numbers.md has what 2
cores carry.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edgelab.base.errors import EdgelabError

KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"
KIND_ROLE_LABEL = "io.x-k8s.kind.role"
READ_ATTEMPTS = 3  # reads of the running nodes before giving up (nodes come and go while others are made)
GiB = 1 << 30
MiB = 1 << 20


class CapacityError(EdgelabError):
    """Docker's own view of the running nodes could not be read."""


@dataclass(frozen=True)
class NodeUse:
    """One running kind node container: whose, its role, what it uses now."""
    cluster: str
    node: str
    role: str
    memory_bytes: int
    cpu_percent: float  # of one core, as docker stats counts (200 % = 2 cores busy)


@dataclass(frozen=True)
class NodeNeed:
    """What one node of a new store uses at its peak (measured), by role."""
    one_node: int       # the single node of a 1-node store: control plane and every workload
    control_plane: int  # the control plane of a 2- or 3-node store
    worker: int         # each worker of a 2- or 3-node store
    measured: str       # when and how the figures were measured

    def store(self, nodes: int, cap_bytes: int) -> int:
        """A new store of `nodes` nodes; no node uses more than its cap (the profile's box)."""
        if nodes == 1:
            return min(self.one_node, cap_bytes)
        return min(self.control_plane, cap_bytes) + (nodes - 1) * min(self.worker, cap_bytes)


def margin(engine_bytes: int) -> int:
    """Memory kept free for Docker itself, the host's own processes, edgelab and the learner's tools:
    a tenth of Docker's memory, at least 2 GiB."""
    return max(2 * GiB, engine_bytes // 10)


@dataclass(frozen=True)
class Fit:
    fits: bool
    engine_bytes: int
    margin_bytes: int
    running_bytes: int
    needed_bytes: int
    by_cluster: dict[str, int]

    @property
    def short_bytes(self) -> int:
        return max(0, self.running_bytes + self.needed_bytes - (self.engine_bytes - self.margin_bytes))

    def reason(self, what: str) -> str:
        running = ", ".join(f"{c} {gib(b)}" for c, b in sorted(self.by_cluster.items())) or "none"
        return (f"{what} needs about {gib(self.needed_bytes)}; the {len(self.by_cluster)} kind cluster(s) already "
                f"running use {gib(self.running_bytes)} ({running}); Docker has {gib(self.engine_bytes)} and "
                f"{gib(self.margin_bytes)} stays free for Docker and the host: {gib(self.short_bytes)} short")


def gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"


def fit(running: Sequence[NodeUse], engine_bytes: int, needed_bytes: int) -> Fit:
    """Does a new store needing `needed_bytes` fit beside the `running` nodes in Docker's `engine_bytes`,
    keeping `margin`? An unknown engine memory (0) fits: there is nothing to judge against."""
    by_cluster: dict[str, int] = {}
    for n in running:
        by_cluster[n.cluster] = by_cluster.get(n.cluster, 0) + n.memory_bytes
    total = sum(by_cluster.values())
    keep = margin(engine_bytes)
    fits = engine_bytes <= 0 or total + needed_bytes <= engine_bytes - keep
    return Fit(fits, engine_bytes, keep, total, needed_bytes, by_cluster)


def how_many_more(running: Sequence[NodeUse], engine_bytes: int, per_store_bytes: int) -> int:
    """How many more stores of `per_store_bytes` each fit beside `running` (the same rule as `fit`)."""
    if per_store_bytes <= 0 or engine_bytes <= 0:
        return 0
    free = engine_bytes - margin(engine_bytes) - sum(n.memory_bytes for n in running)
    return max(0, free // per_store_bytes)


# --- reading Docker ---------------------------------------------------------------------------

_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": MiB, "GiB": GiB, "TiB": 1 << 40,
          "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(text: str) -> int:
    """docker stats' sizes: `1.135GiB`, `512MiB`, `0B`."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]+)\s*", text)
    if not m or m.group(2) not in _UNITS:
        raise CapacityError(f"cannot read the size {text!r} from docker stats")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_stats(ps_lines: str, stats_lines: str) -> list[NodeUse]:
    """`docker ps --format '{{.ID}} {{.Names}} cluster role'` rows joined with `docker stats --format json` rows."""
    labels: dict[str, tuple[str, str]] = {}
    for line in ps_lines.splitlines():
        if line.strip():
            _, name, cluster, role = (line.split() + ["", "", "", ""])[:4]
            labels[name] = (cluster, role)
    out = []
    for line in stats_lines.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        name = row["Name"]
        if name not in labels:
            continue
        used = parse_size(row["MemUsage"].split("/")[0])
        cpu = float(row["CPUPerc"].rstrip("%") or 0)
        out.append(NodeUse(labels[name][0], name, labels[name][1], used, cpu))
    return sorted(out, key=lambda n: (n.cluster, n.node))


def running_nodes() -> list[NodeUse]:
    """Every running kind node container on this Docker engine (any cluster, ours or not) and what it uses now.

    Reads only (`docker ps`, `docker stats --no-stream`)."""
    def docker(*args: str) -> str:
        try:
            proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CapacityError(f"cannot read the running kind nodes: {e}") from e
        if proc.returncode != 0:
            raise CapacityError(f"cannot read the running kind nodes: `docker {' '.join(args)}` failed: "
                                f"{proc.stderr.strip()[-500:]}")
        return proc.stdout

    for attempt in range(1, READ_ATTEMPTS + 1):
        ps = docker("ps", "--filter", f"label={KIND_CLUSTER_LABEL}", "--format",
                    f'{{{{.ID}}}} {{{{.Names}}}} {{{{.Label "{KIND_CLUSTER_LABEL}"}}}} {{{{.Label "{KIND_ROLE_LABEL}"}}}}')
        names = [line.split()[1] for line in ps.splitlines() if line.strip()]
        if not names:
            return []
        try:
            return parse_stats(ps, docker("stats", "--no-stream", "--format", "{{json .}}", *names))
        except CapacityError:
            # a node listed a moment ago was stopped or removed since (another store going down or being made
            # again): `docker stats` then fails with "EOF". List again.
            if attempt == READ_ATTEMPTS:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")
