"""The kopf operator: Fault resources in, real failures out, exact reverts back.

Runs in the store as its `fleet-agent` (manifests/operator/operator.yaml; the image's
/usr/local/bin/fleet-agent starts it):
    kopf run --standalone --namespace "$POD_NAMESPACE" -m edgelab_operator.handlers

Lifecycle of a Fault (status.phase):
    Applying  plan and records (snapshots) in status, changes being made record by record
    Active    every record Injected; the symptom is on its way
    Rejected  unknown target, invalid parameters or a conflicting fault: nothing touched
    Reverting the Fault is being deleted; its finalizer recovers record by record
    Stuck     reverting took longer than the type's recover_seconds (or spec.recoverWithin):
              the records say what is not back and why; still retried until it is, or
              until `edgelab fault clear --force` lets the Fault go
Conditions Selected, AllInjected, AllRecovered say the same in Kubernetes' shape.
Every step writes the status before the next one starts, so a restarted operator
carries on from the status (failpoints.py names the points tests kill it at).
Posting Kubernetes events is off: events are what a learner reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from typing import Any

import kopf
from kubernetes import client, config

from . import FINALIZER, GROUP, PLURAL, VERSION, failpoints
from . import NAMESPACE as DEFAULT_NAMESPACE
from . import catalogue as cat
from . import model as m
from .engine import Engine, stage

NAMESPACE = os.environ.get("POD_NAMESPACE", DEFAULT_NAMESPACE)
_engine: Engine | None = None
_plan_lock = threading.Lock()
log = logging.getLogger("edgelab.operator")
LIVE = ("Applying", "Active", "Reverting", "Stuck")


def engine() -> Engine:
    global _engine
    if _engine is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        _engine = Engine(client.ApiClient(), namespace=NAMESPACE)
    return _engine


def write_status(name: str, status: dict[str, Any]) -> None:
    client.CustomObjectsApi(engine().api).patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, PLURAL, name, {"status": status})


def active_touches(exclude: str) -> dict[str, str]:
    """object key -> name of the live fault that holds it."""
    raw: Any = client.CustomObjectsApi(engine().api).list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)
    out = {}
    for f in raw["items"]:
        st = f.get("status") or {}
        if f["metadata"]["name"] != exclude and st.get("phase") in LIVE:
            for key in m.touched(st.get("records") or []):
                out[key] = f["metadata"]["name"]
    return out


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="edgelab.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="edgelab.io")
    settings.execution.max_workers = 8
    engine()


def _select(name: str, spec: kopf.Spec) -> dict[str, Any] | None:
    """Plan the fault and record its targets as they are now; None when it is rejected (nothing touched)."""
    eng = engine()
    with _plan_lock:
        try:
            for field in ("duration", "recoverWithin"):
                if spec.get(field):
                    m.parse_duration(spec[field])
            plan = eng.plan(spec["type"], spec.get("target"), dict(spec.get("parameters") or {}))
            records = eng.select(plan)
            busy = active_touches(exclude=name)
            clash = sorted({busy[k] for k in m.touched(records) if k in busy})
            if clash:
                raise cat.InvalidFault(f"{', '.join(m.touched(records))} already under fault {', '.join(clash)}; "
                                       "clear it first")
        except cat.InvalidFault as e:
            log.info("rejecting %s: %s", name, e)
            write_status(name, {"phase": "Rejected", "message": str(e),
                                "conditions": m.set_condition(None, "Selected", False, "Rejected", str(e))})
            return None
        st = {"phase": "Applying", "message": "recording what to restore",
              "target": f"{plan.namespace}/{plan.workload}", "node": plan.node,
              "plan": plan.to_status(), "records": records,
              "conditions": m.set_condition(
                  m.set_condition(None, "Selected", True, "Recorded", f"{len(records)} target(s) recorded"),
                  "AllInjected", False, "Injecting")}
        write_status(name, st)
    failpoints.reached("after-select")
    return st


@kopf.on.create(GROUP, VERSION, PLURAL, backoff=3)
def inject(body: kopf.Body, spec: kopf.Spec, name: str, status: kopf.Status, **_: Any) -> None:
    eng = engine()
    st = dict(status)
    if st.get("phase") == "Rejected":
        return
    if not st.get("records"):  # selected before? then never again: the cluster may already be half changed
        selected = _select(name, spec)
        if selected is None:
            return
        st = selected
    plan = m.Plan.from_status(st["plan"], eng.catalogue)
    records = [dict(r) for r in st["records"]]
    for i, record in enumerate(records):
        if record["phase"] == m.INJECTED:
            continue
        try:
            record.update(eng.inject(record, plan, dict(body)))
        except cat.InvalidFault as e:  # e.g. an object deleted by hand since selection
            record["message"] = str(e)
            write_status(name, {"records": records, "message": f"cannot change {record['kind']} "
                                f"{record['name']}: {e}; retrying (delete the Fault to revert what was done)"})
            raise kopf.TemporaryError(str(e), delay=5) from e
        record.update(phase=m.INJECTED, message="")
        write_status(name, {"records": records})
        failpoints.reached(f"after-inject:{i}")
    final: dict[str, Any] = {
        "phase": "Active", "message": plan.fault_type.symptom, "appliedAt": m.now(), "records": records,
        "conditions": m.set_condition(st.get("conditions"), "AllInjected", True, "Injected",
                                      f"{len(records)} target(s) changed")}
    if spec.get("duration"):
        final["expiresAt"] = (dt.datetime.now(dt.UTC) + m.parse_duration(spec["duration"])).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_status(name, final)


@kopf.on.delete(GROUP, VERSION, PLURAL, backoff=3)
def revert(name: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> None:
    eng = engine()
    st = dict(status)
    if st.get("phase") == "Rejected" or not st.get("records"):
        return
    plan = m.Plan.from_status(st["plan"], eng.catalogue)
    records = [dict(r) for r in st["records"]]
    deadline = st.get("recoverBy")
    conditions = st.get("conditions")
    if st.get("phase") not in ("Reverting", "Stuck"):
        deadline = (dt.datetime.now(dt.UTC) + m.recover_within(dict(spec), plan.fault_type)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = m.set_condition(conditions, "AllRecovered", False, "Recovering")
        write_status(name, {"phase": "Reverting", "message": "restoring every touched object",
                            "recoverBy": deadline, "conditions": conditions})
    for i in m.by_stage(records, lambda r: stage(r, plan)):
        record = records[i]
        if record["phase"] == m.RECOVERED:
            continue
        why = eng.recover(record, plan)
        record.update(phase=m.NOT_RECOVERED if why else m.RECOVERED, message=why or "")
        write_status(name, {"records": records})
        if not why:
            failpoints.reached(f"after-recover:{i}")
    left = m.left_over(records)
    if not left:
        write_status(name, {"conditions": m.set_condition(conditions, "AllRecovered", True, "Recovered")})
        return
    overdue = dt.datetime.now(dt.UTC) >= m.parse_time(str(deadline))
    if overdue:
        message = f"not restored after {m.recover_within(dict(spec), plan.fault_type).total_seconds():.0f}s: {'; '.join(left)}"
        write_status(name, {"phase": "Stuck", "message": message,
                            "conditions": m.set_condition(conditions, "AllRecovered", False, "TimedOut", message)})
    raise kopf.TemporaryError("; ".join(left), delay=10 if overdue else 3)


@kopf.timer(GROUP, VERSION, PLURAL, interval=5, idle=0, when=lambda spec, **_: bool(spec.get("duration")))
def expire(name: str, status: kopf.Status, **_: Any) -> None:
    st = dict(status or {})
    expires = st.get("expiresAt")
    if st.get("phase") != "Active" or not expires:
        return
    if dt.datetime.now(dt.UTC) >= m.parse_time(expires):
        log.info("fault %s expired; clearing it", name)
        client.CustomObjectsApi(engine().api).delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
