"""Grading: pure functions over captured data, for one attempt of one lab.

Inputs are what `lab submit` captures: the audit events (`audit.read_events`),
the learner's findings file (`parse_findings`) and a snapshot of the store's
state (see `grade`). Three parts, each explained line by line in the Result:

- investigation: the learner's own requests (user `attempt.user`, received at or
  after `attempt.started_at`, not refused) against the rubric's steps; a step
  with `after` counts only once that earlier step was met (the course's order);
- findings: namespace, workload (a pod or ReplicaSet name counts for its
  deployment), pod state and root cause (vocabularies with synonyms, in
  labs/model.py), evidence (a quoted line that shows the fault's symptom on the
  drawn target, judged by evidence.py: the fault type's forms from the
  catalogue, plus the lab's own; when the store's output was collected, the
  line must be one the store emitted during the attempt). Pod state, root cause and evidence are about the workload: they are
  credited only when the workload is right, so another attempt's answer (another
  drawn target) does not pass;
- remediation, where the lab asks: the store's real state.

Score = earned / possible points in percent; passed = score >= the lab's
threshold; points = the lab's points when passed. Every miss names the kubectl
command that would have revealed it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from edgelab.base.errors import EdgelabError
from edgelab.kube import audit
from edgelab.labs import evidence
from edgelab.labs.attempts import Attempt, accepted, fault_catalogue, fault_types
from edgelab.labs.debrief import Debrief
from edgelab.labs.model import Lab, Step
from edgelab.labs.vocab import POD_STATES, ROOT_CAUSES, fill, pod_state, root_cause

# --- the learner's findings file ---------------------------------------------------------------------------

REQUIRED = ("namespace", "workload", "pod_state", "root_cause", "evidence")
OPTIONAL = ("node",)
MAX_EVIDENCE = 5  # quotes...
MAX_EVIDENCE_CHARS = 500  # ...of at most this length: a pasted log dump is not evidence
FINDINGS_TEMPLATE = f"""\
# Your findings (YAML or JSON). Fill in every field.
namespace: ""      # where the problem is, e.g. pos
workload: ""       # the deployment (or one of its pods)
pod_state: ""      # one of: {", ".join(POD_STATES)}
root_cause: ""     # one of: {", ".join(ROOT_CAUSES)}
evidence:          # the line(s) that show it: a log line, an event message, a line of kubectl output
  - ""
# node: ""         # only when a node is involved
"""


class FindingsError(EdgelabError):
    """A findings file that cannot be graded; nothing was recorded, the attempt is not used up."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems)
                         + "\nFix the file and submit again: this did not count as an attempt.")


@dataclass(frozen=True)
class Answer:
    """A learner's findings: pod_state and root_cause canonical, the rest as written."""

    namespace: str
    workload: str
    pod_state: str
    root_cause: str
    evidence: tuple[str, ...]
    node: str | None = None
    written: Mapping[str, Any] = field(default_factory=dict)  # the file's values, for "got" in the result


