"""Labs: versioned data (`labs/*.yaml`), checked at load; an attempt draws its targets.

A lab is the ticket the learner reads, the fault(s) the operator injects, the
findings expected, an investigation rubric over the learner's audit events, an
optional remediation goal and ordered hints (schema: the models below; guide:
labs/README.md). Everything that names the target is a template — `{namespace}`,
`{workload}`, `{service}`, `{config}`, `{image}`, `{node}`, ... — filled per
attempt from the drawn target (`draw`), so a randomised target changes every
expected answer. Files whose name starts with `_` are not labs: `_steps.yaml`
holds rubric steps that labs share (`- use: previous-logs`).

Loading reports every problem at once, each as `<file>: <field path>: <rule>
(got <value>)`. The answer vocabularies (root causes, pod states, each with
synonyms) live here, in one place: labs are checked against them and grading
normalises the learner's answers with them.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import EdgelabError

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
STORE_MANIFESTS = REPO / "manifests" / "store"
SHARED_STEPS = "_steps.yaml"

# --- answer vocabularies: canonical value -> synonyms (matched case-, space- and punctuation-blind) ----------

ROOT_CAUSES: dict[str, tuple[str, ...]] = {
    # CrashLoopBackOff (course issue 1)
    "application-bug": ("app bug", "code bug", "application code bug", "software bug", "bug", "bad release",
                        "broken release", "bad version", "crash on start", "invalid log level"),
    "missing-configmap": ("configmap missing", "configmap deleted", "deleted configmap", "no configmap",
                          "missing config map", "config map deleted"),
    "missing-config-key": ("missing configmap key", "configmap key missing", "missing config key",
                           "missing configuration key", "missing setting", "required setting missing",
                           "key removed from configmap"),
    "missing-secret": ("secret missing", "missing secret key", "secret key missing", "secret key removed"),
    "dependency-down": ("dependency unavailable", "downstream service down", "downstream down", "upstream down",
                        "database down", "database unavailable", "database connection failure", "db down"),
    # ImagePullBackOff (issue 2)
    "registry-unreachable": ("registry down", "registry unavailable", "container registry down", "internet outage",
                             "network outage", "edge network outage", "no internet", "cannot reach registry"),
    "image-typo": ("image tag typo", "typo in image tag", "typo in image name", "image name typo", "wrong image tag",
                   "bad image tag", "wrong tag", "image not found", "image does not exist"),
    "missing-pull-credentials": ("missing pull secret", "missing image pull secret", "image pull secret missing",
                                 "missing registry credentials", "no pull credentials",
                                 "missing credentials for private registry"),
    # Service unreachable (issue 3)
    "all-pods-down": ("all pods crashed", "no pods running", "scaled to zero", "zero replicas", "scaled down"),
    "selector-mismatch": ("service selector mismatch", "selector does not match pod labels", "label mismatch",
                          "wrong selector", "selector doesn't match labels"),
    "network-policy": ("networkpolicy", "network policy blocking traffic", "blocked by network policy",
                       "networkpolicy blocking traffic"),
    # High CPU/Memory (issue 4)
    "memory-leak": ("leak", "unbounded cache", "cache grows without limit"),
    "infinite-loop": ("busy loop", "cpu hog", "runaway loop", "tight loop", "endless loop"),
    "high-load": ("high traffic", "high load", "traffic spike", "too much traffic"),
    "memory-limit-too-low": ("memory limit too low", "low memory limit", "memory limits too low"),
    "cpu-limit-too-low": ("cpu limit too low", "low cpu limit", "cpu throttling", "throttled", "cpu limits too low"),
    # Pending, hardware, releases, configuration
    "insufficient-resources": ("insufficient cpu", "not enough cpu", "insufficient resources", "requests too high",
                               "cpu requests too high", "resource requests too high", "impossible requests"),
    "node-selector-mismatch": ("node selector", "nodeselector", "node affinity", "no matching node",
                               "node selector matches no node"),
    "node-failure": ("node down", "node notready", "node not ready", "hardware failure", "store hardware failure",
                     "server failure", "node failed", "kubelet stopped"),
    "bad-rollout": ("failed rollout", "bad deployment", "bad deploy", "rollout stuck", "new version never ready"),
    "bad-config-change": ("configuration change", "bad configuration", "config change", "bad config value",
                          "wrong config value", "misconfiguration", "wrong port"),
    "db-pool-exhausted": ("connection pool exhausted", "db pool too small", "database pool too small",
                          "pool exhaustion", "pool size too small", "database connection pool"),
}

POD_STATES: dict[str, tuple[str, ...]] = {
    "Running": ("running", "up"),
    "NotReady": ("not ready", "unready", "running but not ready", "running not ready", "0/1", "0/1 ready"),
    "CrashLoopBackOff": ("crashloop", "crash loop", "crash loop back off", "crash looping", "crashing"),
    "Error": ("error",),
    "ErrImagePull": ("err image pull", "image pull error"),
    "ImagePullBackOff": ("image pull back off", "image pull backoff"),
    "ContainerCreating": ("container creating", "creating", "stuck creating"),
    "Pending": ("unschedulable", "not scheduled"),
    "OOMKilled": ("oom killed", "oom", "out of memory"),
    "Terminating": ("terminated",),
    "Unknown": (),
    "NoPods": ("no pods", "no pod", "none", "0 pods", "zero pods", "0/0"),
}


def _causes_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _states_key(text: str) -> str:
    return re.sub(r"[^a-z0-9/]+", "", text.lower())


def _lookup(vocab: Mapping[str, tuple[str, ...]], key: Any) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, synonyms in vocab.items():
        for word in (canonical, *synonyms):
            k = key(word)
            if table.setdefault(k, canonical) != canonical:
                raise ValueError(f"vocabulary: {word!r} means both {table[k]} and {canonical}")
    return table


_CAUSES = _lookup(ROOT_CAUSES, _causes_key)
_STATES = _lookup(POD_STATES, _states_key)


def root_cause(text: str) -> str | None:
    """The canonical root cause `text` names (a canonical value or a synonym), else None."""
    return _CAUSES.get(_causes_key(text))


def pod_state(text: str) -> str | None:
    """The canonical pod state `text` names ("crash loop back off" -> CrashLoopBackOff), else None."""
    return _STATES.get(_states_key(text))


# --- templates -----------------------------------------------------------------------------------------------

_VAR = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")  # `\d{3}` and `{2,5}` in regexes are not variables
REGEX_PREFIX = "re:"


def variables(text: str) -> set[str]:
    return set(_VAR.findall(text))


def fill(text: str, values: Mapping[str, str], *, regex: bool = False) -> str:
    """Replace each `{name}`; inside a regex the values are escaped (a dot in a host name is a dot)."""
    return _VAR.sub(lambda m: re.escape(values[m[1]]) if regex else values[m[1]], text)


def evidence_pattern(entry: str, values: Mapping[str, str]) -> re.Pattern[str]:
    """An evidence entry as a pattern: `re:<regex>`, or a plain text matched as a substring (case-blind)."""
    if entry.startswith(REGEX_PREFIX):
        return re.compile(fill(entry[len(REGEX_PREFIX):], values, regex=True), re.IGNORECASE)
    return re.compile(re.escape(normalise_text(fill(entry, values))), re.IGNORECASE)


_QUOTES = str.maketrans("\u2018\u2019\u201c\u201d`", "''\"\"'")


def normalise_text(text: str) -> str:
    """Whitespace collapsed and typographic quotes made plain: how evidence is compared."""
    return " ".join(text.translate(_QUOTES).split())


# --- the schema ----------------------------------------------------------------------------------------------


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _known(table: Mapping[str, str], what: str) -> Any:
    def check(value: str) -> str:
        if value not in table.values():
            raise ValueError(f"unknown {what} {value!r}; use one of: {', '.join(sorted(set(table.values())))}")
        return value
    return check


Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Text = Annotated[str, Field(min_length=1)]
Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
RootCause = Annotated[str, AfterValidator(_known(_CAUSES, "root cause"))]
PodState = Annotated[str, AfterValidator(_known(_STATES, "pod state"))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Model):
    """Which audit events meet a rubric step (every given field must hold; templates allowed).

    `verb`, `resource`: one or a list. `subresource`: absent means none (`log`, `exec`,
    `scale`; `*` any). `group`: the API group; requests to metrics.k8s.io (`kubectl top`)
    match only steps that name that group. `namespace`: a request across all namespaces
    (`-A`) counts for a list step. `name`: a glob (`{workload}-*` = that workload's pods);
    an unnamed list counts when the step's verbs include list. `query`: parameters the
    request must carry (`previous: "true"` for `logs --previous`).
    """

    verb: Annotated[list[Verb], BeforeValidator(_as_list), Field(min_length=1)]
    resource: Annotated[list[Id], BeforeValidator(_as_list), Field(min_length=1)]
    subresource: str | None = None
    group: str | None = None
    namespace: str | None = None
    name: str | None = None
    query: dict[str, str] = Field(default_factory=dict)


class Step(_Model):
    id: Id
    description: Text
    points: Annotated[int, Field(gt=0)]
    match: Match
    command: Text  # the kubectl command shown when the step is missed
    after: Id | None = None  # counts only after this (earlier) step was met: the course's order
    with_: dict[str, str] = Field(default_factory=dict, alias="with")  # extra template values for this step


class FaultRef(_Model):
    type: Text  # a type of operator/edgelab_operator/catalogue.yaml
    targets: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")]] | None = None  # default: all


class Findings(_Model):
    """What the learner must find. namespace/workload/node are templates of the drawn target."""

    namespace: Text
    workload: Text
    pod_state: Annotated[list[PodState], BeforeValidator(_as_list), Field(min_length=1)]
    root_cause: Annotated[list[RootCause], BeforeValidator(_as_list), Field(min_length=1)]
    evidence: Annotated[list[Annotated[str, Field(min_length=6)]], BeforeValidator(_as_list), Field(min_length=1)]
    node: str | None = None
    command: Text  # the kubectl command that shows the cause (feedback for root cause and evidence)


class Goal(_Model):
    """A state of the store the learner must leave behind (checked on a snapshot, see grading)."""

    check: Literal["deployment-ready", "endpoints-present", "revision-changed"]
    name: Text  # template: the deployment, or the Service for endpoints-present
    namespace: Text = "{namespace}"
    min_ready: int | str = 1  # deployment-ready: at least this many ready (may be "{replicas}")
    points: Annotated[int, Field(gt=0)]
    description: Text
    command: Text


class Remediation(_Model):
    goals: list[Goal] = Field(min_length=1)


class Lab(_Model):
    id: Id  # = the file name without .yaml
    title: Text
    course: Text  # the course section and cause it practises
    level: Literal["beginner", "intermediate", "advanced"]
    points: Annotated[int, Field(gt=0)]  # what passing is worth
    pass_threshold: Annotated[float, Field(ge=0, le=100)]  # percent of the rubric's points
    min_nodes: Annotated[int, Field(ge=1, le=3)] = 1
    ticket: Annotated[str, Field(min_length=20)]  # as the store manager reports it; only {store} templated
    faults: list[FaultRef] = Field(min_length=1)
    findings: Findings
    rubric: list[Step] = Field(min_length=1)
    remediation: Remediation | None = None
    hints: list[Text] = Field(default_factory=list)
    hint_cost: Annotated[float, Field(ge=0, le=100)] = 5  # percentage points off the score per hint shown


class LabError(EdgelabError):
    """Lab files that do not follow the schema; one line per problem, each naming file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems) + "\nFix the lab file(s); labs/README.md describes every field.")


