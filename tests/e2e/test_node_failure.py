"""A worker whose kubelet stops goes NotReady, and comes back Ready without taints (so no test after it depends on order)."""

from __future__ import annotations

import pytest
from k8s import Cluster, condition
from kubernetes import client
from waiting import Unmet, wait_for

# Taints the node lifecycle controller puts on a node it cannot hear from.
NODE_DOWN_TAINTS = frozenset({"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"})


@pytest.mark.e2e
@pytest.mark.timeout(480)
def test_stopped_kubelet_makes_node_not_ready(cluster: Cluster, core: client.CoreV1Api) -> None:
    worker = cluster.workers[-1]

    def not_ready() -> client.V1NodeCondition | Unmet:
        ready: client.V1NodeCondition | None = condition(core.read_node(worker).status.conditions, "Ready")
        return ready if ready is not None and ready.status != "True" else Unmet(ready)

    def ready_again() -> client.V1NodeCondition | Unmet:
        node = core.read_node(worker)
        ready: client.V1NodeCondition | None = condition(node.status.conditions, "Ready")
        taints = {t.key for t in node.spec.taints or []} & NODE_DOWN_TAINTS
        if ready is not None and ready.status == "True" and not taints:
            return ready
        return Unmet((ready, sorted(taints)))

    try:
        stopped = cluster.docker_exec(worker, "systemctl", "stop", "kubelet")
        assert stopped.returncode == 0, stopped.stderr

        # Takes the controller manager's node-monitor grace period (40-50 s).
        lost = wait_for(not_ready, timeout=150, interval=2, what=f"node {worker} not Ready")
        assert lost.status == "Unknown", lost
        assert lost.reason == "NodeStatusUnknown", lost

        shown = cluster.kubectl("get", "node", worker, "--no-headers")
        assert shown.stdout.split()[1].startswith("NotReady"), shown.stdout
    finally:
        # Always bring the kubelet back, so a kept cluster stays usable.
        started = cluster.docker_exec(worker, "systemctl", "start", "kubelet")
        assert started.returncode == 0, started.stderr
        wait_for(ready_again, timeout=120, interval=2, what=f"node {worker} Ready again")
