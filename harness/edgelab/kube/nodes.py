"""Where a store's nodes run: the one seam between edgelab and the containers that are its nodes.

Modelled on kind's own `Provider` (kind/pkg/cluster/internal/providers/provider.go: Provision,
ListClusters, ListNodes, DeleteNodes, ...) and its `nodes.Node` (a command run in a node): making a
cluster's nodes, listing and deleting them, running a command in one, copying out of or into it,
pausing, stopping and capping it all go through a `NodeProvider`. Nothing outside this module
runs `docker` or `kind` against a store's nodes; machine-level Docker (images, bundles, the offline
build, the engine's state) stays in `edgelab.machine`.

`DockerKind` is the one there is: kind makes the cluster, the Docker engine runs its nodes. The
command lines, timeouts and error messages are the ones edgelab always used. A store gets its
provider from `edgelab.store.stores.provider_for`; a cluster made from a `ClusterSpec`, from the
spec (`kube.cluster.provider`), so another provider is added here and chosen there, without
touching stores, labs or drills.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from edgelab.base.errors import ClusterError
from edgelab.kube.proc import run
from edgelab.machine import record

KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # what kind labels each node container with


class NodeProvider(Protocol):
    """A store's nodes: the cluster they make up, and each node as something to run commands in."""

    def provision(self, cluster: str, image: str, config: Path, kubeconfig: Path) -> None:
        """Make cluster `cluster`'s nodes from node image `image` and kind config file `config`, left for
        inspection when it fails; write its admin kubeconfig to `kubeconfig`."""
        ...

    def list_clusters(self) -> list[str]:
        """The clusters this provider runs."""
        ...

    def list_nodes(self, cluster: str) -> list[str]:
        """The names of cluster `cluster`'s running nodes, sorted; [] when it has none."""
        ...

    def delete_cluster(self, cluster: str, kubeconfig: Path | None = None) -> None:
        """Delete every node of `cluster` (and its entry in `kubeconfig`, when given)."""
        ...

    def export_kubeconfig(self, cluster: str, kubeconfig: Path) -> None:
        """Write `cluster`'s admin kubeconfig to `kubeconfig` again."""
        ...

    def load_images(self, cluster: str, images: Sequence[str]) -> None:
        """Copy these images of this machine into every node of `cluster`."""
        ...

    def exec(self, node: str, argv: Sequence[str], *, input_text: str | None = None, timeout: float = 300,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `argv` in node `node` (with `input_text` on its stdin); ClusterError when it fails and `check`."""
        ...

    def copy_out(self, node: str, path: str) -> subprocess.Popen[bytes]:
        """Start copying folder or file `path` out of node `node`: a tar stream on the process's stdout, what went
        wrong on its stderr."""
        ...

    def copy_in(self, node: str, src: Path, path: str) -> None:
        """Copy file or folder `src` of this machine to `path` in node `node`."""
        ...

    def set_limits(self, node: str, cpus: float, memory_bytes: int) -> None:
        """Cap node `node` at `cpus` CPUs and `memory_bytes` of memory (no swap beyond it)."""
        ...

    def pause(self, node: str) -> None:
        """Freeze every process of node `node` (it keeps its state); `unpause` thaws them."""
        ...

    def unpause(self, node: str) -> None: ...

    def stop(self, node: str) -> None:
        """Stop node `node` (its disk is kept); `start` starts it again."""
        ...

    def start(self, node: str) -> None: ...


class DockerKind:
    """kind's clusters on the Docker engine: `kind` for the cluster, `docker` for each node."""

    def __init__(self, kind: Path | None = None) -> None:
        self._kind = kind

    @property
    def kind(self) -> Path:
        """The kind binary: the one given, else this machine's recorded one (`edgelab setup`)."""
        if self._kind is None:  # asked only when kind itself runs: listing or capping nodes needs no set-up record
            self._kind = record.current().kind
        return self._kind

    def provision(self, cluster: str, image: str, config: Path, kubeconfig: Path) -> None:
        run([self.kind, "create", "cluster", "--name", cluster, "--image", image, "--config", config,
             "--kubeconfig", kubeconfig, "--retain"], timeout=600)

    def list_clusters(self) -> list[str]:
        return run([self.kind, "get", "clusters"]).stdout.split()

    def list_nodes(self, cluster: str) -> list[str]:
        out = run(["docker", "ps", "--filter", f"label={KIND_CLUSTER_LABEL}={cluster}", "--format", "{{.Names}}"]).stdout
        return sorted(out.split())

    def delete_cluster(self, cluster: str, kubeconfig: Path | None = None) -> None:
        cmd: list[str | Path] = [self.kind, "delete", "cluster", "--name", cluster]
        if kubeconfig is not None:
            cmd += ["--kubeconfig", kubeconfig]
        run(cmd, timeout=180)

    def export_kubeconfig(self, cluster: str, kubeconfig: Path) -> None:
        run([self.kind, "export", "kubeconfig", "--name", cluster, "--kubeconfig", kubeconfig])

    def load_images(self, cluster: str, images: Sequence[str]) -> None:
        run([self.kind, "load", "docker-image", "--name", cluster, *images], timeout=300)

    def exec(self, node: str, argv: Sequence[str], *, input_text: str | None = None, timeout: float = 300,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        stdin = ["-i"] if input_text is not None else []
        return run(["docker", "exec", *stdin, node, *argv], input_text=input_text, timeout=timeout, check=check)

    def copy_out(self, node: str, path: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["docker", "cp", f"{node}:{path}", "-"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def copy_in(self, node: str, src: Path, path: str) -> None:
        run(["docker", "cp", src, f"{node}:{path}"])

    def set_limits(self, node: str, cpus: float, memory_bytes: int) -> None:
        mem = str(memory_bytes)
        proc = subprocess.run(["docker", "update", "--cpus", f"{cpus:g}", "--memory", mem, "--memory-swap", mem, node],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"cannot cap node {node}: {proc.stderr.strip()}")

    def pause(self, node: str) -> None:
        run(["docker", "pause", node], timeout=60)

    def unpause(self, node: str) -> None:
        run(["docker", "unpause", node], timeout=60)

    def stop(self, node: str) -> None:
        run(["docker", "stop", node], timeout=120)

    def start(self, node: str) -> None:
        run(["docker", "start", node], timeout=120)
