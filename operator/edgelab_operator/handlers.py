"""The kopf operator: Fault resources in, real failures out, exact reverts back.

Run in the cluster (manifests/operator/operator.yaml):
    kopf run --standalone --namespace edgelab-system -m edgelab_operator.handlers

Lifecycle of a Fault (status.phase):
    Applying  snapshots recorded in status, changes being made
    Active    every change made; the symptom is on its way
    Rejected  unknown target, invalid parameters or a conflicting fault: nothing touched
    Reverting the Fault is being deleted; its finalizer restores the snapshots
Posting Kubernetes events is off: events are what a learner reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from typing import Any

import kopf
from kubernetes import client, config

from . import GROUP, PLURAL, VERSION
from . import NAMESPACE as DEFAULT_NAMESPACE
from . import catalogue as cat
from .engine import Engine

NAMESPACE = os.environ.get("FAULT_NAMESPACE", DEFAULT_NAMESPACE)
_engine: Engine | None = None
_plan_lock = threading.Lock()
log = logging.getLogger("edgelab.operator")


def engine() -> Engine:
    global _engine
    if _engine is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        _engine = Engine(client.ApiClient(), agent_image=os.environ.get("AGENT_IMAGE", ""), namespace=NAMESPACE)
    return _engine


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> dt.timedelta:
    m = re.fullmatch(r"(\d+)([smh])", text or "")
    if not m:
        raise cat.InvalidFault(f"duration {text!r} must look like 90s, 15m or 2h")
    return dt.timedelta(seconds=int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)])


def write_status(name: str, status: dict[str, Any]) -> None:
    client.CustomObjectsApi(engine().api).patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, PLURAL, name, {"status": status})


def active_touches(exclude: str) -> dict[str, str]:
    """object key -> name of the live fault that touches it."""
    raw: Any = client.CustomObjectsApi(engine().api).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    items = raw["items"]
    out = {}
    for f in items:
        st = f.get("status") or {}
        if f["metadata"]["name"] == exclude or st.get("phase") not in ("Applying", "Active", "Reverting"):
            continue
        for key in st.get("touched") or []:
            out[key] = f["metadata"]["name"]
        if st.get("node"):
            out[f"Node/{st['node']}"] = f["metadata"]["name"]
    return out


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.persistence.finalizer = "edgelab.io/revert"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="edgelab.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="edgelab.io")
    settings.execution.max_workers = 8
    engine()


@kopf.on.create(GROUP, VERSION, PLURAL, backoff=3)
def inject(body: kopf.Body, spec: kopf.Spec, name: str, status: kopf.Status, **_: Any) -> None:
    eng = engine()
    st = dict(status)
    if st.get("phase") == "Rejected":
        return
    if st.get("phase") in ("Applying", "Active") and st.get("snapshots") is not None:
        # a retry or a restarted operator: the record is there, apply again (idempotent)
        plan = eng.plan(spec["type"], st.get("target"), dict(spec.get("parameters") or {}))
        if st.get("node"):
            plan.node = st["node"]
    else:
        with _plan_lock:
            try:
                if spec.get("duration"):
                    parse_duration(spec["duration"])
                plan = eng.plan(spec["type"], spec.get("target"), dict(spec.get("parameters") or {}))
                busy = active_touches(exclude=name)
                keys = [str(k) for k in plan.touched] + ([f"Node/{plan.node}"] if plan.node else [])
                clash = sorted({busy[k] for k in keys if k in busy})
                if clash:
                    raise cat.InvalidFault(f"{', '.join(keys)} already under fault {', '.join(clash)}; "
                                           "clear it first")
            except cat.InvalidFault as e:
                log.info("rejecting %s: %s", name, e)
                write_status(name, {"phase": "Rejected", "message": str(e)})
                return
            st = {"phase": "Applying", "message": "recording what to restore",
                  "target": f"{plan.namespace}/{plan.workload}",
                  "touched": [str(k) for k in plan.touched], "snapshots": eng.snapshot(plan),
                  "node": plan.node}
            write_status(name, st)
    extra = eng.apply(plan, dict(body))
    applied = now()
    final = {"phase": "Active", "message": plan.fault_type.symptom, "appliedAt": applied, **extra}
    if spec.get("duration"):
        final["expiresAt"] = (dt.datetime.now(dt.UTC) + parse_duration(spec["duration"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_status(name, final)


@kopf.on.delete(GROUP, VERSION, PLURAL, backoff=3)
def revert(name: str, status: kopf.Status, **_: Any) -> None:
    st = dict(status)
    if st.get("phase") == "Rejected" or st.get("snapshots") is None:
        return
    if st.get("phase") != "Reverting":
        write_status(name, {"phase": "Reverting", "message": "restoring every touched object"})
    pending = engine().revert(st)
    if pending:
        raise kopf.TemporaryError("; ".join(pending), delay=3)


@kopf.timer(GROUP, VERSION, PLURAL, interval=5, idle=0, when=lambda spec, **_: bool(spec.get("duration")))
def expire(name: str, status: kopf.Status, **_: Any) -> None:
    st = dict(status or {})
    expires = st.get("expiresAt")
    if st.get("phase") != "Active" or not expires:
        return
    if dt.datetime.now(dt.UTC) >= dt.datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC):
        log.info("fault %s expired; clearing it", name)
        client.CustomObjectsApi(engine().api).delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
