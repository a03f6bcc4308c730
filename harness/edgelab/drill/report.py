"""The drill report: each responder's investigation, measured from the audit trail and their submissions, ranked.

Pure functions over captured data (the drill's `state`, the stores' audit events as
`audit.read_events` returns them), like grading. A responder's requests are grading's
(`grading.requests`: their audit username is their name; refused or failed requests,
401/403/5xx, are left out), and "evidence for a step" is grading's too (`grading.matchers`
over the incident's attempt values, `grading.first_met` for the `after` rule). The
report's shape is the `report` of edgelab issue 14's contract (what `drill report
--json` prints and the drill page renders); docs/drill-metrics.md explains every number
with examples. The definitions:

Incident window
    From the incident's `injected_at` to its `ended_at`, or to `now` while it is open,
    both ends included. Only a responder's requests inside the window count for the
    incident; an incident not yet injected has no window (no requests, every time None).
    Two incidents of one store open at once both see a request made while both are open.

first_relevant_s
    Seconds from `injected_at` to their first request that met a rubric step (grading's
    rule: a step with `after` is met only after that step was). For an incident with
    only a `fault` (no lab, no rubric): their first request touching the target's
    namespace (a request in it, or a list/watch across all namespaces).

correct_findings_s
    Seconds from `injected_at` to their first submission (by time) whose result has at
    least one findings line and all of them right (`lines` with part "findings", each ok).

recovery_s
    `recovered_at - injected_at`, counted only when they made a successful write
    (create, update, patch, delete, deletecollection answered below 400) in one of the
    store's namespaces (`store_namespaces()`) inside the window and before
    `recovered_at`; otherwise None, and the timeline says the store recovered without
    their fix.

requests, evidence_requests
    Their requests in the window; those of them that count for a rubric step: the
    request matches the step and, if the step has `after`, comes after the request that
    first met that step ("first or again").

repeats
    A request repeats when an earlier request of theirs in the same window has the same
    key, and it met no step for the first time. The key: verb (a watch counts as a list),
    API group, resource, subresource, namespace, name, and the query without the
    parameters kubectl adds on its own to page or watch (`VOLATILE_PARAMS`: limit,
    continue, resourceVersion, watch, ...). A watch with the same key as the request
    just before it is the second half of one `kubectl get -w` and never a repeat.

course_order
    Each request has a stage of the course's investigation flow (`stage`): 1 pods
    (and lists of nodes or services), 2 logs and endpoints, 3 events, 4 a named pod,
    service or node (what describe reads; events filtered to one object too), 5 top
    (metrics.k8s.io), 6 deployments and ReplicaSets (rollout history); None otherwise.
    Take each rubric step's first evidence request: their first request in the window
    matching the step's matcher, whether grading credited it or not (a look taken too
    early still shows what they looked at first). In time order, each must hold:
    a step with `after` comes after its `after` step's first evidence (the lab's own
    order, as grading asks; payment-slow starts with top, as the course's scenario 2
    does); a step without `after`, when its request has a stage, is at most one stage
    below the highest stage reached before it (`COURSE_SLACK`). followed = all hold.
    None when the incident has no rubric or nothing was judged.

score, passed (per incident)
    The best score among their submissions for the incident; passed when any passed.
    None when they did not answer.

Ranking
    By incidents passed (more first), total score (higher first), time to correct
    findings (the number of their incidents without correct findings, fewer first, then
    the sum of the times, shorter first), time to first relevant request (the same way);
    responders who never answered any incident rank last, among themselves in the plan's
    order. Ties keep the plan's order.
    `why` is one sentence with the facts that placed them against the next responder.

Timeline
    Per responder and incident: injected (t 0), each request (kind request, evidence or
    repeat; `step` is the step an evidence request met first, or counted for again),
    their requests of the lead-in (since the drill began, or since the store's previous
    incident ended, to the injection: kind request, negative t, counted nowhere),
    hints and submissions of theirs for the incident, recovered; t_s in seconds since
    `injected_at` (negative: before), sorted by time (stable).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from edgelab.kube import audit
from edgelab.labs import catalogue, grading
from edgelab.labs.attempts import Attempt
from edgelab.labs.debrief import clock, timeline_text
from edgelab.labs.grading import Request
from edgelab.labs.model import Lab
from edgelab.labs.timeline import (
    WRITE_VERBS,
    Matchers,
    attempt_timeline,
    aware,
    describe,
    entry,
    findings_right,
    measure,
    request_entries,
    seconds_since,
    sorted_entries,
    stage,
    store_namespaces,
    submission_text,
)
from edgelab.labs.vocab import fill

# One attempt's measures and timeline (labs/timeline.py) are the report's vocabulary too: its readers find them here.
__all__ = ["SCHEMA", "attempt_timeline", "build", "clock", "duration", "measure", "stage", "timeline_text"]

SCHEMA = "edgelab.drill.report/v1"


# --- the drill report ----------------------------------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    return aware(datetime.fromisoformat(value)) if value else None


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None


def duration(seconds: float) -> str:
    """`42 s`, `3 min 12 s`, `1 h 2 min`."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@dataclass(frozen=True)