# --- facts of a target: what its templates may use ----------------------------------------------------------


@functools.cache
def _catalogue() -> Any:
    from edgelab_operator import catalogue

    return catalogue.load()


@functools.cache
def store_facts() -> dict[str, dict[str, str]]:
    """Per `namespace/deployment` of the store's manifests: container, image, image_repo, image_tag, replicas."""
    from edgelab_operator.catalogue import image_facts

    out: dict[str, dict[str, str]] = {}
    for file in sorted(STORE_MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                meta, spec = doc["metadata"], doc["spec"]
                container = spec["template"]["spec"]["containers"][0]
                out[f"{meta['namespace']}/{meta['name']}"] = {
                    "container": container["name"], "replicas": str(spec.get("replicas", 1)),
                    **image_facts(container["image"])}
    return out


def target_values(fault_type: str, target: str, prefix: str = "") -> dict[str, str]:
    """Template values of one fault target: namespace, workload, the catalogue's facts, the manifests' facts."""
    namespace, workload = target.split("/")
    values = {"namespace": namespace, "workload": workload, **_catalogue().workloads.get(target, {}),
              **store_facts().get(target, {})}
    if any("stop-node" in change for change in _catalogue().get(fault_type).changes):
        values["node"] = "<node>"  # chosen by the operator at injection; `Attempt.with_node` sets it
    return {prefix + k: v for k, v in values.items()}


def _prefix(i: int) -> str:
    return "" if i == 0 else f"fault{i + 1}."


def allowed_targets(lab: Lab) -> list[list[str]]:
    """Per fault, the targets an attempt may draw."""
    return [list(f.targets or _catalogue().get(f.type).targets) for f in lab.faults]


# --- an attempt ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One go at a lab: the drawn targets (one per fault), every template value, the start time.

    `values` holds namespace, workload (of the first fault; later faults as
    `fault2.workload`, ...), store, node (once known) and the target's facts.
    `revisions` is each target deployment's rollout revision once the fault
    showed (for the remediation goal revision-changed). JSON-able through
    `to_dict`/`from_dict`, so `lab start` can persist it for `lab submit`.
    """

    lab: str
    targets: tuple[str, ...]
    values: Mapping[str, str]
    started_at: datetime
    user: str = "learner"
    revisions: Mapping[str, int] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.values["namespace"]

    @property
    def workload(self) -> str:
        return self.values["workload"]

    @property
    def node(self) -> str | None:
        node = self.values.get("node")
        return None if node in (None, "<node>") else node

    def with_node(self, node: str) -> Attempt:
        return replace(self, values={**self.values, "node": node})

    def with_revisions(self, revisions: Mapping[str, int]) -> Attempt:
        return replace(self, revisions=dict(revisions))

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "targets": list(self.targets), "values": dict(self.values),
                "started_at": self.started_at.isoformat(), "user": self.user, "revisions": dict(self.revisions)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attempt:
        return cls(d["lab"], tuple(d["targets"]), dict(d["values"]), datetime.fromisoformat(d["started_at"]),
                   d.get("user", "learner"), dict(d.get("revisions") or {}))


def draw(lab: Lab, rng: random.Random | None = None, *, store: str = "4523", started_at: datetime | None = None,
         targets: list[str] | None = None, user: str = "learner") -> Attempt:
    """Draw one target per fault (or take `targets`, e.g. an instructor's choice) and fill the values."""
    rng = rng or random.Random()
    choices = allowed_targets(lab)
    if targets is None:
        targets = [rng.choice(options) for options in choices]
    if len(targets) != len(choices) or any(t not in c for t, c in zip(targets, choices, strict=True)):
        raise LabError([f"lab {lab.id}: targets {targets} are not allowed; per fault: {choices}"])
    values: dict[str, str] = {"store": store}
    for i, (ref, target) in enumerate(zip(lab.faults, targets, strict=True)):
        values.update(target_values(ref.type, target, _prefix(i)))
    return Attempt(lab.id, tuple(targets), values, started_at or datetime.now(UTC), user)


def ticket(lab: Lab, attempt: Attempt) -> str:
    return fill(lab.ticket, attempt.values)


def objectives(lab: Lab) -> list[str]:
    """What the learner is asked to do, without the answers (`lab show`)."""
    out = ["find where the problem is (namespace, workload) and the pods' state",
           "name the root cause and quote the evidence (a log line, an event)"]
    if lab.remediation:
        out.append("fix it: " + "; ".join(g.description for g in lab.remediation.goals))
    return out


# --- loading -------------------------------------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise LabError([f"{path}: cannot read: {err.strerror}"]) from err
    except yaml.YAMLError as err:
        raise LabError([f"{path}: not valid YAML: {err}"]) from err


def shared_steps(labs_dir: Path = LABS) -> dict[str, dict[str, Any]]:
    path = labs_dir / SHARED_STEPS
    raw = _read(path) if path.exists() else {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise LabError([f"{path}: must map a step name to a step (description, match, command)"])
    return raw


def _expand(raw: dict[str, Any], shared: Mapping[str, dict[str, Any]], problems: list[str]) -> dict[str, Any]:
    """`- use: NAME` rubric items become the shared step NAME, with the item's own fields on top."""
    rubric = raw.get("rubric")
    if not isinstance(rubric, list):
        return raw
    out = []
    for i, item in enumerate(rubric):
        if isinstance(item, dict) and "use" in item:
            name = item["use"]
            if name not in shared:
                problems.append(f"rubric[{i}].use: unknown shared step {name!r}; known: {', '.join(sorted(shared))}")
                continue
            item = {"id": name, **shared[name], **{k: v for k, v in item.items() if k != "use"}}
        out.append(item)
    return {**raw, "rubric": out}


def load(path: Path, shared: Mapping[str, dict[str, Any]] | None = None) -> Lab:
    """Load and check one lab file; raise LabError listing every problem."""
    path = Path(path)
    raw = _read(path)
    if not isinstance(raw, dict):
        raise LabError([f"{path}: a lab is a mapping of fields (id, title, ticket, ...)"])
    problems: list[str] = []
    raw = _expand(raw, shared_steps(path.parent) if shared is None else shared, problems)
    try:
        lab = Lab.model_validate(raw)
    except ValidationError as err:
        for e in err.errors():
            got = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            problems.append(f"{_path(e['loc'])}: {e['msg']}{got}")
    else:
        problems += check(lab, path.stem)
    if problems:
        raise LabError([f"{path}: {p}" for p in problems])
    return lab


class UnknownLab(EdgelabError):
    """No lab has this id."""

    def __init__(self, lab_id: str) -> None:
        super().__init__(f"unknown lab {lab_id!r}; `edgelab lab list` shows them")


def get(lab_id: str, labs_dir: Path = LABS) -> Lab:
    """One lab by id (its file name), checked as `load_all` checks it; UnknownLab when there is none."""
    path = Path(labs_dir) / f"{lab_id}.yaml"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", lab_id) or not path.is_file():  # no `_steps`, no `../x`
        raise UnknownLab(lab_id)
    return load(path)


def load_all(labs_dir: Path = LABS) -> dict[str, Lab]:
    """Every lab of `labs_dir` by id; raise LabError listing the problems of every file."""
    labs_dir = Path(labs_dir)
    shared = shared_steps(labs_dir)
    labs: dict[str, Lab] = {}
    problems: list[str] = []
    for path in sorted(labs_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        try:
            lab = load(path, shared)
        except LabError as err:
            problems += err.problems
        else:
            labs[lab.id] = lab
    if problems:
        raise LabError(problems)
    return labs


# --- checks beyond the schema --------------------------------------------------------------------------------

# A ticket is the store manager's report: it names no mechanism, no exercise.
SPOILER_WORDS = ("fault", "inject", "chaos", "lab", "exercise", "kubernetes", "k8s", "kubectl", "pod", "deployment",
                 "configmap", "secret", "selector", "endpoint", "namespace", "replica", "rollout", "rollback",
                 "container", "image", "registry", "node", "kubelet", "cpu", "memory", "oom", "crash",
                 "network policy", "networkpolicy", "config", "limit", "scaled", "database", "pool")


def ticket_spoilers(text: str) -> list[str]:
    """Words or phrases of `text` that give the cause away (spoiler words, root causes and their synonyms)."""
    plain = " " + _causes_key(text) + " "
    phrases = set(SPOILER_WORDS) | {_causes_key(w) for c, s in ROOT_CAUSES.items() for w in (c, *s)}
    return [p for p in sorted(phrases) if re.search(rf"\b{re.escape(_causes_key(p))}s?\b", plain)]


def _strings(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{path}[{i}]")


def check(lab: Lab, stem: str) -> list[str]:
    """Cross-field rules: catalogue types and targets, step order, templates, spoilers. One line per problem."""
    problems: list[str] = []
    if lab.id != stem:
        problems.append(f"id: must equal the file name {stem!r} (got {lab.id!r})")
    cat = _catalogue()
    for i, ref in enumerate(lab.faults):
        if ref.type not in cat.types:
            problems.append(f"faults[{i}].type: unknown fault type {ref.type!r}; known: {', '.join(sorted(cat.types))}")
            continue
        ft = cat.types[ref.type]
        for j, target in enumerate(ref.targets or []):
            if target not in ft.targets:
                problems.append(f"faults[{i}].targets[{j}]: {target!r} is not a target of fault type {ref.type} "
                                f"(it can hit: {', '.join(ft.targets)})")
        if ft.needs_workers and lab.min_nodes < ft.needs_workers + 1:
            problems.append(f"min_nodes: fault type {ref.type} needs a store of at least {ft.needs_workers + 1} "
                            f"nodes; say so with min_nodes: {ft.needs_workers + 1} (got {lab.min_nodes})")
    if problems:
        return problems  # the template checks need valid faults

    seen: set[str] = set()
    for i, step in enumerate(lab.rubric):
        if step.id in seen:
            problems.append(f"rubric[{i}].id: {step.id!r} is used twice")
        if step.after is not None and step.after not in seen:
            problems.append(f"rubric[{i}].after: {step.after!r} is not the id of an earlier step")
        seen.add(step.id)

    # every template must be answerable for every target an attempt may draw
    per_target = [draw(lab, targets=[t, *[ts[0] for ts in allowed_targets(lab)[1:]]], store="0")
                  for t in allowed_targets(lab)[0]]
    known = set.intersection(*(set(a.values) for a in per_target))
    dump = lab.model_dump(by_alias=True, exclude={"id", "title", "course", "level", "ticket", "faults"})
    literal_workloads = {t.split("/")[1] for ts in allowed_targets(lab) for t in ts}
    for where, text in _strings(dump):
        in_step = re.match(r"rubric\[(\d+)\]", where)
        allowed = known | (set(lab.rubric[int(in_step[1])].with_) if in_step else set())
        if unknown := variables(text) - allowed:
            problems.append(f"{where}: unknown template variable(s) {sorted(unknown)}; known for every target of "
                            f"this lab: {', '.join(sorted(allowed))} (got {text!r})")
        for w in sorted(literal_workloads) if not where.startswith("hints") else ():
            if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w])", _VAR.sub("", text)):
                problems.append(f"{where}: names the target {w!r} literally; write {{workload}} (or another "
                                f"template) so that a randomised target changes the answer (got {text!r})")
    for name in ("namespace", "workload"):
        if not variables(getattr(lab.findings, name)):
            problems.append(f"findings.{name}: must reference the drawn target, e.g. {{{name}}} "
                            f"(got {getattr(lab.findings, name)!r})")
    if problems:
        return problems

    for a in per_target:
        for j, entry in enumerate(lab.findings.evidence):
            try:
                pattern = evidence_pattern(entry, a.values)
            except re.error as err:
                problems.append(f"findings.evidence[{j}]: not a valid regex: {err} (got {entry!r})")
                break
            if pattern.search("") or pattern.search("error") or pattern.search("x" * 200):
                problems.append(f"findings.evidence[{j}]: matches almost anything; evidence must be specific "
                                f"(got {entry!r})")
                break
        for j, goal in enumerate(lab.remediation.goals if lab.remediation else []):
            if not fill(str(goal.min_ready), a.values).isdigit():
                problems.append(f"remediation.goals[{j}].min_ready: must be a whole number (got {goal.min_ready!r})")
    if ticket_vars := variables(lab.ticket) - {"store"}:
        problems.append(f"ticket: may use only {{store}}; {sorted(ticket_vars)} would point at the target")
    if spoilers := ticket_spoilers(lab.ticket):
        problems.append(f"ticket: gives the cause away ({', '.join(spoilers)}); a ticket reports the symptom as a "
                        "store manager would")
    # the learner types the id (`lab start ID`) and reads the title: neither may name the cause either
    if spoilers := ticket_spoilers(lab.id.replace("-", " ")):
        problems.append(f"id: gives the cause away ({', '.join(spoilers)}); name the lab after its symptom "
                        f"(got {lab.id!r})")
    if spoilers := ticket_spoilers(lab.title):
        problems.append(f"title: gives the cause away ({', '.join(spoilers)}); name the lab after its symptom "
                        f"(got {lab.title!r})")
    return sorted(set(problems), key=problems.index)
