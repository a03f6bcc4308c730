"""The one seam for where a store's nodes run (kube/nodes.py): nothing else runs `docker` or `kind` on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from edgelab.base.paths import REPO
from edgelab.kube import cluster, nodes
from edgelab.store import layout
from edgelab.store import stores as storelib

HARNESS = REPO / "harness" / "edgelab"
SEAM = HARNESS / "kube" / "nodes.py"
# Docker on this machine, not on a store's nodes: the engine's state, images, bundles, the offline build (machine/),
# and the agents' own containers (agents/run.py).
MACHINE_LEVEL = (HARNESS / "machine", HARNESS / "agents" / "run.py")
KIND_VERBS = {("create", "cluster"), ("delete", "cluster"), ("get", "clusters"), ("get", "nodes"),
              ("export", "kubeconfig"), ("load", "docker-image"), ("load", "image-archive")}


def node_commands(path: Path) -> list[str]:
    """Command lines in `path` that run `docker`, or one of kind's cluster verbs, as list or tuple literals."""
    found = []
    for n in ast.walk(ast.parse(path.read_text())):
        if not isinstance(n, ast.List | ast.Tuple) or not n.elts:
            continue
        words = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in n.elts]
        if words[0] == "docker" or any(pair in KIND_VERBS for pair in zip(words, words[1:], strict=False)):
            found.append(f"{path.relative_to(REPO)}:{n.lineno}")
    return found


def test_the_seam_is_where_the_node_commands_are() -> None:
    assert len(node_commands(SEAM)) >= 10  # the scan sees them: docker ps/exec/cp/update/pause/..., kind's verbs


def test_no_module_but_the_seam_and_the_machine_runs_docker_or_kind_on_nodes() -> None:
    outside = [f for f in sorted(HARNESS.rglob("*.py"))
               if f != SEAM and not any(f == m or f.is_relative_to(m) for m in MACHINE_LEVEL)]
    assert len(outside) > 40
    assert [hit for f in outside for hit in node_commands(f)] == []


def test_stores_get_their_provider_from_one_place() -> None:
    assert isinstance(storelib.provider_for("4523"), nodes.DockerKind)
    assert isinstance(storelib.provider_for(None), nodes.DockerKind)  # every store's: listing them
    assert storelib.provider_for("4523", Path("/opt/kind")).kind == Path("/opt/kind")
    with pytest.raises(layout.StoreError):
        storelib.provider_for("../x")


def test_listing_the_nodes_of_a_cluster_of_no_store_is_not_an_error() -> None:
    assert isinstance(storelib._cluster_provider("kind-scratch"), nodes.DockerKind)
    assert isinstance(storelib._cluster_provider("store-4523"), nodes.DockerKind)


def spec(provider: nodes.NodeProvider | None) -> cluster.ClusterSpec:
    return cluster.ClusterSpec(name="store-4523", workers=0, node_image="kindest/node", kind=Path("/opt/kind"),
                               kubectl=Path("/opt/kubectl"), kubeconfig=Path("/tmp/kubeconfig"), provider=provider)


def test_a_cluster_runs_on_its_specs_provider_else_kind_on_docker() -> None:
    mine = nodes.DockerKind(Path("/elsewhere/kind"))
    assert cluster.nodes_of(spec(mine)) is mine
    default = cluster.nodes_of(spec(None))
    assert isinstance(default, nodes.DockerKind) and default.kind == Path("/opt/kind")
