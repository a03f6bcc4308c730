"""Measure what docs/numbers.md reports: build, set-up, cluster and memory numbers.

    .venv/bin/python bench/cluster_times.py [--cold] [--stores] [--nodes 1 3] [--json]

- warm `edgelab setup` (everything cached): the time before tests can start;
- `--cold`: the whole offline build from nothing, in throwaway caches
  (EDGELAB_CACHE, GOCACHE, GOMODCACHE under a temporary folder; the final
  images are rebuilt under new cache tags, so the machine's own cache stays);
- bare `kind create cluster` for each node count (our node image and kind
  config, no add-ons), then `edgelab cluster up` on the same machine, same run;
- memory of each node container right after `up` (docker stats);
- `--stores`: `edgelab up --store` for each node count, each of its steps (from one progress line to the
  next: what it does and what it waits for) and a running store's memory.
Numbers go to stdout as a Markdown table (or JSON); copy them into the docs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgelab.kube import cluster as clusterlib
from edgelab.machine.prepare import setup
from edgelab.store import stores as storelib

BENCH = "edgelab-bench"
STORE = "9900"


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


class Steps:
    """A progress callback that keeps when each line was said; a step lasts until the next line."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        self.marks.append((time.monotonic(), message))

    def rows(self, end: float, prefix: str) -> list[tuple[str, float]]:
        ends = [t for t, _ in self.marks[1:]] + [end]
        return [(f"{prefix}{message}", stop - start) for (start, message), stop in zip(self.marks, ends, strict=True)]


def node_memory(name: str) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"],
        capture_output=True, text=True, check=True,
    ).stdout
    return {line.split()[0]: line.split(" ", 1)[1].split(" /")[0] for line in out.splitlines() if line.startswith(name + "-")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="also time a whole offline build in empty caches")
    ap.add_argument("--nodes", type=int, nargs="*", default=[1, 3])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--stores", action="store_true", help="also time `edgelab up --store` and store memory")
    args = ap.parse_args()
    rows: list[tuple[str, float | str]] = []

    if args.cold:
        with tempfile.TemporaryDirectory(prefix="edgelab-cold-") as tmp:
            env = {"EDGELAB_CACHE": f"{tmp}/cache", "GOCACHE": f"{tmp}/gocache", "GOMODCACHE": f"{tmp}/gomod"}
            t = timed(lambda: subprocess.run([sys.executable, "-c", "from edgelab.machine.offline import build; build()"],
                                             env={**os.environ, **env}, check=True))
            subprocess.run(["chmod", "-R", "u+w", tmp], check=False)  # Go's module cache is read-only
            rows.append(("cold offline build (empty caches)", t))

    artifacts = None

    def warm_setup() -> None:
        nonlocal artifacts
        artifacts = setup()

    rows.append(("warm `edgelab setup` (all cached)", timed(warm_setup)))
    assert artifacts is not None
    for nodes in args.nodes:
        spec = clusterlib.ClusterSpec(
            name=BENCH, workers=nodes - 1, node_image=artifacts.node_image, kind=artifacts.kind,
            kubectl=artifacts.kubectl, kubeconfig=Path(tempfile.mkdtemp()) / "kubeconfig",
            load_images=(artifacts.python_base_image,),
        )
        if clusterlib.exists(spec):
            clusterlib.delete(spec)
        rows.append((f"bare `kind create cluster`, {nodes} node(s)",
                     timed(lambda s=spec: clusterlib.create_kind_cluster(s, lambda _: None))))
        rows.append((f"`kind delete cluster`, {nodes} node(s)", timed(lambda s=spec: clusterlib.delete(s))))
        rows.append((f"`edgelab cluster up`, {nodes} node(s) (network, metrics, test image)",
                     timed(lambda s=spec: clusterlib.create(s))))
        for node, mem in sorted(node_memory(BENCH).items()):
            rows.append((f"memory, {nodes}-node cluster: {node.removeprefix(BENCH + '-')}", mem))
        clusterlib.delete(spec)
        if args.stores:
            storelib.down(STORE, artifacts)
            steps = Steps()
            rows.append((f"`edgelab up --store`, {nodes} node(s) (store deployed, learner issued, order rung up)",
                         timed(lambda n=nodes, say=steps: storelib.up(STORE, n, None, artifacts, say=say))))
            rows += steps.rows(time.monotonic(), f"  {nodes} node(s), step: ")
            name = storelib.cluster_name(STORE)
            for node, mem in sorted(node_memory(name).items()):
                rows.append((f"memory, {nodes}-node store: {node.removeprefix(name + '-')}", mem))
            storelib.down(STORE, artifacts)

    if args.json:
        print(json.dumps({k: v for k, v in rows}, indent=2))
    else:
        print("| measure | value |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v:.0f} s |" if isinstance(v, float) else f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
