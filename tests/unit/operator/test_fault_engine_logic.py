"""The fault engine's pure logic (operator/edgelab_operator/engine.py, model.py, units.py): what a snapshot
keeps, what a revert writes back, which records a fault's changes make, in which order they are recovered,
and how conditions and left-overs read. No cluster: plain dicts as the API returns them."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from edgelab_operator import catalogue as cat
from edgelab_operator import model
from edgelab_operator.engine import ObjKey, Plan, clean, plan_records, restored_body, stage
from edgelab_operator.units import NODES, OBJECTS, RESTARTS, UNITS

REVISION = "deployment.kubernetes.io/revision"


def deployment() -> dict[str, Any]:
    """A Deployment as `kubectl get -o json` shows it, server fields and all."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "pos-backend",
            "namespace": "pos",
            "labels": {"app": "pos-backend", "tier": "backend"},
            "annotations": {REVISION: "3", "kubernetes.io/change-cause": "release 2.4.1", "owner": "store-ops"},
            "resourceVersion": "48211",
            "uid": "0b7d2f7e-1c1e-4d6b-9a52-5b3f9f1c2a10",
            "creationTimestamp": "2025-01-01T10:00:00Z",
            "generation": 4,
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}],
            "selfLink": "/apis/apps/v1/namespaces/pos/deployments/pos-backend",
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "pos-backend"}},
            "template": {"spec": {"containers": [{"name": "pos-backend", "image": "byteedge/pos-backend:2.4.1"}]}},
        },
        "status": {"replicas": 3, "readyReplicas": 3, "observedGeneration": 4},
    }


# --- clean ----------------------------------------------------------------------------------------------


def test_clean_drops_what_the_server_owns_and_keeps_the_rest() -> None:
    obj = deployment()
    before = copy.deepcopy(obj)
    cleaned = clean(obj)
    assert obj == before, "clean() changed its argument"
    assert "status" not in cleaned
    meta = cleaned["metadata"]
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"):
        assert key not in meta, key
    assert meta["annotations"] == {"kubernetes.io/change-cause": "release 2.4.1", "owner": "store-ops"}
    # everything else exactly as it was
    assert meta["name"] == "pos-backend" and meta["namespace"] == "pos"
    assert meta["labels"] == before["metadata"]["labels"]
    assert cleaned["spec"] == before["spec"]
    assert (cleaned["apiVersion"], cleaned["kind"]) == ("apps/v1", "Deployment")
    assert set(cleaned) == {"apiVersion", "kind", "metadata", "spec"}


def test_clean_drops_annotations_left_empty_by_the_revision() -> None:
    obj = deployment()
    obj["metadata"]["annotations"] = {REVISION: "7"}
    assert "annotations" not in clean(obj)["metadata"]


def test_clean_keeps_data_of_a_configmap_and_is_idempotent() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "pos-config", "namespace": "pos", "uid": "u", "resourceVersion": "9"},
          "data": {"api_endpoint": "http://payment-service.payment.svc.cluster.local"}}
    cleaned = clean(cm)
    assert cleaned == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pos-config", "namespace": "pos"},
                       "data": {"api_endpoint": "http://payment-service.payment.svc.cluster.local"}}
    assert clean(cleaned) == cleaned


# --- restored_body -------------------------------------------------------------------------------------


def test_restored_body_puts_back_the_snapshot_on_the_current_identity() -> None:
    snapshot = clean(deployment())
    current = deployment()
    meta = current["metadata"]
    meta["resourceVersion"] = "50999"
    meta["annotations"] = {REVISION: "4", "kubernetes.io/change-cause": "release 2.5.0"}
    meta["labels"]["release"] = "2.5.0"
    current["spec"]["replicas"] = 0
    current["spec"]["template"]["spec"]["containers"][0]["image"] = "byteedge/pos-backend:2.5.0"
    current["spec"]["template"]["spec"]["nodeSelector"] = {"byteedge.io/tier": "pos-terminal"}
    current_copy = copy.deepcopy(current)
    snapshot_copy = copy.deepcopy(snapshot)

    body = restored_body(current, snapshot)

    assert current == current_copy and snapshot == snapshot_copy, "restored_body() changed an argument"
    # the object's identity is today's: a replace needs the current resourceVersion
    assert body["metadata"]["name"] == "pos-backend"
    assert body["metadata"]["resourceVersion"] == "50999"
    assert body["metadata"]["uid"] == current["metadata"]["uid"]
    # what a person owns is the snapshot's
    assert body["metadata"]["labels"] == snapshot["metadata"]["labels"]
    assert body["spec"] == snapshot["spec"]
    # annotations: the snapshot's, plus the controller's revision as it is now (never rolled back)
    assert body["metadata"]["annotations"] == {"kubernetes.io/change-cause": "release 2.4.1", "owner": "store-ops",
                                               REVISION: "4"}
    assert "status" not in body
    assert (body["apiVersion"], body["kind"]) == ("apps/v1", "Deployment")


