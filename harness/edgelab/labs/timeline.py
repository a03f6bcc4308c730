"""One attempt's investigation, measured from the audit trail: each request's stage, evidence and repeats,
and the attempt's timeline (what `lab submit`'s debrief shows and the drill report builds on).

The rules are explained in drill/report.py's docstring (the drill report is this, per responder and incident).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from edgelab.base.names import NAMESPACES
from edgelab.kube import audit
from edgelab.labs import grading
from edgelab.labs.attempts import Attempt
from edgelab.labs.grading import METRICS_GROUP, Request
from edgelab.labs.model import Lab, Step

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Query parameters kubectl sets by itself to page through a list or follow a watch: not part of what was asked.
VOLATILE_PARAMS = frozenset({"limit", "continue", "resourceVersion", "resourceVersionMatch", "watch",
                             "allowWatchBookmarks", "timeoutSeconds", "sendInitialEvents", "timeout"})
COURSE_SLACK = 1  # a first evidence may go back this many stages (logs after events is still the course's flow)
KINDS = ("injected", "request", "evidence", "repeat", "hint", "submission", "recovered")
_LISTS = ("list", "watch")

Matchers = Mapping[str, Callable[[Request], bool]]


def store_namespaces() -> frozenset[str]:
    """The store's own namespaces (store.NAMESPACES: pos, payment, order, observability)."""
    return frozenset(NAMESPACES)


def stage(r: Request) -> int | None:
    """The stage of the course's investigation flow a request belongs to (module docstring), or None."""
    if r.verb in WRITE_VERBS:
        return None
    if r.group == METRICS_GROUP:
        return 5
    resource = r.resource
    if resource == "pods":
        if r.subresource == "log":
            return 2
        return None if r.subresource else (4 if r.name else 1)
    if resource in ("endpoints", "endpointslices"):
        return 2
    if resource == "events":
        return 4 if "involvedObject" in r.query.get("fieldSelector", "") else 3
    if resource in ("services", "nodes"):
        return 4 if r.name else 1
    if resource in ("deployments", "replicasets"):
        return 6
    return None


def request_key(r: Request) -> tuple[Any, ...]:
    """What makes two requests the same question (see repeats in the module docstring)."""
    query = tuple(sorted((k, v) for k, v in r.query.items() if k not in VOLATILE_PARAMS))
    return ("list" if r.verb == "watch" else r.verb, r.group, r.resource, r.subresource, r.namespace, r.name, query)


def touches(r: Request, namespace: str) -> bool:
    """The request is in `namespace`, or lists/watches across all namespaces."""
    return r.namespace == namespace or (not r.namespace and r.verb in _LISTS and r.resource != "nodes")


# --- measuring one responder's requests in one window ------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One responder's requests in one window, each classified."""

    reqs: Sequence[Request]
    kinds: list[str]  # per request: request, evidence or repeat
    steps: list[str | None]  # per request: the step it met first, or counted for again
    met: dict[str, int]  # step id -> index of the request that first met it
    first_relevant: int | None  # index
    course_order: bool | None

    @property
    def evidence(self) -> int:
        return sum(1 for s in self.steps if s is not None)

    @property
    def repeats(self) -> int:
        return self.kinds.count("repeat")


def measure(reqs: Sequence[Request], lab: Lab | None, matches: Matchers | None,
            namespace: str | None = None) -> Measured:
    """Classify `reqs` (one responder's, in one window, in order) against the lab's rubric.

    `matches`: `grading.matchers(lab, values)`, built once per incident. Without a lab,
    the first request touching `namespace` is the first relevant one.
    """
    rubric: Sequence[Step] = []
    met: dict[str, int] = {}
    gated: list[tuple[str, Callable[[Request], bool], int | None]] = []  # step, its matcher, counts after this index
    if lab is not None and matches is not None:
        rubric, met = lab.rubric, grading.first_met(lab, matches, reqs)
        gated = [(s.id, matches[s.id], met.get(s.after) if s.after else -1) for s in rubric]
    resources = {res for s in rubric for res in s.match.resource}  # a quick no before asking each matcher
    firsts: dict[int, list[str]] = {}
    for step_id, i in met.items():
        firsts.setdefault(i, []).append(step_id)
    kinds: list[str] = []
    steps: list[str | None] = []
    seen: set[tuple[Any, ...]] = set()
    previous: tuple[Any, ...] | None = None
    looked: dict[str, int] = {}  # step id -> the first request matching it, credited or not (course order)
    for i, r in enumerate(reqs):
        if len(looked) < len(gated) and r.resource in resources:
            for sid, match, _ in gated:
                if sid not in looked and match(r):
                    looked[sid] = i
        new = firsts.get(i)
        step = new[0] if new else None if r.resource not in resources else \
            next((sid for sid, match, after in gated if after is not None and i > after and match(r)), None)
        key = request_key(r)
        folded = r.verb == "watch" and key == previous  # the watch of one `kubectl get -w`
        kinds.append("evidence" if new else "repeat" if key in seen and not folded else
                     "evidence" if step is not None else "request")
        steps.append(step)
        seen.add(key)
        previous = key
    if lab is not None:
        first_relevant = min(met.values(), default=None)
    elif namespace is not None:
        first_relevant = next((i for i, r in enumerate(reqs) if touches(r, namespace)), None)
    else:
        first_relevant = None
    return Measured(reqs, kinds, steps, met, first_relevant, _course_order(rubric, looked, reqs))


