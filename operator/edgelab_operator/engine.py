"""Apply a fault to a store and revert it exactly: the shared part of every change kind.

`select` turns a Fault into a plan (its changes rendered for one target, fixed
from then on) and records: one per touched object or action subject, each with
the object as it was before any change (`snapshot`, `null` for objects the
fault creates). The handlers write both into the Fault's status before anything
is changed. Injecting and recovering then need nothing but that status, one
record at a time through its unit (units.py), so an operator that died between
any two steps, or a retry, carries on from where the status says and never
snapshots the broken state or plans against it.

Every change is made the way a person would make it, with kubectl's own field
manager names, so a learner reading `managedFields` sees an edit or a rollout,
not a lab.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from . import NAMESPACE
from . import catalogue as cat
from .model import PENDING, ObjKey, Plan
from .units import UNITS, Unit

__all__ = ["Engine", "ObjKey", "Plan", "clean", "restored_body", "plan_records"]

log = logging.getLogger("edgelab.faults")

API_VERSIONS = {
    "Deployment": "apps/v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Pod": "v1",
    "Node": "v1",
}
# metadata the API server or a controller owns: never snapshotted, never restored
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")
_CONTROLLER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def clean(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what the server owns (status, uid, resourceVersion, managedFields, ...)."""
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    meta = obj.get("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    for key in _CONTROLLER_ANNOTATIONS:
        annotations.pop(key, None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    return obj


def restored_body(current: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """`current` with everything a person owns set back to `snapshot`: labels,
    annotations (the controller's own kept), and every top-level field."""
    body = copy.deepcopy(current)
    body.pop("status", None)
    meta = body["metadata"]
    snap_meta = snapshot.get("metadata", {})
    meta["labels"] = dict(snap_meta.get("labels") or {})
    kept = {k: v for k, v in (meta.get("annotations") or {}).items() if k in _CONTROLLER_ANNOTATIONS}
    meta["annotations"] = {**(snap_meta.get("annotations") or {}), **kept}
    for key in list(body):
        if key not in ("apiVersion", "kind", "metadata") and key not in snapshot:
            del body[key]
    for key, value in snapshot.items():
        if key not in ("apiVersion", "kind", "metadata", "status"):
            body[key] = copy.deepcopy(value)
    return body




def plan_records(plan: Plan) -> list[dict[str, Any]]:
    """One record per touched object or action subject, in order of its first change (no snapshots yet)."""
    records: list[dict[str, Any]] = []
    index: dict[ObjKey, int] = {}
    for i, change in enumerate(plan.changes):
        (kind, body), = change.items()
        unit = UNITS[kind]
        key = unit.target(body, plan)
        if key not in index:
            index[key] = len(records)
            records.append({"kind": key.kind, "namespace": key.namespace, "name": key.name, "changes": [],
                            "phase": PENDING, "message": ""})
        records[index[key]]["changes"].append(i)
    return records


def stage(record: dict[str, Any], plan: Plan) -> int:
    return min(UNITS[_kind_of(plan.changes[i])].stage for i in record["changes"])


def _kind_of(change: dict[str, Any]) -> str:
    (kind, _), = change.items()
    return kind


def pick_node(workers: list[str], pod_nodes: list[str | None], rng: random.Random | None = None) -> str:
    """The worker to fail: any one running a pod of the target, drawn anew each time (so two attempts at a
    lab on a 3-node store need not fail the same box); any worker if none runs one."""
    hosting = sorted(w for w in workers if w in pod_nodes) or sorted(workers)
    return (rng or random.Random()).choice(hosting)


class Engine:
    def __init__(self, api: client.ApiClient, namespace: str = NAMESPACE) -> None:
        self.api = api
        self.dyn = DynamicClient(api)
        self.catalogue = cat.load()
        self.namespace = namespace

    # --- objects -------------------------------------------------------------
    def resource(self, kind: str) -> Any:
        return self.dyn.resources.get(api_version=API_VERSIONS[kind], kind=kind)

    def get(self, key: ObjKey) -> dict[str, Any] | None:
        try:
            return self.resource(key.kind).get(name=key.name, namespace=key.namespace).to_dict()
        except NotFoundError:
            return None

    def replace(self, key: ObjKey, body: dict[str, Any], manager: str) -> None:
        self.resource(key.kind).replace(body=body, namespace=key.namespace, field_manager=manager)

    def patch(self, key: ObjKey, patch: dict[str, Any], manager: str) -> None:
        self.resource(key.kind).patch(body=patch, name=key.name, namespace=key.namespace, field_manager=manager,
                                      content_type="application/strategic-merge-patch+json")

    def edit(self, key: ObjKey, change: Callable[[dict[str, Any]], dict[str, Any]], manager: str) -> None:
        """Read, change, write back (as `kubectl edit` does), again on a conflict."""
        def once() -> None:
            obj = self.get(key)
            if obj is None:
                raise cat.InvalidFault(f"{key.kind} {key.namespace}/{key.name} does not exist")
            obj.pop("status", None)
            self.replace(key, change(obj), manager)
        self._retry_conflicts(once)

    def delete_pod(self, namespace: str, name: str) -> None:
        try:
            self.resource("Pod").delete(name=name, namespace=namespace)
        except NotFoundError:
            pass

    def _retry_conflicts(self, fn: Callable[[], None]) -> None:
        for attempt in range(5):
            try:
                fn()
                return
            except ConflictError:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    # --- selecting (touches nothing) ------------------------------------------
    def plan(self, fault_type: str, target: str | None, params: dict[str, Any] | None) -> Plan:
        ft = self.catalogue.get(fault_type)
        target = target or ft.default_target
        namespace, workload = cat.split_target(target)
        deployment = self.get(ObjKey("Deployment", namespace, workload))
        if deployment is None:
            raise cat.InvalidFault(f"target {target}: no Deployment {workload} in namespace {namespace}")
        if target not in ft.targets:
            raise cat.InvalidFault(f"fault type {ft.name} cannot target {target}; it can target: {', '.join(ft.targets)}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        facts = {"namespace": namespace, "workload": workload, "container": container["name"],
                 "replicas": str(deployment["spec"].get("replicas", 1)), **cat.image_facts(container["image"])}
        changes = cat.render(ft, target, self.catalogue, facts, params)
        node = None
        if any("stop-node" in c for c in changes):
            node = self._pick_node(namespace, deployment, ft.needs_workers)
        plan = Plan(ft, namespace, workload, changes, node, facts)
        creates = any("create" in c for c in changes)
        for record in plan_records(plan):
            key = ObjKey.of(record)
            if key.kind in ("ConfigMap", "Secret", "Service") and not creates and self.get(key) is None:
                raise cat.InvalidFault(f"target {target}: {key.kind} {key.name} does not exist in {namespace}")
        return plan

    def select(self, plan: Plan) -> list[dict[str, Any]]:
        """The plan's records, each object's snapshot taken now (before any change)."""
        records = plan_records(plan)
        for record in records:
            if self.unit_of(record, plan).snapshots:
                obj = self.get(ObjKey.of(record))
                record["snapshot"] = json.dumps(clean(obj), sort_keys=True) if obj is not None else None
        return records

    def _pick_node(self, namespace: str, deployment: dict[str, Any], needs_workers: int) -> str:
        nodes = self.resource("Node").get().to_dict()["items"]
        workers = [n["metadata"]["name"] for n in nodes if CONTROL_PLANE_LABEL not in n["metadata"].get("labels", {})]
        if len(workers) < max(1, needs_workers) or len(nodes) < 2:
            raise cat.InvalidFault(f"a node failure needs a store with at least one worker node besides the control "
                                   f"plane; this store has {len(nodes)} node(s)")
        return pick_node(workers, [p["spec"].get("nodeName") for p in self._pods(namespace, deployment)])

    def _pods(self, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        labels = deployment["spec"]["selector"].get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        return self.resource("Pod").get(namespace=namespace, label_selector=selector).to_dict()["items"]

    # --- one record at a time -------------------------------------------------
    def unit_of(self, record: dict[str, Any], plan: Plan) -> Unit:
        return UNITS[_kind_of(plan.changes[record["changes"][0]])]

    def inject(self, record: dict[str, Any], plan: Plan, fault: dict[str, Any]) -> dict[str, Any]:
        """Make every change of one record (idempotent); returns facts to keep in the record."""
        key = ObjKey.of(record)
        facts: dict[str, Any] = {}
        for i in record["changes"]:
            kind = _kind_of(plan.changes[i])
            log.info("applying %s to %s", kind, key)
            facts.update(UNITS[kind].apply(self, key, plan.changes[i][kind], plan, fault))
        return facts

    def recover(self, record: dict[str, Any], plan: Plan) -> str | None:
        """Put one record's target back; None when done, else why not yet."""
        return self.unit_of(record, plan).recover(self, ObjKey.of(record), record)

    @staticmethod
    def snapshot_of(record: dict[str, Any]) -> dict[str, Any] | None:
        raw = record.get("snapshot")
        return json.loads(raw) if raw else None

    def restart(self, namespace: str, workload: str) -> None:
        """Delete the workload's pods: they start again with the current config (a store restart)."""
        deployment = self.get(ObjKey("Deployment", namespace, workload))
        if deployment is None:
            return
        for pod in self._pods(namespace, deployment):
            self.delete_pod(namespace, pod["metadata"]["name"])

    # --- node failure -----------------------------------------------------------
    def node_ready(self, node: str) -> bool:
        obj = self.get(ObjKey("Node", "", node))
        if obj is None:
            return False
        conds = obj.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    # --- restoring ----------------------------------------------------------------
    def restore(self, key: ObjKey, before: dict[str, Any] | None) -> None:
        """The object as `before` (absent when None); nothing written when it already is."""
        def once() -> None:
            now = self.get(key)
            if before is None:
                if now is not None:
                    log.info("removing %s", key)
                    try:
                        self.resource(key.kind).delete(name=key.name, namespace=key.namespace)
                    except NotFoundError:
                        pass
                return
            if now is None:
                log.info("recreating %s", key)
                self.resource(key.kind).create(body=before, namespace=key.namespace, field_manager="kubectl-create")
                return
            if clean(now) == before:
                return
            log.info("restoring %s", key)
            manager = "kubectl-rollout" if key.kind == "Deployment" else "kubectl-edit"
            self.replace(key, restored_body(now, before), manager)
        self._retry_conflicts(once)
