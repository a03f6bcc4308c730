"""Faults on a real 3-node store: inject → the symptom shows through the API within the type's
`symptom_seconds` (symptoms.py); clear → every object of the store equals the tests' own picture
from before the fault (storestate.py, not the operator's snapshots), and the store is healthy again.

Each fault/target pair is injected once per run: the lab attempts inject every pair a lab plays and
check it the same way (plays.py), so here are only the pairs no lab plays (EDGELAB_FAULTS_ALL=1, as
bench/fault_times.py sets it, runs every pair here). Plus: a killed operator, a second identical
fault, and invalid faults.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import plays
import prepared
import pytest
import storestate
import symptoms
from kubernetes import client, config
from symptoms import ON_TARGET, SYMPTOMS, check
from waiting import wait_for

from edgelab.kube import faults as faultlib
from edgelab.machine.record import Artifacts
from edgelab.store import stores as storelib
from edgelab_operator import catalogue as cat

STORE = os.environ.get("EDGELAB_FAULT_STORE", "9105")  # another id reuses a store you keep, with:
KEEP = os.environ.get("EDGELAB_KEEP_STORE") == "1"      # leave the store up after the tests
CATALOGUE = cat.load()
HEALTHY_WITHIN = 120  # the bench measures the real time to healthy (docs/faults.md)


@dataclass
class Store(symptoms.Store):
    artifacts: Artifacts | None = None
    faults: faultlib.Faults | None = None


@pytest.fixture(scope="module")
def store(store3: str) -> Iterator[Store]:
    api = config.new_client_from_config(str(storelib.paths(store3).admin_kubeconfig))
    s = Store(store3, client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api),
              artifacts=prepared.artifacts(), faults=faultlib.Faults(storelib.paths(store3).admin_kubeconfig))
    s.faults.clear()  # a kept store may hold faults from an interrupted run
    yield s


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
    s.mark()
    before = picture(s)
    fault = s.faults.inject(fault_type, **kw)
    t0 = time.monotonic()
    assert fault["status"]["phase"] == "Active", fault["status"]
    assert all(r["phase"] == "Injected" for r in fault["status"]["records"]), fault["status"]["records"]
    assert {c["type"]: c["status"] for c in fault["status"]["conditions"]} == {"Selected": "True",
                                                                              "AllInjected": "True"}
    try:
        symptom = symptoms.probe(fault_type, kw.get("target"), ft.default_target)
        assert symptom is not None, f"no probe for {fault_type} on {kw.get('target')}"
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
    on = kw.get("target")
    record(fault_type + (f" on {on}" if on not in (None, ft.default_target) else ""), symptom_s=round(symptom_s, 1), reverted_s=round(reverted_s, 1),
           healthy_s=round(time.monotonic() - t1, 1), symptom_target_s=ft.symptom_seconds)
    return fault


def record(fault_type: str, **numbers: float) -> None:
    """Timings for bench/fault_times.py (which sets EDGELAB_FAULT_TIMINGS); a no-op otherwise."""
    print(f"{fault_type}: {numbers}")
    path = os.environ.get("EDGELAB_FAULT_TIMINGS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"type": fault_type, **numbers}) + "\n")


ALL_PAIRS = [(t, CATALOGUE.get(t).default_target) for t in CATALOGUE.types if t != "node-failure"] \
    + list(ON_TARGET) + [("node-failure", CATALOGUE.get("node-failure").default_target)]
PAIRS = ALL_PAIRS if os.environ.get("EDGELAB_FAULTS_ALL") == "1" else plays.unplayed(ALL_PAIRS)


def test_every_pair_is_injected_once_here_or_by_a_lab() -> None:
    """No pair with a probe goes untested, and none is injected twice (pure: no cluster)."""
    assert set(ALL_PAIRS) <= set(PAIRS) | plays.played()
    assert not set(plays.unplayed(ALL_PAIRS)) & plays.played()
    assert {t for t, _ in ALL_PAIRS} == set(CATALOGUE.types) == {t for t in SYMPTOMS}


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("fault_type", "target"), PAIRS, ids=[f"{t}@{w}" for t, w in PAIRS])
def test_fault_shows_its_symptom_and_reverts_exactly(store: Store, fault_type: str, target: str) -> None:
    """A pair no lab plays (the targets a lab may draw besides the one the suite plays)."""
    assert target in CATALOGUE.get(fault_type).targets
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
