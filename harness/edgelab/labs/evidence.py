"""Evidence: is a quoted line a real sign of this attempt's fault, on its target?

What a fault type's symptom looks like is defined once, with the type, in the
fault catalogue (`evidence:` of operator/edgelab_operator/catalogue.yaml), by
the form a responder meets it in:

- `log`: a line the target's own pods log (``required setting 'api_key' missing``);
- `caller`: a line another workload logs about the target (``payment at
  http://payment-service.payment... is unreachable``);
- `event`: an event's message about the target's pods, ReplicaSets, Deployment
  or node (``Failed to pull image "byteedge/pos-backend:2.4.11"``); once the
  store's events are collected, it must be an event about the target (or a node);
- `kubectl`: kubectl output that shows the target's state (a `get` row
  ``payment-processor   0/0``, `describe` or `top` text).

A lab adds patterns only where its story differs (`findings.evidence`); they
are judged like `kubectl` ones. Patterns name the target (its service, config
key, image...) or the failure only the target's own pods log, so a line about
another workload, or a healthy one, does not count.

Where the store's output of the attempt was collected (`collect`, at submit),
a quote of the `log`, `caller` or `event` form counts only if the store really
emitted it during the attempt (timestamps aside), and a `log` line only if it
came from the target's pods: evidence cannot be typed from the lab files, or
borrowed from another workload. When a pod of the store was deleted during the
attempt its lines are gone, and such a quote is taken on the pattern alone
(the result says so).

Pure judging plus one collection function over the Kubernetes API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edgelab.labs.vocab import REGEX_PREFIX, evidence_pattern, normalise_text

FORMS = ("log", "caller", "event", "kubectl")
EMITTED_FORMS = ("log", "caller", "event")  # what the store emits, so what `collect` can confirm
_TIMESTAMP = re.compile(r"^\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?\s*")
_LEVEL = re.compile(r"\b(ERROR|WARN|WARNING|CRITICAL)\b")
MIN_OVERLAP = 24  # a quote shorter than this must be found inside an emitted line, not the other way round


# --- what the store emitted during an attempt ---------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One line the store emitted: a log line (app timestamp stripped) or an event's message."""

    kind: str  # "log" | "event"
    namespace: str
    source: str  # the pod that logged it, or the event's object as kind/name
    workload: str  # namespace/deployment the pod or object belongs to ("" when unknown, e.g. a node)
    text: str
    warning: bool  # an ERROR/WARN log line, a Warning event

    @property
    def key(self) -> str:
        return bare(self.text)


@dataclass(frozen=True)
class Emitted:
    """Every line the store's workloads logged and every event, since the attempt started."""

    lines: tuple[Seen, ...]
    lost_pods: tuple[str, ...] = ()  # pods deleted during the attempt: their lines could not be read

    @property
    def complete(self) -> bool:
        return not self.lost_pods

    def find(self, quote: str) -> list[Seen]:
        """The emitted lines that this quote reproduces (or, for a long quote, that it contains)."""
        q = bare(quote)
        if not q:
            return []
        return [s for s in self.lines if q in s.key or (len(s.key) >= MIN_OVERLAP and s.key in q)]


def bare(text: str) -> str:
    """A line as compared: leading timestamps gone, whitespace collapsed, plain quotes, lower case."""
    text = normalise_text(text)
    while (m := _TIMESTAMP.match(text)) and m.end():
        text = text[m.end():]
    return text.lower()


def workload_of(pod_or_rs: str, deployments: Iterable[str]) -> str:
    """`pos-backend-76486b798c-bgw4q` -> `pos-backend` (the longest deployment name it starts with)."""
    best = ""
    for d in deployments:
        if (pod_or_rs == d or pod_or_rs.startswith(d + "-")) and len(d) > len(best):
            best = d
    return best


def collect(api: Any, since: datetime, namespaces: Sequence[str], visible_since: datetime | None = None) -> Emitted:
    """The store's logs (current and previous containers) and events in `namespaces` since `since`, plus node events.

    `lost_pods`: pods gone by now that still had events once the learner could look (`visible_since`, default
    `since`): lines a learner may have read from them can no longer be checked. Pods the faults replaced before
    the ticket was shown were never visible to the learner.
    """
    # The Kubernetes client only where a store is read: judging quotes (grading) stays pure and quick to load.
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    lines: list[Seen] = []
    live_pods: set[str] = set()
    pods_seen: set[str] = set()  # pods with events once the learner could look
    seconds = max(1, int((datetime.now(since.tzinfo) - since).total_seconds()) + 5)
    for ns in namespaces:
        found: list[Any] = apps.list_namespaced_deployment(ns).items
        deployments: list[str] = [d.metadata.name for d in found]
        pods: list[Any] = core.list_namespaced_pod(ns).items
        for pod in pods:
            name: str = pod.metadata.name
            live_pods.add(f"{ns}/{name}")
            workload = workload_of(name, deployments)
            statuses = {c.name: c for c in pod.status.container_statuses or []}
            for container in pod.spec.containers:
                st = statuses.get(container.name)
                for previous in (False, True) if st is not None and st.restart_count else (False,):
                    try:
                        text = core.read_namespaced_pod_log(name, ns, container=container.name, previous=previous,
                                                            timestamps=True, since_seconds=seconds,
                                                            _request_timeout=20)
                    except ApiException:  # not started yet (ContainerCreating, ImagePullBackOff): nothing logged
                        continue
                    lines += _log_lines(text, since, ns, name, f"{ns}/{workload}" if workload else "")
        events: list[Any] = core.list_namespaced_event(ns).items
        for ev in events:
            seen = _event(ev, since, ns, deployments)
            if seen is not None:
                lines.append(seen)
            if ev.involved_object.kind == "Pod" and _at_or_after(ev, visible_since or since):
                pods_seen.add(f"{ns}/{ev.involved_object.name}")
    node_events: list[Any] = core.list_namespaced_event("default").items
    for ev in node_events:  # node events (NodeNotReady, ...)
        if ev.involved_object.kind == "Node" and (seen := _event(ev, since, "", [])) is not None:
            lines.append(seen)
    return Emitted(tuple(lines), tuple(sorted(pods_seen - live_pods)))


