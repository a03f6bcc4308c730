"""The fault catalogue: fault types as data (catalogue.yaml), checked at load.

Pure logic, no cluster: loading, checking, choosing a target and rendering a
type's changes for one target. The operator (engine.py) applies what this
renders; the CLI lists it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import yaml

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
CHANGE_KINDS = {
    "release": {"image", "env", "resources", "cause"},
    "pod-spec": None,  # any pod spec fields
    "config": {"name", "set", "remove"},
    "secret": {"name", "remove"},
    "delete": {"kind", "name"},
    "scale": {"replicas"},
    "service": {"name", "patch"},
    "create": None,  # a whole object
    "restart": set(),
    "stop-node": set(),
}
DELETABLE = {"ConfigMap", "Secret"}
_TYPE_KEYS = {"course", "summary", "symptom", "symptom_seconds", "recover_seconds", "targets", "changes",
              "needs_workers", "params", "evidence"}
# What a fault type's symptom looks like, by where a responder sees it (harness/edgelab/labs/evidence.py judges quotes):
EVIDENCE_FORMS = {
    "log": "a line the target's own pods log",
    "caller": "a line another workload logs about the target",
    "event": "the message of an event about the target's pods, ReplicaSets, Deployment or node",
    "kubectl": "kubectl output (a `get` row, `describe` or `top` text) that shows the target's state",
}
RECOVER_SECONDS = 60  # how long a revert may take before the Fault says what is stuck
_TARGET = re.compile(r"[a-z0-9-]+/[a-z0-9-]+")


class CatalogueError(ValueError):
    """catalogue.yaml does not describe valid fault types."""


class InvalidFault(ValueError):
    """A Fault asks for something the catalogue cannot do (unknown type, target or parameter)."""


@dataclass(frozen=True)
class FaultType:
    name: str
    course: str
    summary: str
    symptom: str
    symptom_seconds: int
    targets: tuple[str, ...]
    changes: tuple[dict[str, Any], ...]
    needs_workers: int = 0
    params: dict[str, str] = field(default_factory=dict)  # name -> default
    recover_seconds: int = RECOVER_SECONDS
    evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)  # form -> regexes with {fact} variables

    @property
    def default_target(self) -> str:
        return self.targets[0]


@dataclass(frozen=True)
class Catalogue:
    types: dict[str, FaultType]
    workloads: dict[str, dict[str, str]]

    def get(self, name: str) -> FaultType:
        if name not in self.types:
            raise InvalidFault(f"unknown fault type {name!r}; known: {', '.join(sorted(self.types))}")
        return self.types[name]

    def release_images(self) -> list[str]:
        """Images of the next releases, which the store's nodes must hold for release faults."""
        return sorted({w["release"] for w in self.workloads.values() if "release" in w})