def _course_order(rubric: Sequence[Step], looked: Mapping[str, int], reqs: Sequence[Request]) -> bool | None:
    """Did the first request matching each step (`looked`) follow the course's order? (module docstring)"""
    after = {s.id: s.after for s in rubric}
    judged, highest = False, 0
    for i, step_id in sorted((i, s) for s, i in looked.items()):
        before = after.get(step_id)
        if before is not None:  # the lab's own order: its `after` step looked at first
            if looked.get(before, i + 1) > i:
                return False
            judged = True
        st = stage(reqs[i])
        if st is None:
            continue
        if before is None:  # the course's stages: at most COURSE_SLACK back
            if st < highest - COURSE_SLACK:
                return False
            judged = True
        highest = max(highest, st)
    return True if judged else None


# --- timeline ------------------------------------------------------------------------------------------------


def aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def seconds_since(at: datetime, zero: datetime) -> float:
    return round((at - zero).total_seconds(), 3)


def entry(t_s: float, kind: str, text: str, step: str | None = None) -> dict[str, Any]:
    return {"t_s": t_s, "kind": kind, "text": text, "step": step}


def describe(r: Request, memo: dict[tuple[Any, ...], str] | None = None) -> str:
    """`audit.describe` of the request's event; `memo` keeps the text per (verb, URI, code).

    That key is exact for requests with an objectRef (grading's): the API server derives
    the objectRef from the URI's path, and describe reads nothing else. Responders ask
    the same questions again and again, and overlapping incidents show the same requests.
    """
    if memo is None:
        return audit.describe(cast(dict[str, Any], r.event))
    e = r.event
    key = (r.verb, e.get("requestURI"), (e.get("responseStatus") or {}).get("code"))
    text = memo.get(key)
    if text is None:
        text = memo[key] = audit.describe(cast(dict[str, Any], e))
    return text


def request_entries(m: Measured, zero: datetime, memo: dict[tuple[Any, ...], str] | None = None
                     ) -> list[dict[str, Any]]:
    return [entry(seconds_since(r.at, zero), kind, describe(r, memo), step)
            for r, kind, step in zip(m.reqs, m.kinds, m.steps, strict=True)]


def findings_right(result: Mapping[str, Any]) -> bool:
    lines = [x for x in result.get("lines") or [] if x.get("part") == "findings"]
    return bool(lines) and all(x.get("ok", x.get("earned") == x.get("possible")) for x in lines)


def submission_text(result: Mapping[str, Any]) -> str:
    passed = "passed" if result.get("passed") else "not passed"
    right = "; findings right" if findings_right(result) else ""
    return f"submitted: {float(result.get('score') or 0):g}% {passed}{right}"


def sorted_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: e["t_s"])


def attempt_timeline(lab: Lab, attempt: Attempt, events: Iterable[dict[str, Any]],
                     result_dict: Mapping[str, Any] | None, hints_at: Sequence[datetime] = (),
                     submitted_at: datetime | None = None) -> list[dict[str, Any]]:
    """The timeline of one lab attempt, for the learner's debrief after `lab submit`.

    The same entries as a drill report's, with t 0 at `attempt.started_at` (where grading
    starts counting the learner's requests); the fault's injection at `attempt.broken_at`
    when it is known; the submission (`result_dict`, a `Result.to_dict()`) at
    `submitted_at`, default now.
    """
    zero = aware(attempt.started_at)
    reqs = grading.requests(events, attempt.user, zero)
    m = measure(reqs, lab, grading.matchers(lab, attempt.values))
    entries = [entry(seconds_since(aware(attempt.broken_at), zero) if attempt.broken_at else 0.0, "injected",
                      f"fault injected: {lab.title} ({', '.join(attempt.targets)})")]
    entries += request_entries(m, zero)
    entries += [entry(seconds_since(aware(at), zero), "hint", f"hint {n} shown")
                for n, at in enumerate(sorted(map(aware, hints_at)), 1)]
    if result_dict is not None:
        entries.append(entry(seconds_since(aware(submitted_at or datetime.now(UTC)), zero), "submission",
                              submission_text(result_dict)))
    return sorted_entries(entries)
