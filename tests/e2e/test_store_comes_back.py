"""A store the learner touched always comes back (issue 13, item 6), on a real 1-node store.

As the learner, with their own kubeconfig: the course's remediations (rollout restart of
one, two and every store deployment at once, rollout undo, scale) complete on the
smallest box, with no pod left Pending; a scaled-down store is not healthy; and the next
`session.start`, `session.reset` and `session.stop` of a lab put the store back to its
manifests (replicas and pod template) and healthy.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prepared
import pytest
import yaml
from kubernetes import client, config
from waiting import Unmet, wait_for

from edgelab.labs import session
from edgelab.machine.record import Artifacts
from edgelab.store import stores as storelib

LAB = "pos-down-4523"
# Course, "Byte Edge K8s Architecture": what a store at its baseline runs.
COURSE = {
    "pos/pos-backend": 3,
    "pos/pos-frontend": 2,
    "payment/payment-processor": 2,
    "order/order-service": 2,
    "observability/hyperdx": 1,
    "observability/clickhouse": 1,
    "observability/otel-collector": 1,
}
IMAGES = yaml.safe_load((storelib.STORE_MANIFESTS / "images.yaml").read_text())
NEXT_FRONTEND = "byteedge/pos-frontend:1.10.0"  # a release the nodes hold (release faults use it)


@dataclass
class Store:
    id: str
    artifacts: Artifacts
    apps: client.AppsV1Api
    core: client.CoreV1Api
    learner_kubeconfig: Path
    admin_kubeconfig: Path

    def kubectl(self, kubeconfig: Path, *args: str) -> str:
        proc = subprocess.run([str(self.artifacts.kubectl), "--kubeconfig", str(kubeconfig), *args],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr.strip()}"
        return proc.stdout

    def learner(self, *args: str) -> str:
        return self.kubectl(self.learner_kubeconfig, *args)

    def admin(self, *args: str) -> str:
        return self.kubectl(self.admin_kubeconfig, *args)

    def deployment(self, ref: str) -> Any:
        ns, name = ref.split("/")
        return self.apps.read_namespaced_deployment(name, ns)

    def pending(self) -> list[str]:
        return [f"{p.metadata.namespace}/{p.metadata.name}"
                for ns in storelib.NAMESPACES for p in self.core.list_namespaced_pod(ns).items
                if p.status.phase == "Pending" and not p.metadata.deletion_timestamp]

    def rolled_out(self) -> bool | Unmet:
        """Every store deployment's rollout finished at its current spec, and no pod is Pending."""
        behind = []
        for ref in COURSE:
            d = self.deployment(ref)
            st, want = d.status, d.spec.replicas
            if (st.observed_generation or 0) < d.metadata.generation or (st.updated_replicas or 0) != want \
                    or (st.ready_replicas or 0) != want or (st.replicas or 0) != want:
                behind.append(f"{ref} want {want} updated {st.updated_replicas} ready {st.ready_replicas} "
                              f"total {st.replicas}")
        pending = self.pending()
        return True if not behind and not pending else Unmet({"rolling": behind, "pending": pending})

    def wait_rolled_out(self, what: str) -> None:
        wait_for(self.rolled_out, timeout=180, interval=2, what=f"every rollout to finish after {what}")

    def frontend_image(self) -> str:
        return str(self.deployment("pos/pos-frontend").spec.template.spec.containers[0].image)

    def assert_at_baseline(self, when: str) -> None:
        replicas = {ref: self.deployment(ref).spec.replicas for ref in COURSE}
        assert replicas == COURSE, f"{when}: replicas {replicas}"
        assert self.frontend_image() == IMAGES["pos-frontend"], f"{when}: pos-frontend runs {self.frontend_image()}"


def _say(m: str) -> None:
    print(f"[store 1-node] {m}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="module")
def small(store1: str) -> Store:
    """The shared 1-node store of the default (smallest) profile (conftest's `store1`)."""
    p = storelib.paths(store1)
    api = config.new_client_from_config(str(p.admin_kubeconfig))
    return Store(store1, prepared.artifacts(), client.AppsV1Api(api), client.CoreV1Api(api), p.learner_kubeconfig,
                 p.admin_kubeconfig)


@pytest.mark.e2e
@pytest.mark.timeout(1500)
def test_remediations_fit_and_lab_commands_bring_the_store_back(small: Store) -> None:
    s = small
    storelib.wait_healthy(s.id, timeout=240)
    assert storelib.status(s.id).healthy
    s.assert_at_baseline("a new store")

    # The reported case: two restarts at once left both surge pods Pending for good.
    s.learner("-n", "pos", "rollout", "restart", "deploy/pos-frontend")
    s.learner("-n", "order", "rollout", "restart", "deploy/order-service")
    s.wait_rolled_out("restarting pos-frontend and order-service")

    # Every store deployment at once: the largest simultaneous surge.
    for ns in storelib.NAMESPACES:
        s.learner("-n", ns, "rollout", "restart", "deployment")
    s.wait_rolled_out("restarting every store deployment")

    # A release and its rollback leave a revision the manifests do not have; the learner's
    # `rollout undo` goes back to it (as it would to a fault's release after a lab).
    s.admin("-n", "pos", "set", "image", "deploy/pos-frontend", f"pos-frontend={NEXT_FRONTEND}")
    s.wait_rolled_out("a release of pos-frontend")
    s.admin("-n", "pos", "set", "image", "deploy/pos-frontend", f"pos-frontend={IMAGES['pos-frontend']}")
    s.wait_rolled_out("its rollback")
    s.learner("-n", "pos", "rollout", "undo", "deploy/pos-frontend")
    s.learner("-n", "order", "rollout", "undo", "deploy/order-service")
    s.wait_rolled_out("rollout undo of pos-frontend and order-service")
    assert s.frontend_image() == NEXT_FRONTEND

    s.learner("-n", "pos", "scale", "deploy/pos-backend", "--replicas=1")
    s.wait_rolled_out("scaling pos-backend to 1")
    st = storelib.status(s.id)
    assert not st.healthy and any("pos/pos-backend" in u and "scaled to 1" in u for u in st.unhealthy), st.unhealthy

    # The next lab start puts it all back, then breaks only what the lab breaks.
    say = _say
    session.start(s.id, LAB, say=say, targets=["order/order-service"])
    assert s.deployment("pos/pos-backend").spec.replicas == 3
    assert s.frontend_image() == IMAGES["pos-frontend"]
    assert s.deployment("order/order-service").spec.replicas == 0  # the lab's fault, nothing else
    assert not s.pending()

    # Within the lab the learner scales again; a reset (new draw) brings it back too.
    s.learner("-n", "pos", "scale", "deploy/pos-backend", "--replicas=1")
    session.reset(s.id, say=say)
    assert s.deployment("pos/pos-backend").spec.replicas == 3

    # And stop: the store at its baseline, healthy, every rollout done.
    s.learner("-n", "pos", "scale", "deploy/pos-backend", "--replicas=1")
    s.learner("-n", "pos", "rollout", "restart", "deploy/pos-frontend")
    assert session.stop(s.id, say=say) == LAB
    s.assert_at_baseline("after lab stop")
    st = storelib.status(s.id)
    assert st.healthy, st.unhealthy
    s.wait_rolled_out("lab stop")
    ready = {ref: s.deployment(ref).status.ready_replicas for ref in COURSE}
    assert ready == COURSE, ready
