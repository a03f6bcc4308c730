"""One real kind cluster (1 control plane + 2 workers) shared by every e2e test.

The cluster comes from pytest-kind's `KindCluster`, handed our own kind,
kubectl and node image (it would otherwise download them, which fails on
machines without a registry), then finished by `edgelab.cluster.finish`
(pod network, metrics-server, test image). `--keep-cluster` (pytest-kind's
flag) keeps it for the next run, which then reuses it.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config
from pytest_kind import KindCluster

from edgelab import cluster as edgecluster
from edgelab.machine import Artifacts, setup

WORKERS = 2


@dataclass
class E2ECluster:
    name: str
    kubeconfig: Path
    control_plane: str
    workers: list[str]
    test_image: str
    artifacts: Artifacts

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.artifacts.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def docker_exec(self, node: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", node, *cmd], capture_output=True, text=True, timeout=60, check=False)


def _progress(step: str, state: str, seconds: float) -> None:
    if state in ("start", "cached"):
        return
    print(f"[edgelab] {step}: {state}" + (f" ({seconds:.0f}s)" if seconds else ""), file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[E2ECluster]:
    artifacts = setup(report=_progress)
    name = request.config.getoption("cluster_name")
    if name == "pytest-kind":  # pytest-kind's default; ours is more telling in `docker ps`
        name = "edgelab-e2e"
    keep = request.config.getoption("keep_cluster")
    kind = KindCluster(name, image=artifacts.node_image, kind_path=artifacts.kind, kubectl_path=artifacts.kubectl)
    spec = edgecluster.ClusterSpec(
        name=name,
        workers=WORKERS,
        node_image=artifacts.node_image,
        kind=artifacts.kind,
        kubectl=artifacts.kubectl,
        kubeconfig=kind.kubeconfig_path.resolve(),
        load_images=(artifacts.python_base_image,),
    )
    say = lambda m: print(f"[edgelab] {m}", file=sys.__stderr__, flush=True)  # noqa: E731
    if edgecluster.exists(spec) and not edgecluster.api_answers(spec):
        say(f"deleting stale cluster {name} left by an interrupted run")
        edgecluster.delete(spec)
    config_file = edgecluster.write_kind_config(edgecluster.kind_config(WORKERS), kind.path / "kind.yaml")
    try:
        kind.create(config_file=config_file)
        edgecluster.finish(spec, say)
    except BaseException:
        if not keep:
            kind.delete()
        raise
    nodes = sorted(spec.name + suffix for suffix in ["-control-plane", "-worker", "-worker2"][: WORKERS + 1])
    yield E2ECluster(
        name=name,
        kubeconfig=spec.kubeconfig,
        control_plane=f"{name}-control-plane",
        workers=[n for n in nodes if "-worker" in n],
        test_image=artifacts.python_base_image,
        artifacts=artifacts,
    )
    if not keep:
        kind.delete()


@pytest.fixture(scope="session")
def api_client(cluster: E2ECluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def networking(api_client: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"created-by": "edgelab-tests"}}})
    yield name
    core.delete_namespace(name, grace_period_seconds=0)


@pytest.fixture(scope="session")
def store3() -> Iterator[str]:
    """One real 3-node store for the fault and lab tests (made, or reused when kept).

    EDGELAB_FAULT_STORE picks its id (default 9105); EDGELAB_KEEP_STORE=1 leaves it up.
    """
    import os

    from edgelab import store as storelib

    store_id = os.environ.get("EDGELAB_FAULT_STORE", "9105")
    artifacts = setup(report=_progress)
    storelib.up(store_id, 3, None, artifacts, say=lambda m: print(f"[store {store_id}] {m}", file=sys.__stderr__,
                                                                  flush=True))
    try:
        yield store_id
    finally:
        if os.environ.get("EDGELAB_KEEP_STORE") != "1":
            storelib.down(store_id, artifacts)
