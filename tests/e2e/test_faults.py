"""Every fault type on a real 3-node store: inject → the symptom shows through the
API within the type's `symptom_seconds`; clear → every object of the store equals
the tests' own picture from before the fault (storestate.py, not the operator's
snapshots), and the store is healthy again. Plus: a killed operator, a second
identical fault, and invalid faults.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import storestate
from kubernetes import client, config
from waiting import Unmet, wait_for

from edgelab import faults as faultlib
from edgelab import store as storelib
from edgelab.machine import Artifacts, setup
from edgelab_operator import catalogue as cat

STORE = os.environ.get("EDGELAB_FAULT_STORE", "9105")  # another id reuses a store you keep, with:
KEEP = os.environ.get("EDGELAB_KEEP_STORE") == "1"      # leave the store up after the tests
CATALOGUE = cat.load()
HEALTHY_WITHIN = 120  # the bench measures the real time to healthy (docs/faults.md)


@dataclass
class Store:
    id: str
    artifacts: Artifacts
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi
    faults: faultlib.Faults


@pytest.fixture(scope="module")
def store(store3: str) -> Iterator[Store]:
    api = config.new_client_from_config(str(storelib.paths(store3).admin_kubeconfig))
    s = Store(store3, setup(), client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api),
              faultlib.Faults(storelib.paths(store3).admin_kubeconfig))
    s.faults.clear()  # a kept store may hold faults from an interrupted run
    yield s


# --- what a learner would see -----------------------------------------------------------------


def pods_of(s: Store, ns: str, app: str) -> list[client.V1Pod]:
    return s.core.list_namespaced_pod(ns, label_selector=f"app={app}").items


def waiting_reasons(s: Store, ns: str, app: str) -> list[str]:
    out = []
    for p in pods_of(s, ns, app):
        for c in p.status.container_statuses or []:
            if c.state and c.state.waiting:
                out.append(c.state.waiting.reason)
    return out


def previous_logs(s: Store, ns: str, app: str) -> str:
    text = ""
    for p in pods_of(s, ns, app):
        if any(c.restart_count for c in p.status.container_statuses or []):
            try:
                text += s.core.read_namespaced_pod_log(p.metadata.name, ns, previous=True)
            except client.ApiException:
                pass
    return text


def current_logs(s: Store, ns: str, app: str) -> str:
    text = ""
    for p in pods_of(s, ns, app):
        try:
            text += s.core.read_namespaced_pod_log(p.metadata.name, ns, tail_lines=200)
        except client.ApiException:
            pass
    return text


SINCE = {"t": dt.datetime.min.replace(tzinfo=dt.UTC)}  # events older than the current fault do not count


def events(s: Store, ns: str, reason: str) -> list[str]:
    out = []
    for e in s.core.list_namespaced_event(ns).items:
        when = e.last_timestamp or e.event_time or e.metadata.creation_timestamp
        if e.reason == reason and when >= SINCE["t"]:
            out.append(e.message or "")
    return out


def stuck_unready(s: Store, ns: str, app: str, image: str, seconds: float) -> int:
    """Pods running `image` for at least `seconds` and still not Ready."""
    now = dt.datetime.now(dt.UTC)
    n = 0
    for p in pods_of(s, ns, app):
        if p.spec.containers[0].image == image and p.status.phase == "Running" and p.status.start_time \
                and (now - p.status.start_time).total_seconds() >= seconds \
                and not all(c.ready for c in p.status.container_statuses or []):
            n += 1
    return n


def ready_addresses(s: Store, ns: str, service: str) -> int:
    ep = s.core.read_namespaced_endpoints(service, ns)
    return sum(len(sub.addresses or []) for sub in ep.subsets or [])


def unready_pods(s: Store, ns: str, app: str) -> int:
    n = 0
    for p in pods_of(s, ns, app):
        if p.status.phase == "Running" and not all(c.ready for c in p.status.container_statuses or []):
            n += 1
    return n


def terminated_reasons(s: Store, ns: str, app: str) -> list[str]:
    out = []
    for p in pods_of(s, ns, app):
        for c in p.status.container_statuses or []:
            for st in (c.last_state, c.state):
                if st and st.terminated:
                    out.append(st.terminated.reason)
    return out


def pod_cpu_millicores(s: Store, ns: str, app: str) -> list[float]:
    try:
        items = s.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", ns, "pods",
                                                       label_selector=f"app={app}")["items"]
    except client.ApiException:
        return []
    out = []
    for item in items:
        for c in item["containers"]:
            cpu = c["usage"]["cpu"]
            out.append(int(cpu[:-1]) / 1e6 if cpu.endswith("n") else int(cpu[:-1]) if cpu.endswith("m") else
                       float(cpu) * 1000)
    return out


def pending_with(s: Store, ns: str, app: str, text: str) -> Any:
    pending = [p for p in pods_of(s, ns, app) if p.status.phase == "Pending"]
    msgs = events(s, ns, "FailedScheduling")
    if pending and any(text in m for m in msgs):
        return True
    return Unmet({"pending": len(pending), "FailedScheduling": msgs[-3:]})


def check(cond: bool, detail: Any) -> Any:
    return True if cond else Unmet(detail)


# --- one symptom per type: what the course says an incident manager sees ------------------------

SYMPTOMS: dict[str, Callable[[Store], Any]] = {
    "crash-on-start": lambda s: check("CrashLoopBackOff" in waiting_reasons(s, "pos", "pos-backend")
                                      and "log_level" in previous_logs(s, "pos", "pos-backend"),
                                      waiting_reasons(s, "pos", "pos-backend")),
    "missing-configmap": lambda s: check(any('configmap "pos-config" not found' in m
                                             for m in events(s, "pos", "FailedMount")),
                                         events(s, "pos", "FailedMount")[-2:]),
    "missing-config-key": lambda s: check("required setting 'api_endpoint' missing"
                                          in previous_logs(s, "pos", "pos-backend"),
                                          waiting_reasons(s, "pos", "pos-backend")),
    "missing-secret": lambda s: check("required secret 'api_key' missing"
                                      in previous_logs(s, "payment", "payment-processor"),
                                      waiting_reasons(s, "payment", "payment-processor")),
    "dependency-down": lambda s: check(not pods_of(s, "payment", "payment-processor")
                                       and unready_pods(s, "pos", "pos-backend") > 0,
                                       unready_pods(s, "pos", "pos-backend")),
    "all-pods-down": lambda s: check(ready_addresses(s, "pos", "pos-backend-service") == 0
                                     and not pods_of(s, "pos", "pos-backend"), "endpoints still present"),
    "memory-limit-low": lambda s: check("OOMKilled" in terminated_reasons(s, "pos", "pos-backend"),
                                        terminated_reasons(s, "pos", "pos-backend")),
    "memory-leak": lambda s: check("OOMKilled" in terminated_reasons(s, "pos", "pos-backend"),
                                   terminated_reasons(s, "pos", "pos-backend")),
    "cpu-hog": lambda s: check(any(m >= 120 for m in pod_cpu_millicores(s, "pos", "pos-backend")),
                               pod_cpu_millicores(s, "pos", "pos-backend")),
    # throttled: `top` at the 5m limit, or probes timing out (how busy the registers are decides which shows first)
    "cpu-limit-low": lambda s: check(any(
        (p.spec.containers[0].resources.limits or {}).get("cpu") == "5m" and p.status.phase == "Running"
        for p in pods_of(s, "pos", "pos-backend"))
        and (any(4 <= m <= 6 for m in pod_cpu_millicores(s, "pos", "pos-backend"))
             or any("probe failed" in m for m in events(s, "pos", "Unhealthy"))),
        (pod_cpu_millicores(s, "pos", "pos-backend"), events(s, "pos", "Unhealthy")[-2:])),
    "image-tag-typo": lambda s: check(any(r in ("ErrImagePull", "ImagePullBackOff")
                                          for r in waiting_reasons(s, "pos", "pos-backend"))
                                      and any("byteedge/pos-backend:2.4.11" in m for m in events(s, "pos", "Failed")),
                                      waiting_reasons(s, "pos", "pos-backend")),
    "registry-unreachable": lambda s: check(any(r in ("ErrImagePull", "ImagePullBackOff")
                                                for r in waiting_reasons(s, "pos", "pos-backend"))
                                            and any("registry.byteedge.internal" in m for m in events(s, "pos", "Failed")),
                                            waiting_reasons(s, "pos", "pos-backend")),
    "pull-credentials-missing": lambda s: check(
        any("byteedge-registry" in m for m in events(s, "pos", "FailedToRetrieveImagePullSecret"))
        and any(r in ("ErrImagePull", "ImagePullBackOff") for r in waiting_reasons(s, "pos", "pos-backend")),
        waiting_reasons(s, "pos", "pos-backend")),
    "selector-mismatch": lambda s: check(ready_addresses(s, "pos", "pos-backend-service") == 0
                                         and len(pods_of(s, "pos", "pos-backend")) == 3, "endpoints still present"),
    "network-policy": lambda s: check(ready_addresses(s, "payment", "payment-service") == 2
                                      and unready_pods(s, "pos", "pos-backend") > 0
                                      and "payment" in current_logs(s, "pos", "pos-backend"),
                                      unready_pods(s, "pos", "pos-backend")),
    "impossible-requests": lambda s: pending_with(s, "pos", "pos-backend", "Insufficient cpu"),
    "node-selector-mismatch": lambda s: pending_with(s, "pos", "pos-backend", "node affinity/selector"),
    "node-failure": lambda s: check(any(
        c.type == "Ready" and c.status != "True" for n in s.core.list_node().items for c in n.status.conditions),
        "every node Ready"),
    "bad-rollout": lambda s: check(
        s.apps.read_namespaced_deployment("pos-backend", "pos").status.ready_replicas == 2
        and stuck_unready(s, "pos", "pos-backend", "byteedge/pos-backend:2.5.0", 20) >= 1,
        "no 2.5.0 pod unready for 20 s while READY 2/3"),
    "bad-config-value": lambda s: check(unready_pods(s, "pos", "pos-backend") > 0
                                        and re.search(r"ERROR health: payment at \S+:8080\S* is unreachable",
                                                      current_logs(s, "pos", "pos-backend")),
                                        unready_pods(s, "pos", "pos-backend")),
    "db-pool-exhausted": lambda s: check("for a connection" in current_logs(s, "payment", "payment-processor"),
                                         "no pool waits logged"),
}


# --- the same types on their other targets: what the lab drawing that target promises ------------

ON_TARGET: dict[tuple[str, str], Callable[[Store], Any]] = {
    ("missing-config-key", "payment/payment-processor"): lambda s: check(
        "required setting 'database_url' missing" in previous_logs(s, "payment", "payment-processor"),
        waiting_reasons(s, "payment", "payment-processor")),
    ("missing-config-key", "order/order-service"): lambda s: check(
        "required setting 'database_url' missing" in previous_logs(s, "order", "order-service"),
        waiting_reasons(s, "order", "order-service")),
    ("missing-secret", "order/order-service"): lambda s: check(
        "required secret 'db_password' missing" in previous_logs(s, "order", "order-service"),
        waiting_reasons(s, "order", "order-service")),
    # the collector gone: the dashboard gets nothing new at its next refresh (every 30 s)
    ("dependency-down", "observability/otel-collector"): lambda s: check(
        not pods_of(s, "observability", "otel-collector")
        and "no new metric rows" in current_logs(s, "observability", "hyperdx"),
        current_logs(s, "observability", "hyperdx")[-300:]),
    ("all-pods-down", "order/order-service"): lambda s: check(
        ready_addresses(s, "order", "order-service") == 0 and not pods_of(s, "order", "order-service"),
        "endpoints still present"),
    ("memory-leak", "order/order-service"): lambda s: check(
        "OOMKilled" in terminated_reasons(s, "order", "order-service"), terminated_reasons(s, "order", "order-service")),
    ("memory-limit-low", "order/order-service"): lambda s: check(
        "OOMKilled" in terminated_reasons(s, "order", "order-service"), terminated_reasons(s, "order", "order-service")),
    ("bad-rollout", "pos/pos-frontend"): lambda s: check(
        s.apps.read_namespaced_deployment("pos-frontend", "pos").status.ready_replicas == 2
        and stuck_unready(s, "pos", "pos-frontend", "byteedge/pos-frontend:1.10.0", 20) >= 1,
        "no 1.10.0 pod unready for 20 s"),
    ("bad-config-value", "pos/pos-frontend"): lambda s: check(
        unready_pods(s, "pos", "pos-frontend") > 0
        and re.search(r"ERROR health: pos-backend at \S+:8080\S* is unreachable", current_logs(s, "pos", "pos-frontend")),
        unready_pods(s, "pos", "pos-frontend")),
}


def store_healthy(s: Store) -> Any:
    """The library's own judgement (`edgelab status`, a lab's reset), with what is wrong as the detail."""
    st = storelib.status(s.id)
    return check(st.healthy, st.unhealthy)


def picture(s: Store) -> dict[str, dict[str, Any]]:
    return storestate.take(s.core.api_client)


def differences(s: Store, before: dict[str, dict[str, Any]]) -> list[str]:
    """What differs from the tests' own picture taken before the fault (empty after an exact revert)."""
    return storestate.changed(before, picture(s))