def test_restored_body_drops_a_top_level_field_the_snapshot_lacks() -> None:
    snapshot = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pos-config", "namespace": "pos"}}
    current = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "pos-config", "namespace": "pos", "resourceVersion": "12", "uid": "u-1",
                            "labels": {"added": "later"}, "annotations": {"note": "edited"}},
               "data": {"receipt_cache_max_entries": "0"}, "binaryData": {"logo": "AAAA"}}
    body = restored_body(current, snapshot)
    assert "data" not in body and "binaryData" not in body
    assert body["metadata"]["labels"] == {} and body["metadata"]["annotations"] == {}
    assert body["metadata"]["resourceVersion"] == "12" and body["metadata"]["uid"] == "u-1"


def test_restored_body_brings_back_removed_keys_and_fields() -> None:
    snapshot = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "payment-secret", "namespace": "payment"},
                "type": "Opaque", "data": {"api_key": "c2VjcmV0"}}
    current = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "payment-secret", "namespace": "payment", "resourceVersion": "3"},
               "type": "Opaque", "data": {}}
    body = restored_body(current, snapshot)
    assert body["data"] == {"api_key": "c2VjcmV0"}
    assert body["type"] == "Opaque"
    body["data"]["api_key"] = "changed"
    assert snapshot["data"]["api_key"] == "c2VjcmV0", "the body shares structure with the snapshot"


def test_an_exact_revert_cleans_to_the_snapshot() -> None:
    """What `_restore` compares: after writing restored_body, the object cleans to the snapshot again."""
    snapshot = clean(deployment())
    current = deployment()
    current["metadata"]["annotations"][REVISION] = "5"
    current["spec"]["replicas"] = 0
    assert clean(restored_body(current, snapshot)) == snapshot


# --- records: one per touched object or action subject ---------------------------------------------------

CATALOGUE = cat.load()


def plan(changes: list[dict[str, Any]], node: str | None = None) -> Plan:
    return Plan(CATALOGUE.get("crash-on-start"), "pos", "pos-backend", changes, node, {"container": "pos-backend"})


def keys(records: list[dict[str, Any]]) -> list[ObjKey]:
    return [ObjKey.of(r) for r in records]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"release": {"image": "byteedge/pos-backend:2.5.0"}}, ObjKey("Deployment", "pos", "pos-backend")),
        ({"pod-spec": {"nodeSelector": {"byteedge.io/tier": "pos-terminal"}}}, ObjKey("Deployment", "pos", "pos-backend")),
        ({"scale": {"replicas": 0}}, ObjKey("Deployment", "pos", "pos-backend")),
        ({"config": {"name": "pos-config", "remove": ["api_endpoint"]}}, ObjKey("ConfigMap", "pos", "pos-config")),
        ({"secret": {"name": "payment-secret", "remove": ["api_key"]}}, ObjKey("Secret", "pos", "payment-secret")),
        ({"delete": {"kind": "ConfigMap", "name": "pos-config"}}, ObjKey("ConfigMap", "pos", "pos-config")),
        ({"delete": {"kind": "Secret", "name": "payment-secret"}}, ObjKey("Secret", "pos", "payment-secret")),
        ({"service": {"name": "pos-backend-service", "patch": {"selector": {"app": "x"}}}},
         ObjKey("Service", "pos", "pos-backend-service")),
        ({"create": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "payment-ingress", "namespace": "payment"}}},
         ObjKey("NetworkPolicy", "payment", "payment-ingress")),
        ({"create": {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "pos-ingress"}}},
         ObjKey("NetworkPolicy", "pos", "pos-ingress")),
        ({"restart": {}}, ObjKey("Pods", "pos", "pos-backend")),
        ({"stop-node": {}}, ObjKey("Node", "", "store-worker2")),
    ],
)
def test_each_change_kind_has_a_unit_and_one_target(change: dict[str, Any], key: ObjKey) -> None:
    records = plan_records(plan([change], node="store-worker2"))
    assert keys(records) == [key]
    assert records[0]["changes"] == [0] and records[0]["phase"] == model.PENDING


def test_every_change_kind_of_the_catalogue_has_a_unit() -> None:
    assert set(cat.CHANGE_KINDS) == set(UNITS)


def test_records_are_deduplicated_in_first_seen_order_with_their_changes() -> None:
    changes = [
        {"pod-spec": {"imagePullSecrets": [{"name": "byteedge-registry"}]}},
        {"config": {"name": "pos-config", "set": {"a": "1"}}},
        {"release": {"image": "registry.byteedge.internal/byteedge/pos-backend:2.4.1"}},
        {"restart": {}},
        {"delete": {"kind": "ConfigMap", "name": "pos-config"}},
        {"scale": {"replicas": 0}},
    ]
    records = plan_records(plan(changes))
    assert keys(records) == [ObjKey("Deployment", "pos", "pos-backend"), ObjKey("ConfigMap", "pos", "pos-config"),
                             ObjKey("Pods", "pos", "pos-backend")]
    assert [r["changes"] for r in records] == [[0, 2, 5], [1, 4], [3]]


