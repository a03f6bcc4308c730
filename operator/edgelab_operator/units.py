"""Change kinds as units: each one knows its target, how to apply itself to it and how to recover it.

A unit handles one change to one target, idempotently: applying twice leaves
what applying once leaves, recovering a recovered target changes nothing. What
is shared (choosing targets, recording snapshots, looping, retrying, timing,
status) lives once in engine.py and handlers.py; a new change kind is a new
unit here and a line in `UNITS` (the shape of Chaos Mesh's `chaosimpl`).

Targets are records (status.records of a Fault): an object the unit changes
(`kind`, `namespace`, `name`, its `snapshot`), or an action's subject (`Pods`
of a workload to restart, a `Node` to stop).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from .model import ObjKey, Plan


class Engine(Protocol):
    """What a unit asks of the cluster: engine.Engine does it (units do not import it; the engine imports them)."""

    def resource(self, kind: str) -> Any: ...

    def patch(self, key: ObjKey, patch: dict[str, Any], manager: str) -> None: ...

    def edit(self, key: ObjKey, change: Callable[[dict[str, Any]], dict[str, Any]], manager: str) -> None: ...

    def restart(self, namespace: str, workload: str) -> None: ...

    def node_ready(self, node: str) -> bool: ...

    def restore(self, key: ObjKey, before: dict[str, Any] | None) -> None: ...

    def snapshot_of(self, record: dict[str, Any]) -> dict[str, Any] | None: ...


# recovery runs in stages: objects back first (reverse order), then restarts, then nodes
OBJECTS, RESTARTS, NODES = 0, 1, 2


class Unit:
    kind: ClassVar[str]
    stage: ClassVar[int] = OBJECTS
    snapshots: ClassVar[bool] = True  # the target is an object whose state is recorded before the change

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        raise NotImplementedError

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        """Make the change (idempotent). Returns facts to keep in the record (e.g. the agent's name)."""
        raise NotImplementedError

    def recover(self, eng: Engine, key: ObjKey, record: dict[str, Any]) -> str | None:
        """Put the target back. None when done, else why not yet (retried until the fault's deadline and after)."""
        eng.restore(key, eng.snapshot_of(record))
        return None


class _DeploymentUnit(Unit):
    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey("Deployment", plan.namespace, plan.workload)


class Release(_DeploymentUnit):
    """The container gets a new image/env/resources, with a change-cause: a new ReplicaSet rolls out."""
    kind = "release"

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
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
        eng.patch(key, patch, "kubectl-set")
        return {}


class PodSpec(_DeploymentUnit):
    kind = "pod-spec"

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        eng.patch(key, {"spec": {"template": {"spec": body}}}, "kubectl-patch")
        return {}


class Scale(_DeploymentUnit):
    kind = "scale"

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        eng.patch(key, {"spec": {"replicas": int(body["replicas"])}}, "kubectl-scale")
        return {}


class ServicePatch(Unit):
    kind = "service"

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey("Service", plan.namespace, body["name"])

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        eng.patch(key, {"spec": body["patch"]}, "kubectl-patch")
        return {}


class DataEdit(Unit):
    """Set or remove keys of a ConfigMap (an edit)."""
    kind = "config"
    object_kind = "ConfigMap"

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey(self.object_kind, plan.namespace, body["name"])

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        def edit(obj: dict[str, Any]) -> dict[str, Any]:
            data = dict(obj.get("data") or {})
            for k in body.get("remove", []):
                data.pop(k, None)
            for k, v in (body.get("set") or {}).items():
                data[k] = str(v)
            obj["data"] = data
            return obj

        eng.edit(key, edit, "kubectl-edit")
        return {}


class SecretEdit(DataEdit):
    kind = "secret"
    object_kind = "Secret"


class Delete(Unit):
    kind = "delete"

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey(body["kind"], plan.namespace, body["name"])

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        try:
            eng.resource(key.kind).delete(name=key.name, namespace=key.namespace)
        except NotFoundError:
            pass
        return {}


class Create(Unit):
    kind = "create"

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey(body["kind"], body["metadata"].get("namespace", plan.namespace), body["metadata"]["name"])

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["metadata"]["namespace"] = key.namespace
        try:
            eng.resource(key.kind).create(body=obj, namespace=key.namespace, field_manager="kubectl-create")
        except ConflictError:
            pass
        return {}


class Restart(Unit):
    """Delete the workload's pods: they start again with what changed. Done again on recovery, so the store heals."""
    kind = "restart"
    stage = RESTARTS
    snapshots = False

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        return ObjKey("Pods", plan.namespace, plan.workload)

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        eng.restart(key.namespace, key.name)
        return {}

    def recover(self, eng: Engine, key: ObjKey, record: dict[str, Any]) -> str | None:
        eng.restart(key.namespace, key.name)
        return None


class StopNode(Unit):
    """A worker box fails: the node's agent (agent.py, on every node) stops its kubelet while the Fault names
    the node in its status, and starts it again once the Fault is being deleted."""
    kind = "stop-node"
    stage = NODES
    snapshots = False

    def target(self, body: dict[str, Any], plan: Plan) -> ObjKey:
        assert plan.node, "a stop-node change needs the plan's node"
        return ObjKey("Node", "", plan.node)

    def apply(self, eng: Engine, key: ObjKey, body: dict[str, Any], plan: Plan, fault: dict[str, Any]
              ) -> dict[str, Any]:
        return {}  # status.node, written at selection, is what the node's agent acts on

    def recover(self, eng: Engine, key: ObjKey, record: dict[str, Any]) -> str | None:
        if not eng.node_ready(key.name):
            return f"node {key.name} is still NotReady (its kubelet has not come back)"
        return None


UNITS: dict[str, Unit] = {u.kind: u for u in (Release(), PodSpec(), Scale(), ServicePatch(), DataEdit(),
                                               SecretEdit(), Delete(), Create(), Restart(), StopNode())}