def inject_and_clear(s: Store, fault_type: str, **kw: Any) -> dict[str, Any]:
    """Inject (on the type's default target, or `target=`), wait for its symptom, clear, compare."""
    wait_for(lambda: store_healthy(s), timeout=240, interval=2, what="a healthy store before the fault")
    ft = CATALOGUE.get(fault_type)
    SINCE["t"] = dt.datetime.now(dt.UTC).replace(microsecond=0)
    before = picture(s)
    fault = s.faults.inject(fault_type, **kw)
    t0 = time.monotonic()
    assert fault["status"]["phase"] == "Active", fault["status"]
    assert all(r["phase"] == "Injected" for r in fault["status"]["records"]), fault["status"]["records"]
    assert {c["type"]: c["status"] for c in fault["status"]["conditions"]} == {"Selected": "True",
                                                                              "AllInjected": "True"}
    try:
        symptom = ON_TARGET[(fault_type, kw["target"])] if kw.get("target") else SYMPTOMS[fault_type]
        wait_for(lambda: symptom(s), timeout=ft.symptom_seconds, interval=1,
                 what=f"{fault_type}: {ft.symptom}")
    except BaseException:
        s.faults.clear([fault["metadata"]["name"]])  # leave the store to the next test as it was
        raise
    symptom_s = time.monotonic() - t0
    t1 = time.monotonic()
    s.faults.clear([fault["metadata"]["name"]])
    reverted_s = time.monotonic() - t1
    assert differences(s, before) == [], "every object must be as it was before the fault"
    wait_for(lambda: store_healthy(s), timeout=HEALTHY_WITHIN, interval=1, what=f"healthy after clearing {fault_type}")
    record(fault_type + (f" on {kw['target']}" if kw.get("target") else ""), symptom_s=round(symptom_s, 1), reverted_s=round(reverted_s, 1),
           healthy_s=round(time.monotonic() - t1, 1), symptom_target_s=ft.symptom_seconds)
    return fault