class _Incident:
    """An incident of the plan, parsed once."""

    raw: Mapping[str, Any]
    id: str
    store: str
    injected: datetime | None
    end: datetime | None
    recovered: datetime | None
    lab: Lab | None
    attempt: Attempt | None
    matches: Matchers | None
    namespace: str | None  # the target's
    lead_in: datetime | None = None  # the timeline shows their requests from here to `injected` (not counted)


def _incidents(state: Mapping[str, Any], now: datetime, labs_by_id: Mapping[str, Lab] | None) -> list[_Incident]:
    out = []
    for raw in state.get("incidents") or []:
        attempt = Attempt.from_dict(raw["attempt"]) if raw.get("attempt") else None
        lab = None
        if raw.get("lab") and attempt is not None:
            lab = labs_by_id[raw["lab"]] if labs_by_id and raw["lab"] in labs_by_id else catalogue.get(raw["lab"])
        injected = _time(raw.get("injected_at"))
        target = raw.get("target") or (attempt.targets[0] if attempt else None)
        out.append(_Incident(raw, str(raw["id"]), str(raw.get("store")), injected,
                             (_time(raw.get("ended_at")) or now) if injected else None, _time(raw.get("recovered_at")),
                             lab, attempt, grading.matchers(lab, attempt.values) if lab and attempt else None,
                             target.split("/")[0] if target else None))
    drill_start = _time(state.get("started_at"))
    for n, inc in enumerate(out):  # the lead-in: since the drill began, or the store's previous incident ended
        if inc.injected is not None:
            ends = [o.end for o in out if o.store == inc.store and o is not inc and o.end is not None
                    and o.injected is not None and o.injected < inc.injected and o.end <= inc.injected]
            start = max([*ends, *([drill_start] if drill_start else [])], default=None)
            out[n] = replace(inc, lead_in=start if start is not None and start < inc.injected else None)
    return out


