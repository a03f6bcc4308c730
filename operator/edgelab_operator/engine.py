"""Apply a fault to a store and revert it exactly.

The record of what to restore lives in the Fault's status (`snapshots`: every
object as it was before the first change, or `null` for objects the fault
creates), written before anything is changed. Reverting needs nothing but that
record, so an operator that died mid-fault, or a retry, restores the same
state; applying again reuses the record instead of snapshotting the broken
state.

Every change is made the way a person would make it, with kubectl's own field
manager names, so a learner reading `managedFields` sees an edit or a rollout,
not a lab.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from . import NAMESPACE
from . import catalogue as cat

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
AGENT_LABELS = {"app.kubernetes.io/name": "node-agent", "app.kubernetes.io/part-of": "edgelab"}


@dataclass(frozen=True)
class ObjKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass
class Plan:
    fault_type: cat.FaultType
    namespace: str
    workload: str
    changes: list[dict[str, Any]]
    touched: list[ObjKey]
    node: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


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


def touched_objects(changes: list[dict[str, Any]], namespace: str, workload: str) -> list[ObjKey]:
    keys: list[ObjKey] = []
    for change in changes:
        (kind, body), = change.items()
        if kind in ("release", "pod-spec", "scale"):
            key = ObjKey("Deployment", namespace, workload)
        elif kind == "config":
            key = ObjKey("ConfigMap", namespace, body["name"])
        elif kind == "secret":
            key = ObjKey("Secret", namespace, body["name"])
        elif kind == "delete":
            key = ObjKey(body["kind"], namespace, body["name"])
        elif kind == "service":
            key = ObjKey("Service", namespace, body["name"])
        elif kind == "create":
            key = ObjKey(body["kind"], body["metadata"].get("namespace", namespace), body["metadata"]["name"])
        else:  # restart, stop-node: no object changes
            continue
        if key not in keys:
            keys.append(key)
    return keys


class Engine:
    def __init__(self, api: client.ApiClient, agent_image: str = "", namespace: str = NAMESPACE) -> None:
        self.api = api
        self.dyn = DynamicClient(api)
        self.catalogue = cat.load()
        self.agent_image = agent_image
        self.namespace = namespace

    # --- objects -------------------------------------------------------------
    def _res(self, kind: str) -> Any:
        return self.dyn.resources.get(api_version=API_VERSIONS[kind], kind=kind)

    def get(self, key: ObjKey) -> dict[str, Any] | None:
        try:
            return self._res(key.kind).get(name=key.name, namespace=key.namespace).to_dict()
        except NotFoundError:
            return None

    def _replace(self, key: ObjKey, body: dict[str, Any], manager: str) -> None:
        self._res(key.kind).replace(body=body, namespace=key.namespace, field_manager=manager)

    def _patch(self, key: ObjKey, patch: dict[str, Any], manager: str) -> None:
        self._res(key.kind).patch(body=patch, name=key.name, namespace=key.namespace, field_manager=manager,
                                  content_type="application/strategic-merge-patch+json")

    def _retry_conflicts(self, fn: Callable[[], None]) -> None:
        for attempt in range(5):
            try:
                fn()
                return
            except ConflictError:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    # --- planning (touches nothing) -----------------------------------------
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
        plan = Plan(ft, namespace, workload, changes, touched_objects(changes, namespace, workload), node, facts)
        for key in plan.touched:
            if key.kind in ("ConfigMap", "Secret", "Service") and self.get(key) is None and not any(
                "create" in c for c in changes
            ):
                raise cat.InvalidFault(f"target {target}: {key.kind} {key.name} does not exist in {namespace}")
        return plan

    def _pick_node(self, namespace: str, deployment: dict[str, Any], needs_workers: int) -> str:
        nodes = self._res("Node").get().to_dict()["items"]
        workers = [n["metadata"]["name"] for n in nodes if CONTROL_PLANE_LABEL not in n["metadata"].get("labels", {})]
        if len(workers) < max(1, needs_workers) or len(nodes) < 2:
            raise cat.InvalidFault(f"a node failure needs a store with at least one worker node besides the control "
                                   f"plane; this store has {len(nodes)} node(s)")
        pods = self._pods(namespace, deployment)
        on = {w: sum(1 for p in pods if p["spec"].get("nodeName") == w) for w in workers}
        most = max(on.values())
        return random.choice(sorted(w for w, n in on.items() if n == most))

    def _pods(self, namespace: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        labels = deployment["spec"]["selector"].get("matchLabels", {})
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        return self._res("Pod").get(namespace=namespace, label_selector=selector).to_dict()["items"]

    # --- snapshots ------------------------------------------------------------
    def snapshot(self, plan: Plan) -> list[dict[str, Any]]:
        out = []
        for key in plan.touched:
            obj = self.get(key)
            out.append({"kind": key.kind, "namespace": key.namespace, "name": key.name,
                        "object": json.dumps(clean(obj), sort_keys=True) if obj is not None else None})
        return out

    # --- apply ------------------------------------------------------------------
    def apply(self, plan: Plan, fault: dict[str, Any]) -> dict[str, Any]:
        """Make every change of the plan (idempotent); return extra status to record."""
        extra: dict[str, Any] = {}
        deploy = ObjKey("Deployment", plan.namespace, plan.workload)
        for change in plan.changes:
            (kind, body), = change.items()
            log.info("applying %s to %s/%s", kind, plan.namespace, plan.workload)
            if kind == "release":
                c: dict[str, Any] = {"name": plan.facts["container"]}
                if "image" in body:
                    c["image"] = body["image"]
                if "env" in body:
                    c["env"] = [{"name": k, "value": str(v)} for k, v in body["env"].items()]
                if "resources" in body:
                    c["resources"] = body["resources"]
                patch: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [c]}}}}
                if "cause" in body:
                    patch["metadata"] = {"annotations": {"kubernetes.io/change-cause": body["cause"]}}
                self._patch(deploy, patch, "kubectl-set")
            elif kind == "pod-spec":
                self._patch(deploy, {"spec": {"template": {"spec": body}}}, "kubectl-patch")
            elif kind == "scale":
                self._patch(deploy, {"spec": {"replicas": int(body["replicas"])}}, "kubectl-scale")
            elif kind == "service":
                self._patch(ObjKey("Service", plan.namespace, body["name"]), {"spec": body["patch"]}, "kubectl-patch")
            elif kind in ("config", "secret"):
                key = ObjKey("ConfigMap" if kind == "config" else "Secret", plan.namespace, body["name"])
                self._retry_conflicts(functools.partial(self._edit_data, key, body))
            elif kind == "delete":
                try:
                    self._res(body["kind"]).delete(name=body["name"], namespace=plan.namespace)
                except NotFoundError:
                    pass
            elif kind == "create":
                obj = copy.deepcopy(body)
                obj["metadata"].setdefault("namespace", plan.namespace)
                try:
                    self._res(obj["kind"]).create(body=obj, namespace=obj["metadata"]["namespace"],
                                                  field_manager="kubectl-create")
                except ConflictError:
                    pass
            elif kind == "restart":
                self.restart(plan.namespace, plan.workload)
                extra.setdefault("restarts", []).append(f"{plan.namespace}/{plan.workload}")
            elif kind == "stop-node":
                assert plan.node
                extra["node"] = plan.node
                extra["agent"] = self.start_agent(plan.node, fault)
        return extra

    def _edit_data(self, key: ObjKey, body: dict[str, Any]) -> None:
        obj = self.get(key)
        if obj is None:
            raise cat.InvalidFault(f"{key.kind} {key.namespace}/{key.name} does not exist")
        data = dict(obj.get("data") or {})
        for k in body.get("remove", []):
            data.pop(k, None)
        for k, v in (body.get("set") or {}).items():
            data[k] = str(v)
        obj["data"] = data
        obj.pop("status", None)
        self._replace(key, obj, "kubectl-edit")

    def restart(self, namespace: str, workload: str) -> None:
        """Delete the workload's pods: they start again with the current config (a store restart)."""
        deployment = self.get(ObjKey("Deployment", namespace, workload))
        if deployment is None:
            return
        for pod in self._pods(namespace, deployment):
            try:
                self._res("Pod").delete(name=pod["metadata"]["name"], namespace=namespace)
            except NotFoundError:
                pass

    # --- node failure -------------------------------------------------------------
    def agent_name(self, node: str) -> str:
        return f"node-agent-{node}"[:63]

    def start_agent(self, node: str, fault: dict[str, Any]) -> str:
        """A privileged pod on `node` that stops its kubelet until the Fault is deleted (agent.py)."""
        name = self.agent_name(node)
        meta = fault["metadata"]
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": AGENT_LABELS},
            "spec": {
                "nodeName": node, "hostPID": True, "restartPolicy": "Never",
                "serviceAccountName": "node-agent", "terminationGracePeriodSeconds": 5,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": "agent", "image": self.agent_image, "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-m", "edgelab_operator.agent", "--namespace", self.namespace,
                                "--fault", meta["name"], "--uid", meta["uid"]],
                    "securityContext": {"privileged": True},
                    "resources": {"requests": {"cpu": "5m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}},
                }],
            },
        }
        try:
            self._res("Pod").create(body=pod, namespace=self.namespace)
        except ConflictError:
            pass
        return name

    def node_ready(self, node: str) -> bool:
        obj = self.get(ObjKey("Node", "", node))
        if obj is None:
            return False
        conds = obj.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    # --- revert ----------------------------------------------------------------------
    def revert(self, status: dict[str, Any]) -> list[str]:
        """Put every snapshotted object back; restart what was restarted. Returns what is still pending
        (a node not Ready yet), empty when done."""
        pending: list[str] = []
        node = status.get("node")
        if node and not self.node_ready(node):
            pending.append(f"node {node} is not Ready yet")
        for snap in reversed(status.get("snapshots") or []):
            key = ObjKey(snap["kind"], snap["namespace"], snap["name"])
            before = json.loads(snap["object"]) if snap.get("object") else None
            self._retry_conflicts(functools.partial(self._restore, key, before))
        for target in status.get("restarts") or []:
            namespace, workload = target.split("/")
            self.restart(namespace, workload)
        if node and not pending and status.get("agent"):
            try:
                self._res("Pod").delete(name=status["agent"], namespace=self.namespace)
            except NotFoundError:
                pass
        return pending

    def _restore(self, key: ObjKey, before: dict[str, Any] | None) -> None:
        now = self.get(key)
        if before is None:
            if now is not None:
                log.info("removing %s", key)
                try:
                    self._res(key.kind).delete(name=key.name, namespace=key.namespace)
                except NotFoundError:
                    pass
            return
        if now is None:
            log.info("recreating %s", key)
            self._res(key.kind).create(body=before, namespace=key.namespace, field_manager="kubectl-create")
            return
        if clean(now) == before:
            return
        log.info("restoring %s", key)
        manager = "kubectl-rollout" if key.kind == "Deployment" else "kubectl-edit"
        self._replace(key, restored_body(now, before), manager)

    def differences(self, status: dict[str, Any]) -> list[str]:
        """Objects that differ from their snapshot (empty after an exact revert)."""
        out = []
        for snap in status.get("snapshots") or []:
            key = ObjKey(snap["kind"], snap["namespace"], snap["name"])
            before = json.loads(snap["object"]) if snap.get("object") else None
            now = self.get(key)
            if (now is None) != (before is None) or (now is not None and clean(now) != before):
                out.append(str(key))
        return out