def parse_findings(source: str | Path) -> Answer:
    """Parse findings from a file (a Path) or from YAML/JSON text (a str); FindingsError lists every problem."""
    name = str(source) if isinstance(source, Path) else "findings"
    try:
        text = source.read_text() if isinstance(source, Path) else source
    except OSError as err:
        raise FindingsError(name, [f"cannot read: {err.strerror}"]) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FindingsError(name, [f"not valid YAML or JSON{where}: {getattr(err, 'problem', err)}"]) from err
    if not isinstance(data, dict):
        raise FindingsError(name, [f"must be a mapping with the fields {', '.join(REQUIRED)} (and optionally node); "
                                   f"start from this template:\n{FINDINGS_TEMPLATE}"])
    problems: list[str] = []
    if unknown := sorted(set(map(str, data)) - set(REQUIRED) - set(OPTIONAL)):
        problems.append(f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(REQUIRED + OPTIONAL)}")
    if missing := [f for f in REQUIRED if f not in data]:
        problems.append(f"missing field(s) {', '.join(missing)}")
    for f in ("namespace", "workload", "pod_state", "root_cause", "node"):
        if data.get(f) is not None and not isinstance(data[f], str | int | float):
            problems.append(f"{f}: must be text (got {data[f]!r})")
    evidence = data.get("evidence")
    evidence = [evidence] if isinstance(evidence, str) else evidence
    if "evidence" in data and (not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence)):
        problems.append(f"evidence: a quoted line, or a list of them (got {data['evidence']!r})")
        evidence = []
    evidence = evidence or []
    if len(evidence) > MAX_EVIDENCE or any(len(e) > MAX_EVIDENCE_CHARS for e in evidence):
        problems.append(f"evidence: quote the line(s) that show the cause: at most {MAX_EVIDENCE} quotes of up to "
                        f"{MAX_EVIDENCE_CHARS} characters each (got {len(evidence)}, the longest "
                        f"{max(map(len, evidence))} characters)")
    state = cause = None
    if "pod_state" in data and (state := pod_state(str(data["pod_state"] or ""))) is None:
        problems.append(f"pod_state: {data['pod_state']!r} is not a pod state; use one of: {', '.join(POD_STATES)}")
    if "root_cause" in data and (cause := root_cause(str(data["root_cause"] or ""))) is None:
        problems.append(f"root_cause: {data['root_cause']!r} is not a known root cause; use one of: "
                        f"{', '.join(ROOT_CAUSES)} (a synonym such as 'missing secret' works too)")
    if problems:
        raise FindingsError(name, problems)
    assert state is not None and cause is not None
    node = data.get("node")
    return Answer(str(data["namespace"] or ""), str(data["workload"] or ""), state, cause, tuple(evidence),
                  None if node is None else str(node), dict(data))


# --- matching the learner's answers ------------------------------------------------------------------------

_HASH = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet of pod-template-hash and pod name suffixes
_KIND_WORDS = {"deployment", "deployments", "deploy", "deployment.apps", "deployments.apps", "pod", "pods", "po",
               "replicaset", "replicasets", "rs", "replicaset.apps", "replicasets.apps", "workload", "app"}
_NS_WORDS = {"namespace", "namespaces", "ns", "-n"}
_NODE_WORDS = {"node", "nodes", "no"}


def _name_of(answer: str, qualifiers: set[str]) -> str | None:
    """The last word of `answer` if every word before it is a qualifier (`deployment/x`, `-n pos x`), else None."""
    *before, last = re.split(r"[\s/]+", answer.strip().lower()) or [""]
    return last if last and all(w in qualifiers for w in before if w) else None


def namespace_matches(answer: str, namespace: str) -> bool:
    return _name_of(answer, _NS_WORDS) == namespace


def workload_matches(answer: str, workload: str, namespace: str) -> bool:
    """The deployment's name, or one of its ReplicaSets (`<deployment>-<hash>`) or pods (`...-<5 chars>`)."""
    name = _name_of(answer, _KIND_WORDS | _NS_WORDS | {namespace})
    return name is not None and (name == workload or re.fullmatch(
        rf"{re.escape(workload)}-{_HASH}{{6,10}}(-{_HASH}{{5}})?", name) is not None)


def node_matches(answer: str | None, node: str) -> bool:
    return answer is not None and _name_of(answer, _NODE_WORDS) == node.lower()


def symptom(lab: Lab, attempt: Attempt) -> evidence.Symptom:
    """What the attempt's fault looks like on its drawn target: the catalogue's patterns plus the lab's own."""
    fault = fault_catalogue().get(fault_types(lab, attempt)[0])
    return evidence.Symptom.of(fault.evidence, attempt.targets[0], attempt.values, lab.findings.evidence)


def evidence_matches(quotes: Iterable[str], lab: Lab, attempt: Attempt,
                     emitted: evidence.Emitted | None = None) -> str | None:
    """The first quote that shows the attempt's symptom on its target (and was emitted, when that is known)."""
    return evidence.first_counting(quotes, symptom(lab, attempt), emitted)[0]


