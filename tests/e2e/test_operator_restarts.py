"""The fault operator can be trusted: killed at any step it ends where an unkilled one ends, it never
holds a Fault for good, and a fault with a duration reverts by itself. On the shared real 3-node store.

Kill tests run the operator's own handlers as a process on this machine (the
in-cluster operator scaled to 0 meanwhile), against the store's API server,
with a failpoint (edgelab_operator/failpoints.py) that ends the process at one
named step as a kill would; then a second, plain operator carries on. Each
end state is judged against the tests' own pictures of the store
(storestate.py): the injected state of a run nobody killed, and the state
before the fault.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import storestate
from kubernetes import client, config
from waiting import Unmet, wait_for

from edgelab.kube import faults as faultlib
from edgelab.store import stores as storelib
from edgelab_operator import failpoints

FAULT = "missing-configmap"  # two records: the ConfigMap deleted, then pos-backend's pods restarted
POINTS = ["after-select", "after-inject:0", "after-inject:1", "after-recover:0", "after-recover:1"]


@dataclass
class Ctx:
    store: str
    api: client.ApiClient
    faults: faultlib.Faults
    kubeconfig: Path
    logs: Path

    def picture(self) -> dict[str, dict[str, Any]]:
        return storestate.take(self.api)

    def healthy(self) -> Any:
        st = storelib.status(self.store)
        return True if st.healthy else Unmet(st.unhealthy)


def _scale_operator(api: client.ApiClient, replicas: int) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.patch_namespaced_deployment_scale("fleet-agent", faultlib.NAMESPACE, {"spec": {"replicas": replicas}})

    def settled() -> Any:
        pods = core.list_namespaced_pod(faultlib.NAMESPACE, label_selector="app.kubernetes.io/name=fleet-agent")
        ready = [p for p in pods.items if all(c.ready for c in p.status.container_statuses or [])
                 and p.status.container_statuses and not p.metadata.deletion_timestamp]
        if replicas == 0:
            return True if not pods.items else Unmet([p.metadata.name for p in pods.items])
        return True if ready else Unmet("no ready operator pod")

    wait_for(settled, timeout=180, interval=1, what=f"the in-cluster operator at {replicas} replica(s)")


@pytest.fixture(scope="module")
def ctx(store3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    kubeconfig = storelib.paths(store3).admin_kubeconfig
    c = Ctx(store3, config.new_client_from_config(str(kubeconfig)), faultlib.Faults(kubeconfig), kubeconfig,
            tmp_path_factory.mktemp("operator-logs"))
    c.faults.clear()
    yield c
    c.faults.clear()


@pytest.fixture
def outside(ctx: Ctx) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The in-cluster operator stopped for the test; every operator process the test starts is stopped after."""
    _scale_operator(ctx.api, 0)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        _scale_operator(ctx.api, 1)


def start_operator(ctx: Ctx, procs: list[subprocess.Popen[bytes]], failpoint: str = "") -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBECONFIG": str(ctx.kubeconfig), "POD_NAMESPACE": faultlib.NAMESPACE,
           failpoints.ENV: failpoint}
    log = (ctx.logs / f"operator-{len(procs)}-{failpoint.replace(':', '-') or 'plain'}.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", faultlib.NAMESPACE,
                             "-m", "edgelab_operator.handlers"], env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.append(proc)
    return proc