def _by_user(events: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:  # audit.username, inlined: once per event of the drill
        user = e.get("user")
        out.setdefault(str(user.get("username", "")) if user else "", []).append(e)
    return out


def _window(reqs: Sequence[Request], times: Sequence[datetime], inc: _Incident) -> Sequence[Request]:
    if inc.injected is None or inc.end is None:
        return []
    return reqs[bisect.bisect_left(times, inc.injected):bisect.bisect_right(times, inc.end)]


def _lead_in(reqs: Sequence[Request], times: Sequence[datetime], inc: _Incident) -> Sequence[Request]:
    if inc.injected is None or inc.lead_in is None:
        return []
    return reqs[bisect.bisect_left(times, inc.lead_in):bisect.bisect_left(times, inc.injected)]


def _fix(reqs: Sequence[Request], before: datetime | None) -> Request | None:
    """Their last successful write in the store's namespaces before `before`."""
    if before is None:
        return None
    namespaces = store_namespaces()
    fix = None
    for r in reqs:
        if r.at >= before:
            break
        if r.verb in WRITE_VERBS and r.namespace in namespaces:
            code = (r.event.get("responseStatus") or {}).get("code")
            fix = r if isinstance(code, int) and code < 400 else fix
    return fix


def _responder_incident(name: str, inc: _Incident, reqs: Sequence[Request], subs: list[Mapping[str, Any]],
                        hints: list[Mapping[str, Any]], memo: dict[tuple[Any, ...], str],
                        before: Sequence[Request] = ()) -> dict[str, Any]:
    m = measure(reqs, inc.lab, inc.matches, inc.namespace)
    zero = inc.injected
    results = [s["result"] for s in subs]
    answered = bool(results)
    out: dict[str, Any] = {
        "incident": inc.id, "answered": answered,
        "score": max(float(r.get("score") or 0) for r in results) if answered else None,
        "passed": any(bool(r.get("passed")) for r in results) if answered else None,
        "first_relevant_s": None, "correct_findings_s": None, "recovery_s": None,
        "requests": len(reqs), "evidence_requests": m.evidence, "repeats": m.repeats,
        "course_order": m.course_order, "steps": [], "timeline": []}
    if inc.lab is not None and inc.attempt is not None:
        values = inc.attempt.values
        out["steps"] = [{"id": s.id, "title": fill(s.description, grading.step_values(s, values)),
                         "first_s": seconds_since(reqs[m.met[s.id]].at, zero) if s.id in m.met and zero else None}
                        for s in inc.lab.rubric]
    if zero is None:
        return out
    if m.first_relevant is not None:
        out["first_relevant_s"] = seconds_since(reqs[m.first_relevant].at, zero)
    right = next((s for s in subs if findings_right(s["result"])), None)
    if right is not None:
        out["correct_findings_s"] = seconds_since(aware(datetime.fromisoformat(right["at"])), zero)
    fix = _fix(reqs, inc.recovered)
    if inc.recovered is not None and fix is not None:
        out["recovery_s"] = seconds_since(inc.recovered, zero)
    title = inc.raw.get("title") or inc.raw.get("lab") or inc.raw.get("fault") or inc.id
    target = inc.raw.get("target") or (", ".join(inc.attempt.targets) if inc.attempt else "")
    entries = [entry(0.0, "injected", f"fault injected: {title}" + (f" ({target})" if target else ""))]
    entries += [entry(seconds_since(r.at, zero), "request", describe(r, memo)) for r in before]
    entries += request_entries(m, zero, memo)
    entries += [entry(seconds_since(aware(datetime.fromisoformat(h["at"])), zero), "hint", f"hint {h.get('n', '?')} shown")
                for h in hints]
    entries += [entry(seconds_since(aware(datetime.fromisoformat(s["at"])), zero), "submission",
                       submission_text(s["result"])) for s in subs]
    if inc.recovered is not None:
        text = (f"the store recovered after their fix ({audit.describe(cast(dict[str, Any], fix.event))} at "
                f"{clock(seconds_since(fix.at, zero))})" if fix else "the store recovered without their fix")
        entries.append(entry(seconds_since(inc.recovered, zero), "recovered", text))
    out["timeline"] = sorted_entries(entries)
    return out


def _sum_key(values: Iterable[float | None]) -> tuple[int, float]:
    values = list(values)
    return sum(1 for v in values if v is None), sum(v for v in values if v is not None)


_CRITERIA = ("having answered", "incidents passed", "total score", "time to correct findings",
             "time to correct findings", "time to first relevant request", "time to first relevant request")


def _rank_key(r: Mapping[str, Any]) -> tuple[Any, ...]:
    incidents = r["incidents"]
    cf = _sum_key(i["correct_findings_s"] for i in incidents)
    fr = _sum_key(i["first_relevant_s"] for i in incidents)
    if not any(i["answered"] for i in incidents):
        return (True, 0, 0.0, 0, 0.0, 0, 0.0)  # never answered: last, in the plan's order
    return (False, -r["passed"], -r["score"], *cf, *fr)


def _why(r: Mapping[str, Any], other: Mapping[str, Any] | None, ahead: bool) -> str:
    incidents = r["incidents"]
    n = len(incidents)
    key = _rank_key(r)
    if key[0]:
        facts = (f"submitted no findings for any of their {n} incident(s), so ranks last" if n else
                 "had no incident on their store, so ranks last")
        decided = None
    else:
        facts = f"passed {r['passed']} of {n} with a total score of {r['score']:g}"
        decided = None
        if other is not None:
            okey = _rank_key(other)
            decided = next((i for i, (a, b) in enumerate(zip(key, okey, strict=True)) if a != b), None)
        if decided is None or decided >= 3:
            cf = [i["correct_findings_s"] for i in incidents if i["correct_findings_s"] is not None]
            facts += (f"; correct findings {duration(sum(cf))} after the fault" + ("s, summed" if len(cf) > 1 else "")
                      + (f" ({len(cf)} of {n} incidents)" if len(cf) < n else "")) if cf else "; no correct findings"
        if decided is None or decided >= 5:
            fr = [i["first_relevant_s"] for i in incidents if i["first_relevant_s"] is not None]
            facts += (f"; first relevant request {duration(sum(fr))} after the fault"
                      + ("s, summed" if len(fr) > 1 else "")) if fr else "; no relevant request"
    if other is None:
        return facts[0].upper() + facts[1:] + "."
    if decided is None and not key[0]:
        return f"{facts[0].upper() + facts[1:]}; tied with {other['name']} on every measure, so the plan's order decides."
    if key[0]:
        return f"{facts[0].upper() + facts[1:]}."
    if decided == 0:
        return f"{facts[0].upper() + facts[1:]}; ahead of {other['name']}, who submitted no findings."
    where = "ahead of" if ahead else "behind"
    return f"{facts[0].upper() + facts[1:]}; {where} {other['name']} on {_CRITERIA[cast(int, decided)]}."


def build(state: Mapping[str, Any], events_by_store: Mapping[str, list[dict[str, Any]]],
          now: datetime | None = None, labs_by_id: Mapping[str, Lab] | None = None) -> dict[str, Any]:
    """The drill's report (the contract's `report`): incidents, and responders ranked, each measured.

    `events_by_store`: per store id, its audit events (`audit.read_events`, all users).
    `labs_by_id`: the labs to use (default: labs/ as `labs.get` loads them).
    """
    with audit.gc_paused():  # many small acyclic objects (requests, timeline entries): see audit.gc_paused
        return _build(state, events_by_store, aware(now or datetime.now(UTC)), labs_by_id)


def _build(state: Mapping[str, Any], events_by_store: Mapping[str, list[dict[str, Any]]], now: datetime,
           labs_by_id: Mapping[str, Lab] | None) -> dict[str, Any]:
    incidents = _incidents(state, now, labs_by_id)
    submissions: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for s in sorted(state.get("submissions") or [], key=lambda s: aware(datetime.fromisoformat(s["at"]))):
        submissions.setdefault((s["responder"], s["incident"]), []).append(s)
    hints: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for h in sorted(state.get("hints") or [], key=lambda h: aware(datetime.fromisoformat(h["at"]))):
        hints.setdefault((h["responder"], h["incident"]), []).append(h)
    users: dict[str, dict[str, list[dict[str, Any]]]] = {}  # store -> user -> events: one pass per store
    memo: dict[tuple[Any, ...], str] = {}  # request texts (describe)
    responders = []
    for p in state.get("responders") or []:
        name, store = str(p["name"]), str(p["store"])
        if store not in users:
            users[store] = _by_user(events_by_store.get(store) or [])
        mine = [i for i in incidents if i.store == store and i.injected is not None]  # begun: measured, counted
        starts = [i.lead_in or i.injected for i in mine if i.injected is not None]
        reqs = grading.requests(users[store].get(name, []), name, min(starts)) if starts else []
        times = [r.at for r in reqs]
        measured = [_responder_incident(name, i, _window(reqs, times, i), submissions.get((name, i.id), []),
                                        hints.get((name, i.id), []), memo, _lead_in(reqs, times, i)) for i in mine]
        responders.append({"name": name, "rank": 0, "store": store, "kubeconfig": p.get("kubeconfig", ""),
                           "score": round(sum(i["score"] or 0.0 for i in measured), 1),
                           "passed": sum(1 for i in measured if i["passed"]), "why": "", "incidents": measured})
    ranked = sorted(responders, key=_rank_key)  # stable: ties keep the plan's order
    for n, r in enumerate(ranked):
        other, ahead = (ranked[n + 1], True) if n + 1 < len(ranked) else \
            ((ranked[n - 1], False) if n > 0 else (None, True))
        r["rank"] = n + 1
        r["why"] = _why(r, other, ahead)
    drill = {k: state.get(k) for k in ("name", "title", "state", "started_at", "ended_at")}
    return {
        "schema": SCHEMA,
        "drill": {**drill, "now": _iso(now)},
        "stores": [{k: s.get(k) for k in ("id", "nodes", "server")} for s in state.get("stores") or []],
        "incidents": [{k: i.raw.get(k) for k in ("id", "store", "lab", "fault", "title", "ticket", "planned_at_s",
                                                   "injected_at", "recovered_at", "ended_at", "target")}
                      for i in incidents],
        "responders": ranked,
    }


# --- the scoreboard a person reads (the CLI draws it) ----------------------------------------------------------

SCOREBOARD_COLUMNS = ["#", "responder", "store", "score", "passed", "first relevant", "correct findings", "recovery",
                      "requests", "evidence", "repeats", "course order"]


def scoreboard_rows(rep: Mapping[str, Any]) -> list[list[str]]:
    """One row per responder and incident: rank, score, the times (m:ss), the shape of the investigation."""
    def mmss(s: float | None) -> str:
        return "-" if s is None else clock(s).lstrip("+")

    rows = []
    for r in rep["responders"]:
        for i in r["incidents"]:
            order = {True: "yes", False: "no", None: "-"}[i["course_order"]]
            rows.append([str(r["rank"]), r["name"], r["store"], f"{r['score']:g}", str(r["passed"]),
                         mmss(i["first_relevant_s"]), mmss(i["correct_findings_s"]), mmss(i["recovery_s"]),
                         str(i["requests"]), str(i["evidence_requests"]), str(i["repeats"]), order])
    return rows