# --- audit events -> requests ------------------------------------------------------------------------------


class Request(NamedTuple):
    """One of the learner's requests, reduced to what rubric steps look at.

    Immutable like a frozen dataclass, and about five times cheaper to make, which
    counts when a drill report reads 100,000 of them (docs/drill-metrics.md).
    """

    at: datetime
    verb: str
    resource: str
    subresource: str
    group: str
    namespace: str
    name: str
    query: Mapping[str, str]
    event: Mapping[str, Any]

    def describe(self) -> str:
        return f"{self.at:%H:%M:%S} {audit.describe(dict(self.event))}"


def requests(events: Iterable[dict[str, Any]], user: str, since: datetime) -> list[Request]:
    """The requests of `user` received at or after `since`, in the order received.

    Refused or failed requests (401, 403, 5xx) showed the learner nothing and are
    left out; a 404 or 400 did answer (`configmap ... not found`) and is kept.
    """
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    out = []
    for e in events:
        if audit.username(e) != user or not (ref := e.get("objectRef")):
            continue
        at = audit.when(e)
        code = (e.get("responseStatus") or {}).get("code")
        if at is None or at < since or (isinstance(code, int) and (code in (401, 403) or code >= 500)):
            continue
        query = dict(audit.params(str(e.get("requestURI", ""))))
        out.append(Request(at, str(e.get("verb", "")), str(ref.get("resource", "")), str(ref.get("subresource") or ""),
                           str(ref.get("apiGroup") or ""), str(ref.get("namespace") or ""), str(ref.get("name") or ""),
                           query, e))
    return sorted(out, key=lambda r: r.at)  # stable: the log's order among equal times


METRICS_GROUP = "metrics.k8s.io"  # `kubectl top`: met only by steps that name this group
_LISTS = ("list", "watch")


def matcher(step: Step, values: Mapping[str, str]) -> Callable[[Request], bool]:
    """A predicate over requests for one step, its templates filled."""
    m = step.match
    verbs, resources = frozenset(m.verb), frozenset(m.resource)
    namespace = fill(m.namespace, values) if m.namespace is not None else None
    name = re.compile(fnmatch.translate(fill(m.name, values))) if m.name is not None else None
    query = {k: fill(v, values) for k, v in m.query.items()}

    def match(r: Request) -> bool:
        return (r.verb in verbs and r.resource in resources
                and (m.subresource == "*" or r.subresource == (m.subresource or ""))
                and (r.group == m.group if m.group is not None else r.group != METRICS_GROUP)
                and (namespace is None or r.namespace == namespace or (not r.namespace and r.verb in _LISTS))
                and (name is None or bool(name.match(r.name)) or (not r.name and r.verb in _LISTS))
                and all(r.query.get(k) == v for k, v in query.items()))

    return match


def step_values(step: Step, values: Mapping[str, str]) -> dict[str, str]:
    return {**values, **{k: fill(v, values) for k, v in step.with_.items()}}


# --- the result --------------------------------------------------------------------------------------------

Part = Literal["investigation", "findings", "remediation"]


@dataclass(frozen=True)
class Line:
    part: Part
    item: str
    description: str
    earned: int
    possible: int
    expected: str
    got: str
    command: str | None = None  # on a miss: the kubectl command that would have revealed it
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.earned == self.possible


