"""`edgelab up/status/down` on real stores, through the CLI: a 1-node store brought up after a real Ctrl-C
half-way through an earlier `up`, converging and coming down; and the shared 3-node store (`store3`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import prepared
import pytest
from typer.testing import CliRunner
from waiting import Unmet, wait_for

from edgelab.cli import app
from edgelab.kube import audit
from edgelab.store import stores as storelib

runner = CliRunner()
EDGELAB = str(Path(sys.executable).with_name("edgelab"))
HALF_WAY = "deploying the store"  # the cluster exists, the workloads are on their way

EXPECTED = {
    "pos": {"pos-backend": 3, "pos-frontend": 2},
    "payment": {"payment-processor": 2},
    "order": {"order-service": 2},
}


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def node_containers(store: str) -> list[str]:
    return storelib.node_containers(storelib.cluster_name(store))


def assert_store_healthy(status: dict, nodes: int) -> None:
    assert status["exists"] and status["healthy"], status["unhealthy"]
    assert len(status["nodes"]) == nodes and all(n["ready"] for n in status["nodes"])
    for ns, want in EXPECTED.items():
        got = {d["name"]: (d["ready"], d["replicas"]) for d in status["deployments"][ns]}
        for name, replicas in want.items():
            assert got[name] == (replicas, replicas), f"{ns}/{name} READY {got.get(name)}"
    observability = {d["name"] for d in status["deployments"]["observability"]}
    assert {"hyperdx", "clickhouse"} <= observability


def assert_the_store_is_itself(store: str, order: str) -> None:
    """The order the chain rang up carries this store's id (not the manifests' 4523), and pos-backend logged it."""
    order_id = json.loads(order)["order_id"]
    assert order_id.startswith(f"{store}-"), f"store {store} rang up order {order_id}"
    k = storelib.cluster.Kubectl(prepared.artifacts().kubectl, storelib.paths(store).admin_kubeconfig)

    def logged() -> str | Unmet:
        out = k("-n", "pos", "logs", "-l", "app=pos-backend", "--tail=-1", "--prefix").stdout
        return next((line for line in out.splitlines() if f"order {order_id} rung up" in line), None) \
            or Unmet(out[-1500:])

    wait_for(logged, timeout=30, interval=2, what=f"pos-backend's log line of order {order_id}")


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_one_node_store_up_converges(store1: str) -> None:
    """`store1` (conftest: brought up by the CLI after a Ctrl-C half-way through `up`, brought down by the CLI
    at the end, both checked there): healthy, serving, capped like its box, its learner audited, and a second
    `up` converges instead of duplicating."""
    store = store1
    code, out = cli("up", "--store", store, "--nodes", "1", "--json")
    assert code == 0, out
    up = json.loads(out)
    assert_store_healthy(up, nodes=1)

    p = storelib.paths(store)
    k = storelib.cluster.Kubectl(prepared.artifacts().kubectl, p.admin_kubeconfig)
    order = storelib.check_chain(store)  # a real order through frontend → backend → payment, order
    assert order.strip(), "the chain answered with an empty body"
    assert_the_store_is_itself(store, order)

    # the learner `up` issued works, and its requests land in the store's audit log
    learner = storelib.cluster.Kubectl(prepared.artifacts().kubectl, p.learner_kubeconfig)
    assert "pos-backend" in learner("get", "pods", "--all-namespaces").stdout
    denied = learner("-n", "kube-system", "get", "secrets", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    events = storelib.audit_events(store, user="learner")
    assert any(e.get("verb") == "list" and e.get("objectRef", {}).get("resource") == "pods" for e in events), \
        [audit.describe(e) for e in events]

    # the node is capped like the store's box
    caps = subprocess.run(["docker", "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
                           node_containers(store)[0]], capture_output=True, text=True, check=True).stdout.split()
    prof = storelib.profile(None)
    assert int(caps[0]) == prof.memory_bytes
    alloc = json.loads(k("get", "nodes", "-o", "json").stdout)["items"][0]["status"]["allocatable"]
    assert alloc["cpu"] == f"{int(prof.cpus * 1000)}m", alloc

    before = node_containers(store)
    code, out = cli("up", "--store", store, "--nodes", "1", "--json")
    assert code == 0, out
    assert node_containers(store) == before, "a second `up` must converge, not duplicate"
    assert_store_healthy(json.loads(out), nodes=1)

    code, out = cli("status", "--store", store, "--json")
    assert code == 0, out
    assert json.loads(out)[0]["healthy"]


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_three_node_store_spreads_and_serves(store3: str) -> None:
    def healthy() -> Any:
        code, out = cli("status", "--store", store3, "--json")
        return json.loads(out)[0] if code == 0 else Unmet(out)

    assert_store_healthy(wait_for(healthy, timeout=240, interval=3, what="a healthy store"), nodes=3)
    k = storelib.cluster.Kubectl(prepared.artifacts().kubectl, storelib.paths(store3).admin_kubeconfig)
    # a node failure earlier in the run may have gathered the replicas on one worker: a restart spreads them
    k("-n", "pos", "rollout", "restart", "deployment/pos-backend")
    k("-n", "pos", "rollout", "status", "deployment/pos-backend", "--timeout=180s", timeout=190)
    pods = json.loads(k("-n", "pos", "get", "pods", "-l", "app=pos-backend", "-o", "json").stdout)["items"]
    assert len({p["spec"]["nodeName"] for p in pods}) >= 2, "pos-backend replicas should spread over the workers"
    assert_the_store_is_itself(store3, storelib.check_chain(store3))
