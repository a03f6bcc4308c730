"""A lab on a running store: start, hint, submit, reset, stop.

`start` resets the store (clears every fault, applies the store's manifests
again so a learner's scale or rollout undo is undone, waits until healthy),
draws the attempt's targets, injects the lab's faults, marks the start in the
audit trail and returns the ticket. `submit` grades the learner's own requests since then
(audit log), their findings and, where asked, the store's real state, adds the
debrief (what happened, in words: debrief.py), records the attempt in the
progress database, then clears the faults. The attempt
(targets, expected answers) is kept in the store's state folder on the host,
which the learner's kube credentials cannot read.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

from edgelab.base import files
from edgelab.base.errors import EdgelabError
from edgelab.base.types import Say
from edgelab.kube import faults
from edgelab.labs import attempts, catalogue, debrief, evidence, grading, progress, vocab
from edgelab.labs.timeline import attempt_timeline
from edgelab.store import stores

MARKER = "lab-session"  # ConfigMap in byteedge-fleet: the start mark in the audit trail


class SessionError(EdgelabError):
    """No lab is running, the store is too small for the lab, or the store did not get healthy."""


@dataclass
class Running:
    lab: str
    attempt: attempts.Attempt
    faults: list[str]
    hints_shown: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "attempt": self.attempt.to_dict(), "faults": self.faults,
                "hints_shown": self.hints_shown}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Running:
        return cls(d["lab"], attempts.Attempt.from_dict(d["attempt"]), list(d["faults"]), int(d.get("hints_shown", 0)))


def state_file(store: str) -> Path:
    return stores.state_dir(store) / "lab.json"


def running(store: str) -> Running | None:
    path = state_file(store)
    return Running.from_dict(json.loads(path.read_text())) if path.exists() else None


def _save(store: str, run: Running | None) -> None:
    path = state_file(store)
    if run is None:
        path.unlink(missing_ok=True)
        return
    files.write_locked(path, json.dumps(run.to_dict(), indent=1), mode=0o600)  # never a half-written attempt


def store_api(store: str) -> client.ApiClient:
    kubeconfig = stores.paths(store).admin_kubeconfig
    if not kubeconfig.exists():
        raise SessionError(f"store {store} is not up (run `edgelab up --store {store}`)")
    return config.new_client_from_config(str(kubeconfig))


def reset_store(store: str, say: Say = lambda _: None) -> None:
    """Clear every fault (exact revert), put the workloads back to their manifests, wait until healthy.

    The faults first, so their reverts find what they changed; then the manifests undo
    what the learner changed within their rights (a scale, a rollout undo), which no
    fault recorded.
    """
    f = stores.fault_client(store)
    cleared = f.clear()
    if cleared:
        say(f"cleared {len(cleared)} fault(s)")
    stores.restore(store, say)
    try:
        stores.wait_healthy(store, say=say)
    except stores.StoreError as e:
        raise SessionError(str(e)) from e


def mark_start(api: client.ApiClient, attempt: attempts.Attempt) -> None:
    """An admin write the audit log records: where this attempt begins."""
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=MARKER, namespace=faults.NAMESPACE),
                              data={"started_at": attempt.started_at.isoformat()})
    try:
        core.replace_namespaced_config_map(MARKER, faults.NAMESPACE, body)
    except client.ApiException as e:
        if e.status != 404:
            raise
        core.create_namespaced_config_map(faults.NAMESPACE, body)


def revisions(api: client.ApiClient, targets: list[str]) -> dict[str, int]:
    apps = client.AppsV1Api(api)
    out = {}
    for t in targets:
        ns, name = t.split("/")
        out[t] = _revision(apps.read_namespaced_deployment(name, ns))
    return out


def _revision(deployment: Any) -> int:
    """The deployment's rollout revision, as `kubectl rollout history` counts it (0 before the first)."""
    return int((deployment.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "0"))


def start(store: str, lab_id: str, say: Say = lambda _: None, targets: list[str] | None = None,
          rng: random.Random | None = None, types: list[str] | None = None,
          user: str = "learner") -> tuple[catalogue.Lab, Running]:
    """Reset the store, break it the lab's way, mark the start; `user` is whose requests the attempt grades."""
    lab = catalogue.get(lab_id)
    api = store_api(store)
    nodes = len(client.CoreV1Api(api).list_node().items)
    if nodes < lab.min_nodes:
        raise SessionError(f"lab {lab_id} needs a store with {lab.min_nodes} nodes; store {store} has {nodes} "
                           f"(edgelab down --store {store}; edgelab up --store {store} --nodes {lab.min_nodes})")
    stop(store, say)
    broken_at = datetime.now(UTC)
    attempt = attempts.draw(lab, rng, store=store, targets=targets, types=types, user=user)
    f = stores.fault_client(store)
    names: list[str] = []
    try:
        for kind, target in zip(attempts.fault_types(lab, attempt), attempt.targets, strict=True):
            say(f"preparing the store ({len(names) + 1}/{len(lab.faults)})")
            obj = f.inject(kind, target=target)
            names.append(obj["metadata"]["name"])
            if obj["status"].get("node"):
                attempt = attempt.with_node(obj["status"]["node"])
            _save(store, Running(lab.id, attempt, names))  # an interrupted start can still be stopped
        attempt = attempt.with_revisions(revisions(api, list(attempt.targets)))
        attempt = replace(attempt, started_at=datetime.now(UTC), broken_at=broken_at)
        mark_start(api, attempt)
    except BaseException:
        f.clear(names)
        _save(store, None)
        raise
    run = Running(lab.id, attempt, names)
    _save(store, run)
    return lab, run