@dataclass(frozen=True)
class Result:
    lab: str
    title: str
    lines: tuple[Line, ...]
    earned: int
    possible: int
    score: float  # percent
    threshold: float
    passed: bool
    points: int  # the lab's points when passed, else 0
    expected: Mapping[str, Any]  # what this attempt expected (its drawn target filled in)
    hints_shown: int = 0
    hint_penalty: float = 0.0  # percentage points taken off for the hints shown
    witness: str | None = None  # a real line the store emitted during the attempt that shows the symptom (debrief)
    debrief: Debrief | None = None  # what happened, for people (debrief.build; session.submit sets it)

    def _score_text(self) -> str:
        less = f" less {self.hint_penalty:g}% for {self.hints_shown} hint(s)" if self.hints_shown else ""
        return f"{self.score:g}% ({self.earned}/{self.possible} points{less}; pass mark {self.threshold:g}%)"

    def missed(self) -> list[Line]:
        return [line for line in self.lines if not line.ok]

    def feedback(self) -> str:
        """Each missed item and the command that would have revealed it; what a JUnit failure carries."""
        head = f"{self.lab}: {'passed' if self.passed else 'not passed'} with {self._score_text()}"
        missed = [f"- {m.part}: {m.description} ({m.earned}/{m.possible}): got {m.got}; expected {m.expected}"
                  + (f" [{m.note}]" if m.note else "") + (f"\n  try: {m.command}" if m.command else "")
                  for m in self.missed()]
        return "\n".join([head, *(["missed:", *missed] if missed else ["nothing missed"])])

    def explain(self) -> str:
        """Every line of every part, as the learner sees it after submitting."""
        out = [f"{self.title} ({self.lab})"]
        for part in ("investigation", "findings", "remediation"):
            lines = [line for line in self.lines if line.part == part]
            if lines:
                out.append(f"{part}: {sum(x.earned for x in lines)}/{sum(x.possible for x in lines)}")
                out += [f"  {'✓' if x.ok else '✗'} {x.description} ({x.earned}/{x.possible}): got {x.got}"
                        + ("" if x.ok else f"; expected {x.expected}") + (f" [{x.note}]" if x.note else "")
                        + (f"\n      try: {x.command}" if x.command else "") for x in lines]
        if self.hints_shown:
            out.append(f"hints: {self.hints_shown} shown, -{self.hint_penalty:g}%")
        out.append(f"score {self._score_text()}: {'PASSED' if self.passed else 'NOT PASSED'}, {self.points} points")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [{**asdict(x), "ok": x.ok} for x in self.lines]
        return d


# --- the three parts ---------------------------------------------------------------------------------------

# Root cause weighs most: with the usual pass mark (85 %) a wrong root cause does not pass.
FINDING_POINTS = {"namespace": 10, "workload": 20, "pod_state": 15, "root_cause": 40, "evidence": 15, "node": 15}
FINDING_COMMANDS = {"namespace": "kubectl get pods --all-namespaces", "workload": "kubectl get deployments -n {namespace}",
                    "pod_state": "kubectl get pods -n {namespace}", "node": "kubectl get nodes"}
_ABOUT_WORKLOAD = ("pod_state", "root_cause", "evidence")


def matchers(lab: Lab, values: Mapping[str, str]) -> dict[str, Callable[[Request], bool]]:
    """Per rubric step id, its predicate over requests, templates filled from `values` (an attempt's)."""
    return {step.id: matcher(step, step_values(step, values)) for step in lab.rubric}


def first_met(lab: Lab, matches: Mapping[str, Callable[[Request], bool]], reqs: Sequence[Request]) -> dict[str, int]:
    """Per rubric step met, the index in `reqs` of the request that first met it.

    A step with `after` is met only by a request that comes after the one that
    met that earlier step (the course's order); a step whose `after` was never
    met is not met at all. `matches`: `matchers(lab, attempt.values)`.
    """
    met: dict[str, int] = {}
    for step in lab.rubric:
        start = 0 if step.after is None else met[step.after] + 1 if step.after in met else None
        if start is None:
            continue
        match = matches[step.id]
        hit = next((i for i in range(start, len(reqs)) if match(reqs[i])), None)
        if hit is not None:
            met[step.id] = hit
    return met