def _at_or_after(ev: Any, since: datetime) -> bool:
    """An event last seen at or after `since` (event times are whole seconds)."""
    at = ev.last_timestamp or ev.event_time or ev.first_timestamp or ev.metadata.creation_timestamp
    return at is not None and at >= since.replace(microsecond=0)


def _log_lines(text: str, since: datetime, namespace: str, pod: str, workload: str) -> list[Seen]:
    out = []
    for raw in (text or "").splitlines():
        stamp, _, line = raw.partition(" ")
        try:
            at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            at, line = since, raw
        if at < since or not line.strip():
            continue
        out.append(Seen("log", namespace, pod, workload, line.strip(), _LEVEL.search(line) is not None))
    return out


def _event(ev: Any, since: datetime, namespace: str, deployments: list[str]) -> Seen | None:
    if not _at_or_after(ev, since) or not ev.message:
        return None
    obj = ev.involved_object
    workload = workload_of(obj.name, deployments) if obj.kind in ("Pod", "ReplicaSet", "Deployment") else ""
    return Seen("event", namespace, f"{obj.kind}/{obj.name}", f"{namespace}/{workload}" if workload else "",
                ev.message.strip(), ev.type == "Warning")


# --- judging a quote ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    counts: bool
    form: str = ""  # the form it was recognised as
    why: str = ""  # for the learner: why it did not count, or how it was checked


@dataclass(frozen=True)
class Symptom:
    """A fault type's evidence patterns, filled for one drawn target."""

    target: str  # namespace/deployment
    values: Mapping[str, str]
    patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, evidence: Mapping[str, Sequence[str]], target: str, values: Mapping[str, str],
           extra: Sequence[str] = ()) -> Symptom:
        """The catalogue's patterns by form (`{fact}` filled, escaped) plus a lab's own entries (as kubectl)."""
        out: dict[str, tuple[re.Pattern[str], ...]] = {}
        for form, entries in evidence.items():
            out[form] = tuple(evidence_pattern(REGEX_PREFIX + e, values) for e in entries)
        out["kubectl"] = (*out.get("kubectl", ()), *(evidence_pattern(e, values) for e in extra))
        return cls(target, dict(values), out)

    def forms(self, quote: str) -> list[str]:
        text = normalise_text(quote)
        return [form for form in FORMS if any(p.search(text) for p in self.patterns.get(form, ()))]


def judge(quote: str, symptom: Symptom, emitted: Emitted | None) -> Verdict:
    """Does this quote show the symptom on the drawn target (and, when collected, did the store emit it)?"""
    forms = symptom.forms(quote)
    if not forms:
        return Verdict(False, why="does not show this fault's symptom on " + symptom.target)
    emitted_forms = [f for f in forms if f in EMITTED_FORMS]
    if emitted is None or not emitted_forms:
        return Verdict(True, forms[0])
    found = emitted.find(quote)
    for form in emitted_forms:
        if form == "log":
            if any(s.kind == "log" and s.workload == symptom.target for s in found):
                return Verdict(True, form)
        elif form == "caller":
            if any(s.kind == "log" for s in found):
                return Verdict(True, form)
        elif any(s.kind == "event" and s.workload in (symptom.target, "") for s in found):  # "": a node's
            return Verdict(True, form)
    if "kubectl" in forms:
        return Verdict(True, "kubectl")
    if found:  # emitted, but by (or about) another workload than the target
        return Verdict(False, forms[0], "from " + ", ".join(sorted({s.workload or s.source for s in found}))
                       + f", not from {symptom.target}")
    if not emitted.complete:
        return Verdict(True, forms[0], "not checked against the store's output: pods of the attempt are gone ("
                       + ", ".join(emitted.lost_pods[:3]) + ("…" if len(emitted.lost_pods) > 3 else "") + ")")
    return Verdict(False, forms[0], "not among the lines the store emitted during the attempt")


def first_counting(quotes: Iterable[str], symptom: Symptom, emitted: Emitted | None) -> tuple[str | None, list[str]]:
    """The first quote that counts, and why each one before it did not."""
    why: list[str] = []
    for quote in quotes:
        verdict = judge(quote, symptom, emitted)
        if verdict.counts:
            return quote, why
        why.append(f"{quote!r}: {verdict.why}")
    return None, why


def witness(symptom: Symptom, emitted: Emitted | None) -> str | None:
    """One real line of the attempt that shows the symptom (the debrief's): a warning first, the earliest."""
    if emitted is None:
        return None
    candidates = sorted((s for s in emitted.lines if s.kind == "event" or s.workload), key=lambda s: not s.warning)
    for s in candidates:
        if judge(s.text, symptom, emitted).counts:
            return s.text
    return None