def hint(store: str) -> tuple[str, int, int, float]:
    """The next hint: (text, its number, how many there are, what each costs in percentage points).

    Asking again after the last one shows the last one again, at no further cost.
    """
    run = _need(store)
    lab = catalogue.get(run.lab)
    if not lab.hints:
        raise SessionError(f"lab {run.lab} has no hints")
    n = min(run.hints_shown + 1, len(lab.hints))
    run.hints_shown = n
    _save(store, run)
    return vocab.fill(lab.hints[n - 1], run.attempt.values), n, len(lab.hints), lab.hint_cost


def _need(store: str) -> Running:
    run = running(store)
    if run is None:
        raise SessionError(f"no lab is running on store {store} (edgelab lab start ID --store {store})")
    return run


def remediation_state(api: client.ApiClient) -> dict[str, Any]:
    """The store's deployments and endpoints as grading.grade expects them."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    state: dict[str, Any] = {"deployments": {}, "endpoints": {}}
    for ns in stores.NAMESPACES:
        deployments: list[Any] = apps.list_namespaced_deployment(ns).items
        for d in deployments:
            st = d.status
            state["deployments"][f"{ns}/{d.metadata.name}"] = {
                "replicas": d.spec.replicas, "ready": st.ready_replicas or 0, "updated": st.updated_replicas or 0,
                "revision": _revision(d)}
        endpoints: list[Any] = core.list_namespaced_endpoints(ns).items
        for ep in endpoints:
            state["endpoints"][f"{ns}/{ep.metadata.name}"] = sum(len(s.addresses or []) for s in ep.subsets or [])
    return state


def grade_attempt(store: str, lab: catalogue.Lab, attempt: attempts.Attempt, answer: grading.Answer,
                  hints_shown: int = 0) -> grading.Result:
    """Grade `attempt` (its `user`'s requests since its start) on the store as it is now; change nothing.

    The store's deployments and endpoints, its audit trail and what it emitted
    during the attempt are read here; the debrief is added.
    """
    api = store_api(store)
    try:
        client.VersionApi(api).get_code(_request_timeout=10)
    except (urllib3.exceptions.HTTPError, OSError) as e:  # nothing graded or recorded: submit again later
        raise SessionError(f"store {store} does not answer ({type(e).__name__}); bring it back with "
                           f"`edgelab up --store {store}` and submit again (the lab is still running)") from e
    state = remediation_state(api)  # before anything is cleared
    events = stores.audit_events(store, since=attempt.started_at)
    emitted = evidence.collect(api, attempt.output_since, stores.NAMESPACES, attempt.started_at)  # what the quotes must come from
    result = grading.grade(lab, attempt, events, answer, state, hints_shown=hints_shown, emitted=emitted)
    told = debrief.build(lab, attempt, result.witness)
    timeline = attempt_timeline(lab, attempt, events, result.to_dict())  # when they asked what
    return replace(result, debrief=told.with_timeline(timeline))


def submit(store: str, answer: grading.Answer, learner: str = "learner",
           db: Path | None = None, say: Say = lambda _: None) -> grading.Result:
    """Grade the running attempt, record it, clear its faults. The findings are parsed before (no attempt lost)."""
    run = _need(store)
    lab = catalogue.get(run.lab)
    result = grade_attempt(store, lab, run.attempt, answer, run.hints_shown)
    with progress.Progress(db) as p:
        p.record(learner, result)
    say("restoring the store")
    stores.fault_client(store).clear(run.faults)
    _save(store, None)
    return result


def abandon(store: str) -> None:
    """Clear the running lab's faults and forget it, without grading or a full reset (an interrupted run)."""
    run = running(store)
    if run is not None:
        stores.fault_client(store).clear(run.faults)
    _save(store, None)


def stop(store: str, say: Say = lambda _: None) -> str | None:
    """End the running lab, if any, without grading; reset the store. Returns the lab that was running."""
    store_api(store)  # the store is up, or say how to bring it up
    run = running(store)
    reset_store(store, say)
    _save(store, None)
    return run.lab if run else None


def reset(store: str, say: Say = lambda _: None) -> tuple[catalogue.Lab, Running]:
    """Start the running lab again: store reset, a new draw."""
    run = _need(store)
    return start(store, run.lab, say)