def _investigation(lab: Lab, attempt: Attempt, reqs: list[Request]) -> list[Line]:
    matches = matchers(lab, attempt.values)
    met = first_met(lab, matches, reqs)  # step id -> index of the request that first met it
    lines = []
    for step in lab.rubric:
        values = step_values(step, attempt.values)
        match = matches[step.id]
        description = fill(step.description, values)
        after = next((s for s in lab.rubric if s.id == step.after), None)
        after_text = fill(after.description, step_values(after, attempt.values)) if after else ""
        hit = met.get(step.id)
        expected = description + (f", after: {after_text}" if after else "")
        if hit is not None:
            lines.append(Line("investigation", step.id, description, step.points, step.points, expected,
                              reqs[hit].describe()))
            continue
        seen = next((r for r in reqs if match(r)), None)
        note = ""
        if seen and after:
            note = (f"seen at {seen.at:%H:%M:%S}, before '{after_text}'; the course's order is that first"
                    if after.id in met else f"counts only after '{after_text}', which was not seen")
        lines.append(Line("investigation", step.id, description, 0, step.points, expected,
                          seen.describe() if seen else "no such request", fill(step.command, values), note))
    return lines


def _findings(lab: Lab, attempt: Attempt, answer: Answer, emitted: evidence.Emitted | None) -> list[Line]:
    f, values = lab.findings, attempt.values
    namespace, workload = fill(f.namespace, values), fill(f.workload, values)
    written = {k: str(answer.written.get(k, getattr(answer, k, ""))) for k in REQUIRED + OPTIONAL}
    states, causes = accepted(lab, attempt)
    checks: dict[str, tuple[str, bool, str]] = {  # item -> (expected, ok, got)
        "namespace": (namespace, namespace_matches(answer.namespace, namespace), repr(answer.namespace)),
        "workload": (f"deployment {workload} (or one of its pods)",
                     workload_matches(answer.workload, workload, namespace), repr(answer.workload)),
        "pod_state": (" or ".join(states), answer.pod_state in states,
                      f"{written['pod_state']!r} ({answer.pod_state})"),
        "root_cause": (" or ".join(causes), answer.root_cause in causes,
                       f"{written['root_cause']!r} ({answer.root_cause})"),
    }
    quote, why = evidence.first_counting(answer.evidence, symptom(lab, attempt), emitted)
    checks["evidence"] = (f"a line you saw that shows the symptom on {attempt.targets[0]}: a log line, an event "
                          "or kubectl output, as the store printed it during this attempt",
                          quote is not None, repr(quote if quote is not None else list(answer.evidence)))
    evidence_note = "; ".join(why) if quote is None else ""
    if f.node is not None:
        node = fill(f.node, values)
        checks["node"] = (node, node_matches(answer.node, node), repr(answer.node))
    workload_ok = checks["workload"][1]
    lines = []
    for item, (expected, ok, got) in checks.items():
        possible = FINDING_POINTS[item]
        gated = item in _ABOUT_WORKLOAD and ok and not workload_ok
        earned = possible if ok and not gated else 0
        command = None if earned else fill(FINDING_COMMANDS.get(item, f.command), values)
        note = f"not credited: the findings are about another workload than {workload}" if gated else \
            (evidence_note if item == "evidence" else "")
        lines.append(Line("findings", item, item.replace("_", " "), earned, possible, expected, got, command, note))
    return lines


def _deployment_ready(goal_key: str, min_ready: int, attempt: Attempt, state: Mapping[str, Any]) -> tuple[bool, str]:
    d = (state.get("deployments") or {}).get(goal_key)
    if d is None:
        return False, "no such deployment"
    replicas, ready, updated = d.get("replicas", 0), d.get("ready", 0), d.get("updated", d.get("replicas", 0))
    return ready == replicas == updated and ready >= min_ready, f"READY {ready}/{replicas}, {updated} up to date"


def _endpoints_present(goal_key: str, min_ready: int, attempt: Attempt, state: Mapping[str, Any]) -> tuple[bool, str]:
    n = int((state.get("endpoints") or {}).get(goal_key, 0))
    return n > 0, f"{n} ready address(es)" if n else "<none>"