def died_at(proc: subprocess.Popen[bytes], point: str) -> None:
    try:
        rc = proc.wait(120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the operator never reached {point}")
    assert rc == failpoints.EXIT_CODE, f"the operator exited with {rc}, not at the failpoint {point}"


@dataclass
class Reference:
    before: dict[str, dict[str, Any]]
    injected: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def reference(ctx: Ctx) -> Reference:
    """The fault injected and cleared by the in-cluster operator with nobody killing it."""
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    before = ctx.picture()
    fault = ctx.faults.inject(FAULT, name="reference")
    assert [r["kind"] for r in fault["status"]["records"]] == ["ConfigMap", "Pods"]
    injected = ctx.picture()
    assert storestate.changed(before, injected) == ["ConfigMap/pos/pos-config: gone"]
    ctx.faults.clear(["reference"])
    assert storestate.changed(before, ctx.picture()) == []
    return Reference(before, injected)


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("point", POINTS)
def test_an_operator_killed_at_any_step_ends_where_an_unkilled_one_does(
        ctx: Ctx, reference: Reference, outside: list[subprocess.Popen[bytes]], point: str) -> None:
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    assert storestate.changed(reference.before, ctx.picture()) == [], "the store did not start where it was"
    name = f"kill-{point.replace(':', '-')}"
    killed = start_operator(ctx, outside, point)
    ctx.faults.inject(FAULT, name=name, wait=0)
    if point.startswith("after-recover"):
        ctx.faults.wait_phase(name, ("Active",), 60)
        ctx.faults.delete(name)
    died_at(killed, point)
    start_operator(ctx, outside)
    if not point.startswith("after-recover"):
        fault = ctx.faults.wait_phase(name, ("Active",), 60)
        assert all(r["phase"] == "Injected" for r in fault["status"]["records"]), fault["status"]["records"]
        assert storestate.changed(reference.injected, ctx.picture()) == [], "injected differently after the kill"
        ctx.faults.delete(name)
    wait_for(lambda: True if ctx.faults.get(name) is None else Unmet((ctx.faults.get(name) or {}).get("status")),
             timeout=120, interval=1, what=f"{name} reverted and gone")
    assert storestate.changed(reference.before, ctx.picture()) == [], "not restored exactly after the kill"
    wait_for(ctx.healthy, timeout=180, interval=2, what="a healthy store after the revert")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_fault_with_a_duration_reverts_by_itself(ctx: Ctx) -> None:
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    before = ctx.picture()
    fault = ctx.faults.inject("selector-mismatch", duration="5s", name="short")
    assert fault["status"]["expiresAt"]
    assert storestate.changed(before, ctx.picture()) == ["Service/pos/pos-backend-service: spec differ"]
    wait_for(lambda: True if ctx.faults.get("short") is None else Unmet(ctx.faults.get("short")),
             timeout=90, interval=1, what="the fault to expire and revert")
    assert storestate.changed(before, ctx.picture()) == []


TELLS = re.compile(r"edgelab|\bfaults?\b|chaos|\binject|\blabs?\b", re.IGNORECASE)


def learner_api(ctx: Ctx) -> client.ApiClient:
    return config.new_client_from_config(str(storelib.paths(ctx.store).learner_kubeconfig))


def learner_sees(ctx: Ctx) -> dict[str, str]:
    """Every pod the learner can list (`kubectl get pods -A`), each with what they can read of it."""
    pods = client.CoreV1Api(learner_api(ctx)).list_pod_for_all_namespaces().items
    out = {}
    for p in pods:
        c = p.spec.containers
        out[f"{p.metadata.namespace}/{p.metadata.name}"] = json.dumps(
            [p.metadata.labels, p.metadata.annotations, p.spec.service_account_name,
             [(x.image, x.command, x.args, [(e.name, e.value) for e in x.env or []]) for x in c]], default=str)
    return out


def learner_workloads(ctx: Ctx) -> dict[str, str]:
    """Every Deployment and ReplicaSet the learner can list (`kubectl get deploy,rs -A -o yaml`), whole."""
    api = learner_api(ctx)
    apps = client.AppsV1Api(api)
    out = {}
    for kind, items in (("Deployment", apps.list_deployment_for_all_namespaces().items),
                        ("ReplicaSet", apps.list_replica_set_for_all_namespaces().items)):
        for o in items:
            out[f"{kind}/{o.metadata.namespace}/{o.metadata.name}"] = json.dumps(api.sanitize_for_serialization(o))
    return out


def learner_events(ctx: Ctx) -> list[dict[str, Any]]:
    """Every event the learner can list (`kubectl get events -A`, `kubectl events -A`), from both APIs, as served
    (the client's models refuse events.k8s.io events without an eventTime, which the core API writes)."""
    api = learner_api(ctx)
    out: list[dict[str, Any]] = []
    for listing in (client.CoreV1Api(api).list_event_for_all_namespaces,
                    client.EventsV1Api(api).list_event_for_all_namespaces):
        out += json.loads(listing(_preload_content=False).data)["items"]
    return out


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_what_the_learner_lists_names_no_lab(ctx: Ctx) -> None:
    seen = learner_sees(ctx)
    assert any(k.startswith(f"{faultlib.NAMESPACE}/fleet-agent-") for k in seen), sorted(seen)
    tells = {k: TELLS.findall(f"{k} {v}") for k, v in seen.items() if TELLS.search(f"{k} {v}")}
    assert tells == {}, "pods a learner lists name the lab"
    workloads = learner_workloads(ctx)
    assert f"Deployment/{faultlib.NAMESPACE}/fleet-agent" in workloads, sorted(workloads)
    tells = {k: TELLS.findall(f"{k} {v}") for k, v in workloads.items() if TELLS.search(f"{k} {v}")}
    assert tells == {}, "deployments and replicasets a learner lists name the lab"


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_events_a_learner_reads_name_no_fault(ctx: Ctx) -> None:
    """Learners read events in every namespace: with a fault injected they show its symptom, never the Fault."""
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    name = "xq-events"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    fault = ctx.faults.inject(FAULT, target="pos/pos-backend", name=name)
    try:
        def symptom() -> list[dict[str, Any]] | Unmet:
            events = learner_events(ctx)
            failed = [e for e in events if e.get("reason") == "FailedMount" and e["metadata"]["namespace"] == "pos"
                      and dt.datetime.fromisoformat(e["metadata"]["creationTimestamp"]) >= since]
            return events if failed else Unmet(sorted({str(e.get("reason")) for e in events}))

        events = wait_for(symptom, timeout=120, interval=2, what="the fault's FailedMount event, read as the learner")
        about = [e for e in events if "edgelab.io" in str((e.get("involvedObject") or e.get("regarding") or {})
                 .get("apiVersion")) or (e.get("involvedObject") or e.get("regarding") or {}).get("kind") == "Fault"
                 or (e.get("related") or {}).get("kind") == "Fault"]
        assert about == [], "events about a Fault are readable by the learner"
        named = {e["metadata"]["namespace"] + "/" + e["metadata"]["name"]: e for e in events
                 if TELLS.search(text := json.dumps(e)) or name in text or FAULT in text
                 or fault["metadata"]["uid"] in text}
        assert named == {}, "events a learner reads name the lab or the fault"
    finally:
        ctx.faults.clear([name])
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")


def node_ready(api: client.ApiClient, node: str) -> bool:
    conds = client.CoreV1Api(api).read_node(node).status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_node_that_never_comes_back_does_not_hold_the_fault(ctx: Ctx, tmp_path: Path) -> None:
    """A failed box that stays dead: `clear` gives up in bounded time saying so, `clear --force` lets go."""
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    before = ctx.picture()
    fleet_before = {k for k in learner_sees(ctx) if k.startswith(faultlib.NAMESPACE + "/")}
    fault = ctx.faults.inject("node-failure", name="dead-box", recover_within="15s")
    node = fault["status"]["node"]
    paused = False
    try:
        wait_for(lambda: True if not node_ready(ctx.api, node) else Unmet("Ready"), timeout=150, interval=2,
                 what=f"node {node} NotReady")
        fleet_now = {k for k in learner_sees(ctx) if k.startswith(faultlib.NAMESPACE + "/")}
        assert fleet_now == fleet_before, "a failing box must not bring new machinery into the learner's view"
        # the box stays dead (the freezer can refuse for a moment on a loaded machine: asked again)
        wait_for(lambda: True if subprocess.run(["docker", "pause", node], capture_output=True, text=True).returncode
                 == 0 else Unmet(subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", node],
                                                capture_output=True, text=True).stdout.strip()),
                 timeout=60, interval=3, what=f"docker pause {node}")
        paused = True
        with pytest.raises(faultlib.FaultError) as stuck:
            ctx.faults.clear(["dead-box"])
        assert f"node {node} is still NotReady" in str(stuck.value) and "--force" in str(stuck.value)
        status = (ctx.faults.get("dead-box") or {})["status"]
        assert status["phase"] == "Stuck", status
        assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}["AllRecovered"] == \
            ("False", "TimedOut")
        released = ctx.faults.force_clear("dead-box", tmp_path)
        assert ctx.faults.get("dead-box") is None
        assert released.left == [f"Node {node}: node {node} is still NotReady (its kubelet has not come back)"]
        assert released.saved is None  # a node failure changes no object
    finally:
        if paused:
            subprocess.run(["docker", "unpause", node], check=True, capture_output=True)
    # the box runs again: its node agent sees no Fault holding it and starts the kubelet
    wait_for(lambda: True if node_ready(ctx.api, node) else Unmet("NotReady"), timeout=180, interval=2,
             what=f"node {node} Ready again")
    wait_for(ctx.healthy, timeout=240, interval=2, what="a healthy store")
    assert storestate.changed(before, ctx.picture()) == []