def record(fault_type: str, **numbers: float) -> None:
    """Timings for bench/fault_times.py (which sets EDGELAB_FAULT_TIMINGS); a no-op otherwise."""
    print(f"{fault_type}: {numbers}")
    path = os.environ.get("EDGELAB_FAULT_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"type": fault_type, **numbers}) + "\n")


ORDER = [t for t in CATALOGUE.types if t != "node-failure"] + ["node-failure"]


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("fault_type", ORDER)
def test_fault_shows_its_symptom_and_reverts_exactly(store: Store, fault_type: str) -> None:
    fault = inject_and_clear(store, fault_type)
    assert fault["status"]["target"] == CATALOGUE.get(fault_type).default_target


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("fault_type", "target"), list(ON_TARGET), ids=[f"{t}@{w}" for t, w in ON_TARGET])
def test_fault_on_another_target_shows_its_symptom_and_reverts_exactly(store: Store, fault_type: str,
                                                                       target: str) -> None:
    """The targets a lab may draw besides the default: each shows the type's symptom on its own workload."""
    assert target in CATALOGUE.get(fault_type).targets and target != CATALOGUE.get(fault_type).default_target
    fault = inject_and_clear(store, fault_type, target=target)
    assert fault["status"]["target"] == target


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_revert_survives_a_killed_operator(store: Store) -> None:
    wait_for(lambda: store_healthy(store), timeout=240, interval=2, what="a healthy store")
    before = picture(store)
    fault = store.faults.inject("missing-config-key")
    for pod in store.core.list_namespaced_pod(faultlib.NAMESPACE,
                                              label_selector="app.kubernetes.io/name=fleet-agent").items:
        store.core.delete_namespaced_pod(pod.metadata.name, faultlib.NAMESPACE, grace_period_seconds=0)
    # the fault is deleted while no operator runs; the next operator reverts from the status record
    store.faults.delete(fault["metadata"]["name"])
    wait_for(lambda: check(store.faults.get(fault["metadata"]["name"]) is None, "fault still there"),
             timeout=180, interval=1, what="the restarted operator to revert the fault")
    assert differences(store, before) == []
    wait_for(lambda: store_healthy(store), timeout=HEALTHY_WITHIN, interval=1, what="healthy after the revert")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_same_fault_twice_is_refused_and_changes_nothing_more(store: Store) -> None:
    wait_for(lambda: store_healthy(store), timeout=240, interval=2, what="a healthy store")
    pictured = picture(store)
    first = store.faults.inject("selector-mismatch")
    try:
        before = store.core.read_namespaced_service("pos-backend-service", "pos").metadata.resource_version
        with pytest.raises(faultlib.FaultError, match="already under fault"):
            store.faults.inject("selector-mismatch")
        assert store.core.read_namespaced_service("pos-backend-service", "pos").metadata.resource_version == before
    finally:
        store.faults.clear([first["metadata"]["name"]])
    assert differences(store, pictured) == []


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_invalid_faults_are_rejected_touching_nothing(store: Store) -> None:
    wait_for(lambda: store_healthy(store), timeout=240, interval=2, what="a healthy store")
    before = {d.metadata.name: d.metadata.resource_version for d in store.apps.list_namespaced_deployment("pos").items}
    with pytest.raises(faultlib.FaultError, match="no Deployment pos-cashier in namespace pos"):
        store.faults.inject("crash-on-start", target="pos/pos-cashier", wait=60)
    with pytest.raises(faultlib.FaultError, match="cannot target"):
        store.faults.inject("missing-secret", target="pos/pos-backend", wait=60)
    # not a type at all: the CRD's schema refuses it before the operator sees it
    body = {"apiVersion": "edgelab.io/v1alpha1", "kind": "Fault",
            "metadata": {"name": "bogus", "namespace": faultlib.NAMESPACE}, "spec": {"type": "meteor-strike"}}
    with pytest.raises(client.ApiException) as refused:
        store.custom.create_namespaced_custom_object("edgelab.io", "v1alpha1", faultlib.NAMESPACE, "faults", body)
    assert refused.value.status == 422 and "meteor-strike" in refused.value.body
    after = {d.metadata.name: d.metadata.resource_version for d in store.apps.list_namespaced_deployment("pos").items}
    assert after == before
    assert store.faults.list_faults() == []