def _revision_changed(goal_key: str, min_ready: int, attempt: Attempt, state: Mapping[str, Any]) -> tuple[bool, str]:
    before = attempt.revisions.get(goal_key)
    now = ((state.get("deployments") or {}).get(goal_key) or {}).get("revision")
    if before is None:
        return False, "no revision recorded when the lab started"
    return now is not None and now != before, f"revision {before} at the start, {now} now"


GOAL_CHECKS = {"deployment-ready": _deployment_ready, "endpoints-present": _endpoints_present,
               "revision-changed": _revision_changed}


def remediation_lines(lab: Lab, attempt: Attempt, state: Mapping[str, Any] | None) -> list[Line]:
    lines = []
    for goal in lab.remediation.goals if lab.remediation else []:
        values = attempt.values
        key = f"{fill(goal.namespace, values)}/{fill(goal.name, values)}"
        min_ready = int(fill(str(goal.min_ready), values))
        ok, got = (False, "the store's state was not collected") if state is None else \
            GOAL_CHECKS[goal.check](key, min_ready, attempt, state)
        description = fill(goal.description, values)
        lines.append(Line("remediation", goal.check, description, goal.points if ok else 0, goal.points,
                          f"{goal.check} {key}", got, None if ok else fill(goal.command, values)))
    return lines


def expected(lab: Lab, attempt: Attempt) -> dict[str, Any]:
    """What this attempt expects, templates filled: for instructors, reports and the e2e tests."""
    v, f = attempt.values, lab.findings
    return {
        "targets": list(attempt.targets),
        "findings": {"namespace": fill(f.namespace, v), "workload": fill(f.workload, v),
                     "pod_state": accepted(lab, attempt)[0], "root_cause": accepted(lab, attempt)[1],
                     "evidence": {form: [p.pattern for p in ps] for form, ps in symptom(lab, attempt).patterns.items()
                                  if ps},
                     **({"node": fill(f.node, v)} if f.node is not None else {})},
        "rubric": [{"id": s.id, "description": fill(s.description, step_values(s, v)), "points": s.points,
                    "after": s.after, "command": fill(s.command, step_values(s, v))} for s in lab.rubric],
        "remediation": [{"check": g.check, "target": f"{fill(g.namespace, v)}/{fill(g.name, v)}",
                         "description": fill(g.description, v), "points": g.points}
                        for g in (lab.remediation.goals if lab.remediation else [])],
    }


def grade(lab: Lab, attempt: Attempt, events: Iterable[dict[str, Any]], findings: Answer,
          remediation_state: Mapping[str, Any] | None = None, hints_shown: int = 0,
          emitted: evidence.Emitted | None = None) -> Result:
    """Grade one attempt; each hint shown takes the lab's `hint_cost` percentage points off the score.

    `events`: audit events as `audit.read_events` returns them (any users, any
    time: only the attempt's user since its start count). `remediation_state`:
    a snapshot of the store, taken before any fault is cleared::

        {"deployments": {"pos/pos-backend": {"replicas": 3, "ready": 3, "updated": 3, "revision": 3}},
         "endpoints": {"pos/pos-backend-service": 3}}   # ready addresses per Service

    `emitted`: what the store logged and its events during the attempt
    (`evidence.collect`); when given, quoted log lines and events must be
    among them, and the debrief's `witness` is taken from them.
    """
    reqs = requests(events, attempt.user, attempt.started_at)
    lines = (*_investigation(lab, attempt, reqs), *_findings(lab, attempt, findings, emitted),
             *remediation_lines(lab, attempt, remediation_state))
    earned, possible = sum(x.earned for x in lines), sum(x.possible for x in lines)
    raw = 100 * earned / possible if possible else 0.0
    penalty = round(min(raw, lab.hint_cost * hints_shown), 1)
    score = round(raw - penalty, 1)
    passed = score >= lab.pass_threshold
    return Result(lab.id, lab.title, lines, earned, possible, score, lab.pass_threshold, passed,
                  lab.points if passed else 0, expected(lab, attempt), hints_shown, penalty,
                  evidence.witness(symptom(lab, attempt), emitted))
