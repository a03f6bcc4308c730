"""Faults for instructors: install the operator, inject, list, clear.

The fault logic itself lives in the operator (operator/edgelab_operator), which
runs in each store; this module only talks to it through Fault resources, with
the store's admin credentials.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from edgelab.base.catalogue import fault_catalogue
from edgelab.base.errors import ClusterError, EdgelabError
from edgelab.base.paths import REPO
from edgelab.base.types import Say
from edgelab.kube.cluster import poll, wait_condition
from edgelab.machine import docker
from edgelab_operator import FINALIZER, GROUP, NAMESPACE, PLURAL, VERSION, model
from edgelab_operator import catalogue as cat

WORKLOADS = ("deployment/fleet-agent", "daemonset/node-agent")  # the operator, and the node agent on every node
CLEAR_MARGIN = 30  # seconds on top of a fault's own recover time before `clear` gives up waiting
OPERATOR_MANIFESTS = REPO / "manifests" / "operator"

class FaultError(EdgelabError):
    """A fault was rejected, or the operator did not answer."""


def catalogue() -> cat.Catalogue:
    return fault_catalogue()


def install(k: Any, say: Say = lambda _: None, image: str | None = None) -> None:
    """Apply the Fault CRD and the operator (idempotent). `k` is a cluster.Kubectl.

    The operator's pod template carries the id of the image loaded into the
    nodes, so a rebuilt operator (same tag, new code) rolls out on the next `up`.
    """
    say("installing the fault operator")
    k("apply", "-f", str(OPERATOR_MANIFESTS / "crd.yaml"))
    crd_established(k)
    k("apply", "-f", str(OPERATOR_MANIFESTS / "operator.yaml"))
    image_id = docker.image_id(image) if image else ""  # "" when Docker does not know it
    if image_id:
        patch = {"spec": {"template": {"metadata": {"annotations": {"checksum/image": image_id}}}}}
        for workload in WORKLOADS:
            k("-n", NAMESPACE, "patch", workload, "--type=merge", "-p", json.dumps(patch))


def crd_established(k: Any, timeout: float = 60) -> None:
    """Until the API server serves the Fault kind (`k` is a cluster.Kubectl)."""
    wait_condition(k, "crd/faults.edgelab.io", "Established", timeout)


def wait_operator(admin_kubeconfig: Path, say: Say = lambda _: None, timeout: float = 180) -> None:
    """Until the operator's Deployment and the node agent's DaemonSet run their current template, all ready."""
    say("waiting for the fault operator")
    with config.new_client_from_config(str(admin_kubeconfig)) as api:
        apps = client.AppsV1Api(api)

        def ready() -> bool:
            d: Any = apps.read_namespaced_deployment("fleet-agent", NAMESPACE)
            ds: Any = apps.read_namespaced_daemon_set("node-agent", NAMESPACE)
            want, st = d.spec.replicas or 0, d.status
            deployment_ok = ((st.observed_generation or 0) >= d.metadata.generation and (st.updated_replicas or 0)
                             == want and (st.available_replicas or 0) == want and (st.replicas or 0) == want)
            dst = ds.status
            daemons_ok = ((dst.observed_generation or 0) >= ds.metadata.generation and dst.desired_number_scheduled
                          == (dst.updated_number_scheduled or 0) == (dst.number_available or 0))
            return deployment_ok and daemons_ok

        try:
            poll("the fault operator and its node agents", ready, timeout, interval=1)
        except ClusterError as e:
            raise FaultError(f"the fault operator did not become ready within {timeout:.0f}s "
                             f"(kubectl -n {NAMESPACE} get pods shows why)") from e


@dataclass(frozen=True)
class FaultInfo:
    name: str
    type: str
    target: str
    phase: str
    message: str
    created: str
    records: tuple[dict[str, str], ...] = ()     # each touched object or action subject with its phase
    conditions: tuple[dict[str, str], ...] = ()  # Selected, AllInjected, AllRecovered

    @classmethod
    def of(cls, obj: dict[str, Any]) -> FaultInfo:
        st = obj.get("status") or {}
        records = tuple({"kind": r["kind"], "namespace": r.get("namespace", ""), "name": r["name"],
                         "phase": r.get("phase", ""), "message": r.get("message", "")} for r in st.get("records") or [])
        conditions = tuple({k: c.get(k, "") for k in ("type", "status", "reason", "message")}
                           for c in st.get("conditions") or [])
        return cls(obj["metadata"]["name"], obj["spec"]["type"], st.get("target") or obj["spec"].get("target", ""),
                   st.get("phase", "Pending"), st.get("message", ""), obj["metadata"].get("creationTimestamp", ""),
                   records, conditions)


@dataclass(frozen=True)
class Released:
    """A fault let go by `clear --force`: what was not restored, and where its snapshots were saved."""
    name: str
    left: list[str]
    saved: Path | None


def parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FaultError(f"parameter {pair!r} must look like name=value")
        out[key] = value
    return out


class Faults:
    """The faults of one store, through its admin kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        if not kubeconfig.exists():
            raise FaultError(f"no admin kubeconfig at {kubeconfig}; is the store up? (edgelab up --store N)")
        api = config.new_client_from_config(str(kubeconfig))
        self.api = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            obj: Any = self.api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
            return obj
        except client.ApiException as e:
            if e.status == 404:
                return None
            raise

    def list_faults(self) -> list[dict[str, Any]]:
        try:
            raw: Any = self.api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
            items: list[dict[str, Any]] = raw["items"]
        except client.ApiException as e:
            if e.status == 404:
                raise FaultError("this store has no fault operator (re-run `edgelab up --store N` to install it)") from e
            raise
        return sorted(items, key=lambda o: o["metadata"].get("creationTimestamp", ""))

    def inject(self, fault_type: str, target: str | None = None, params: dict[str, str] | None = None,
               duration: str | None = None, name: str | None = None, wait: float = 60,
               recover_within: str | None = None) -> dict[str, Any]:
        """Create a Fault; with `wait`, block until the operator made it Active (or rejected it: FaultError).

        `recover_within` (90s, 5m) bounds its revert instead of the type's own recover time."""
        ft = catalogue().get(fault_type)  # unknown types fail here, with the list
        if target:
            cat.split_target(target)
        cat.resolve_params(ft, params)
        spec: dict[str, Any] = {"type": fault_type}
        if target:
            spec["target"] = target
        if params:
            spec["parameters"] = params
        if duration:
            spec["duration"] = duration
        if recover_within:
            spec["recoverWithin"] = recover_within
        name = name or f"{fault_type}-{secrets.token_hex(2)}"
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Fault",
                "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}
        try:
            self.api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        except client.ApiException as e:
            if e.status == 404:
                raise FaultError("this store has no fault operator (re-run `edgelab up --store N` to install it)") from e
            if e.status == 409:
                raise FaultError(f"a fault named {name} already exists") from e
            if e.status == 422:
                raise FaultError(f"the cluster refused the fault: {_reason(e)}") from e
            raise
        if not wait:
            return self.get(name) or body
        return self.wait_phase(name, ("Active", "Rejected"), wait, reject_raises=True)

    def wait_phase(self, name: str, phases: tuple[str, ...], timeout: float, reject_raises: bool = False
                   ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            obj = self.get(name)
            return obj if ((obj or {}).get("status") or {}).get("phase") in phases else None

        try:
            obj = poll(f"fault {name}", reached, timeout, interval=0.5)
        except ClusterError as e:
            raise FaultError(f"the fault operator did not handle {name} within {timeout:.0f}s; is it running? "
                             f"(kubectl -n {NAMESPACE} get pods; edgelab up --store N reinstalls it)") from e
        if obj["status"]["phase"] == "Rejected" and reject_raises:
            msg = obj["status"].get("message", "")
            self.delete(name)
            self._wait_gone([name], 30)
            raise FaultError(f"fault {name} rejected, nothing was changed: {msg}")
        return obj

    def delete(self, name: str) -> bool:
        try:
            self.api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
            return True
        except client.ApiException as e:
            if e.status == 404:
                return False
            raise

    def _wait_gone(self, names: list[str], timeout: float) -> list[str]:
        """Wait until the finalizer let each fault go; return those still there."""
        left = list(names)

        def gone() -> bool:
            left[:] = [n for n in left if self.get(n) is not None]
            return not left

        try:
            poll("faults to go", gone, timeout, interval=0.5)
        except ClusterError:
            pass
        return left

    def clear(self, names: list[str] | None = None, wait: float | None = None) -> list[str]:
        """Delete faults (all when `names` is None); wait until each is reverted and gone.

        Waits each fault's own recover time (catalogue `recover_seconds`, or its
        `recoverWithin`) plus a margin, never longer: a fault that cannot be put
        back raises FaultError saying what is left and how to let it go.
        """
        objs = self.list_faults() if names is None else [self.get(n) for n in names]
        if names is not None and (missing := [n for n, o in zip(names, objs, strict=True) if o is None]):
            raise FaultError(f"no fault named {', '.join(missing)} in this store (edgelab fault status --store N)")
        found = [o for o in objs if o is not None]
        targets = [o["metadata"]["name"] for o in found]
        for n in targets:
            self.delete(n)
        if wait is None:
            wait = max((_recover_seconds(o) for o in found), default=0) + CLEAR_MARGIN
        left = self._wait_gone(targets, wait)
        if left:
            lines = []
            for n in left:
                st = (self.get(n) or {}).get("status") or {}
                what = model.left_over(st.get("records") or []) or [st.get("message", "")]
                lines.append(f"{n} ({st.get('phase', '?')}): {'; '.join(what)}")
            raise FaultError(f"not restored within {wait:.0f}s: {' | '.join(lines)}. The operator keeps trying; "
                             f"once nothing more can be done, `edgelab fault clear --force --store N "
                             f"{left[0]}` lets it go and lists what is left to do by hand")
        return targets

    def force_clear(self, name: str, keep_in: Path) -> Released:
        """Let a fault go without waiting for its revert: its finalizer removed, what is not back reported.

        The snapshots of what was not restored are written to `keep_in` (one
        JSON file), so a person can put them back with `kubectl replace -f`.
        """
        obj = self.get(name)
        if obj is None:
            raise FaultError(f"no fault named {name} in this store (edgelab fault status --store N)")
        self.delete(name)
        obj = self.get(name) or obj
        records = (obj.get("status") or {}).get("records") or []
        left = [r for r in records if r.get("phase") != model.RECOVERED]
        saved = None
        objects = [json.loads(r["snapshot"]) for r in left if r.get("snapshot")]
        if objects:
            keep_in.mkdir(parents=True, exist_ok=True)
            saved = keep_in / f"{name}.snapshots.json"
            saved.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            self.api.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name,
                                                    {"metadata": {"finalizers": finalizers or None}})
        except client.ApiException as e:
            if e.status != 404:
                raise
        if self._wait_gone([name], 30):
            raise FaultError(f"fault {name} is still there after its finalizer was removed; "
                             f"kubectl -n {NAMESPACE} get fault {name} -o yaml shows why")
        return Released(name, model.left_over(left), saved)


def _recover_seconds(obj: dict[str, Any]) -> float:
    spec = obj.get("spec") or {}
    try:
        fault_type = catalogue().get(spec.get("type", ""))
    except cat.InvalidFault:
        fault_type = None
    return model.recover_within(spec, fault_type).total_seconds()


def _reason(e: client.ApiException) -> str:
    try:
        return str(json.loads(e.body or "").get("message", str(e)))
    except (TypeError, ValueError):
        return str(e)