def test_recovery_puts_objects_back_in_reverse_then_restarts_then_nodes() -> None:
    p = plan([{"stop-node": {}}, {"restart": {}}, {"delete": {"kind": "ConfigMap", "name": "pos-config"}},
              {"scale": {"replicas": 0}}], node="n1")
    records = plan_records(p)
    assert [stage(r, p) for r in records] == [NODES, RESTARTS, OBJECTS, OBJECTS]
    order = model.by_stage(records, lambda r: stage(r, p))
    assert [records[i]["kind"] for i in order] == ["Deployment", "ConfigMap", "Pods", "Node"]


def test_plan_round_trips_through_the_status() -> None:
    p = plan([{"release": {"image": "x:1"}}, {"restart": {}}], node=None)
    again = Plan.from_status(p.to_status(), CATALOGUE)
    assert again == p


def test_object_units_snapshot_and_action_units_do_not() -> None:
    assert UNITS["config"].snapshots and not UNITS["restart"].snapshots and not UNITS["stop-node"].snapshots


# --- conditions and what is left ---------------------------------------------------------------------------


def test_set_condition_adds_then_updates_and_keeps_the_transition_time_while_unchanged() -> None:
    conds = model.set_condition(None, "AllRecovered", False, "Recovering")
    assert conds == [{"type": "AllRecovered", "status": "False", "reason": "Recovering", "message": "",
                      "lastTransitionTime": conds[0]["lastTransitionTime"]}]
    conds[0]["lastTransitionTime"] = "2000-01-01T00:00:00Z"
    again = model.set_condition(conds, "AllRecovered", False, "TimedOut", "node n1 is still NotReady")
    assert again[0]["lastTransitionTime"] == "2000-01-01T00:00:00Z" and again[0]["reason"] == "TimedOut"
    done = model.set_condition(again, "AllRecovered", True, "Recovered")
    assert done[0]["status"] == "True" and done[0]["lastTransitionTime"] != "2000-01-01T00:00:00Z"
    assert conds[0]["reason"] == "Recovering", "set_condition changed its argument"
    assert model.condition(done, "AllRecovered") == done[0] and model.condition(done, "Selected") is None


def test_left_over_names_each_target_not_recovered_and_why() -> None:
    records = [
        {"kind": "ConfigMap", "namespace": "pos", "name": "pos-config", "phase": model.RECOVERED, "message": ""},
        {"kind": "Node", "namespace": "", "name": "s-worker", "phase": model.NOT_RECOVERED,
         "message": "node s-worker is still NotReady (its kubelet has not come back)"},
        {"kind": "Pods", "namespace": "pos", "name": "pos-backend", "phase": model.INJECTED, "message": ""},
    ]
    assert model.left_over(records) == ["Node s-worker: node s-worker is still NotReady (its kubelet has not come back)",
                                        "Pods pos/pos-backend: injected"]
    assert model.touched(records) == ["ConfigMap/pos/pos-config", "Node//s-worker", "Pods/pos/pos-backend"]


def test_objkey_reads_as_kind_namespace_name() -> None:
    assert str(ObjKey("ConfigMap", "pos", "pos-config")) == "ConfigMap/pos/pos-config"
    assert ObjKey("Secret", "a", "b") == ObjKey("Secret", "a", "b")
    assert len({ObjKey("Secret", "a", "b"), ObjKey("Secret", "a", "b")}) == 1


# --- the node agent's decision --------------------------------------------------------------------------


def fault(node: str, phase: str, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "f"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T10:00:00Z"
    return {"metadata": meta, "status": {"node": node, "phase": phase}}


@pytest.mark.parametrize(("faults", "down"), [
    ([], False),
    ([fault("w1", "Applying")], True),
    ([fault("w1", "Active")], True),
    ([fault("w1", "Active", deleting=True)], False),   # being cleared: the box comes back
    ([fault("w1", "Reverting")], False),
    ([fault("w1", "Stuck")], False),
    ([fault("w2", "Active")], False),                  # another node's failure
    ([{"metadata": {"name": "g"}}], False),            # not selected yet
])
def test_a_node_is_held_down_only_while_a_live_fault_names_it(faults: list[dict[str, Any]], down: bool) -> None:
    from edgelab_operator.agent import wanted_down
    assert wanted_down(faults, "w1") is down


def test_a_node_failure_draws_any_worker_running_the_target() -> None:
    from edgelab_operator.engine import pick_node

    workers = ["s-worker", "s-worker2", "s-worker3"]
    rng = random.Random(7)
    # pos-backend 2 + 1 on two of three workers: both hosting workers are drawn, the idle one never
    drawn = {pick_node(workers, ["s-worker", "s-worker", "s-worker2"], rng) for _ in range(50)}
    assert drawn == {"s-worker", "s-worker2"}
    assert {pick_node(workers, [None], rng) for _ in range(50)} == set(workers)  # nothing scheduled yet: any