def _check_change(where: str, change: Any) -> list[str]:
    if not isinstance(change, dict) or len(change) != 1:
        return [f"{where}: a change is a map with exactly one kind, one of {sorted(CHANGE_KINDS)} (got {change!r})"]
    (kind, body), = change.items()
    if kind not in CHANGE_KINDS:
        return [f"{where}: unknown change kind {kind!r}; known: {sorted(CHANGE_KINDS)}"]
    if not isinstance(body, dict):
        return [f"{where}.{kind}: must be a map (got {body!r})"]
    problems = []
    allowed = CHANGE_KINDS[kind]
    if allowed is not None and (extra := set(body) - allowed):
        problems.append(f"{where}.{kind}: unknown field(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    if kind == "delete" and body.get("kind") not in DELETABLE:
        problems.append(f"{where}.delete.kind: must be one of {sorted(DELETABLE)} (got {body.get('kind')!r})")
    if kind == "create" and not {"apiVersion", "kind", "metadata"} <= set(body):
        problems.append(f"{where}.create: needs apiVersion, kind and metadata (got {sorted(body)})")
    return problems


def parse(raw: Any, source: str = "catalogue.yaml") -> Catalogue:
    """The catalogue, checked; CatalogueError lists every problem at once (`<file>: <field>: <rule> (got ...)`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("types"), dict) or not isinstance(raw.get("workloads"), dict):
        raise CatalogueError(f"{source}: needs maps `workloads` and `types`")
    problems: list[str] = []
    workloads: dict[str, dict[str, str]] = {}
    for target, facts in raw["workloads"].items():
        if not _TARGET.fullmatch(str(target)) or not isinstance(facts, dict):
            problems.append(f"{source}: workloads.{target}: key must be namespace/deployment, value a map "
                            f"(got {facts!r})")
            continue
        workloads[target] = {str(k): str(v) for k, v in facts.items()}
    types: dict[str, FaultType] = {}
    for name, t in raw["types"].items():
        ft, found = _parse_type(f"{source}: types.{name}", name, t, workloads)
        problems += found
        if ft is not None and not found:
            types[name] = ft
    if problems:
        raise CatalogueError("\n".join(problems))
    return Catalogue(types, workloads)


def _parse_type(where: str, name: str, t: Any, workloads: dict[str, dict[str, str]]
                ) -> tuple[FaultType | None, list[str]]:
    if not isinstance(t, dict):
        return None, [f"{where}: must be a map (got {t!r})"]
    problems = []
    if extra := set(t) - _TYPE_KEYS:
        problems.append(f"{where}: unknown field(s) {sorted(extra)}")
    missing = [k for k in ("course", "summary", "symptom", "symptom_seconds", "targets", "changes") if k not in t]
    problems += [f"{where}: missing {k}" for k in missing]
    if missing:
        return None, problems
    targets = t["targets"]
    if not isinstance(targets, list) or not targets:
        problems.append(f"{where}.targets: a non-empty list (got {targets!r})")
        targets = []
    for target in targets:
        if target not in workloads:
            problems.append(f"{where}.targets: {target!r} is not in `workloads`")
    if not isinstance(t["changes"], list) or not t["changes"]:
        return None, [*problems, f"{where}.changes: a non-empty list (got {t['changes']!r})"]
    for i, change in enumerate(t["changes"]):
        problems += _check_change(f"{where}.changes[{i}]", change)
    if not isinstance(t["symptom_seconds"], int) or t["symptom_seconds"] <= 0:
        problems.append(f"{where}.symptom_seconds: a positive whole number of seconds (got {t['symptom_seconds']!r})")
    recover = t.get("recover_seconds", RECOVER_SECONDS)
    if not isinstance(recover, int) or recover <= 0:
        problems.append(f"{where}.recover_seconds: a positive whole number of seconds (got {recover!r})")
    params = t.get("params") or {}
    if not isinstance(params, dict):
        problems.append(f"{where}.params: a map of name -> default (got {params!r})")
        params = {}
    evidence, found = _parse_evidence(f"{where}.evidence", t.get("evidence"))
    problems += found
    if problems:
        return None, problems
    ft = FaultType(name, t["course"], t["summary"], t["symptom"], t["symptom_seconds"], tuple(targets),
                   tuple(t["changes"]), int(t.get("needs_workers", 0)), {str(k): str(v) for k, v in params.items()},
                   recover, evidence)
    # every ${var} must be answerable for every allowed target, and every {var} of the evidence
    for target in ft.targets:
        known = _cluster_facts() | set(workloads[target]) | set(ft.params)
        if missing_vars := _variables(ft.changes) - known:
            problems.append(f"{where}: target {target} has no value for {sorted(missing_vars)}")
        evidence_known = known | {"node", "store"}
        if missing_vars := {v for ps in ft.evidence.values() for p in ps for v in _EVIDENCE_VAR.findall(p)} \
                - evidence_known:
            problems.append(f"{where}.evidence: target {target} has no value for {sorted(missing_vars)}")
    return ft, problems


_EVIDENCE_VAR = re.compile(r"\{([a-z_][a-z0-9_]*)\}")  # `{name}`, as in labs; `\d{3}` is a quantifier


def _parse_evidence(where: str, raw: Any) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    if raw is None:  # grading then has only the lab's own entries (tests/unit checks the shipped types have it)
        return {}, []
    if not isinstance(raw, dict) or not raw:
        return {}, [f"{where}: a map of form -> list of regexes, forms {sorted(EVIDENCE_FORMS)} (got {raw!r})"]
    out: dict[str, tuple[str, ...]] = {}
    problems = []
    for form, patterns in raw.items():
        if form not in EVIDENCE_FORMS:
            problems.append(f"{where}: unknown form {form!r}; known: {sorted(EVIDENCE_FORMS)}")
            continue
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            problems.append(f"{where}.{form}: a non-empty list of regexes (got {patterns!r})")
            continue
        for p in patterns:
            try:
                re.compile(_EVIDENCE_VAR.sub("x", p))
            except re.error as err:
                problems.append(f"{where}.{form}: not a valid regex: {err} (got {p!r})")
        out[form] = tuple(patterns)
    return out, problems


def load(path: Path = CATALOGUE) -> Catalogue:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise CatalogueError(f"{path}: not valid YAML: {e}") from e
    return parse(raw, path.name)


def _cluster_facts() -> set[str]:
    return {"namespace", "workload", "container", "image", "image_repo", "image_tag", "replicas"}


def _variables(obj: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(obj, str):
        for m in Template.pattern.finditer(obj):
            name = m.group("named") or m.group("braced")
            if name:
                found.add(name)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            found |= _variables(k) | _variables(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found |= _variables(v)
    return found


def substitute(obj: Any, values: dict[str, str]) -> Any:
    """Replace ${name} in every string (keys too) of a nested structure."""
    if isinstance(obj, str):
        return Template(obj).substitute(values)
    if isinstance(obj, dict):
        return {substitute(k, values): substitute(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, values) for v in obj]
    return obj


def split_target(target: str) -> tuple[str, str]:
    if not _TARGET.fullmatch(target):
        raise InvalidFault(f"target {target!r} must be namespace/deployment, e.g. pos/pos-backend")
    ns, name = target.split("/")
    return ns, name


def resolve_params(ft: FaultType, given: dict[str, Any] | None) -> dict[str, str]:
    given = given or {}
    unknown = set(given) - set(ft.params)
    if unknown:
        known = ", ".join(sorted(ft.params)) or "none"
        raise InvalidFault(f"fault type {ft.name} has no parameter(s) {', '.join(sorted(unknown))} (known: {known})")
    return {**ft.params, **{k: str(v) for k, v in given.items()}}


def render(ft: FaultType, target: str, cat: Catalogue, cluster_facts: dict[str, str],
           params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The type's changes for one target, every ${var} filled in."""
    if target not in ft.targets:
        raise InvalidFault(f"fault type {ft.name} cannot target {target}; it can target: {', '.join(ft.targets)}")
    values = {**cluster_facts, **cat.workloads[target], **resolve_params(ft, params)}
    return [substitute(c, values) for c in ft.changes]


def image_facts(image: str) -> dict[str, str]:
    repo, _, tag = image.rpartition(":")
    if not repo or "/" in tag:
        repo, tag = image, "latest"
    return {"image": image, "image_repo": repo, "image_tag": tag}
