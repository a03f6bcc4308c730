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
(got <value>)`. The answer vocabularies and templates are in vocab.py, an
attempt's draw in attempts.py, the checks beyond the schema in labcheck.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import EdgelabError
from .vocab import CAUSE_LOOKUP, STATE_LOOKUP

REPO = Path(__file__).resolve().parents[2]
LABS = REPO / "labs"
STORE_MANIFESTS = REPO / "manifests" / "store"
SHARED_STEPS = "_steps.yaml"

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
RootCause = Annotated[str, AfterValidator(_known(CAUSE_LOOKUP, "root cause"))]
PodState = Annotated[str, AfterValidator(_known(STATE_LOOKUP, "pod state"))]


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


class Alternative(_Model):
    """Another fault type an attempt may draw instead of the lab's `type`, with what the learner must then find."""

    type: Text
    pod_state: Annotated[list[PodState], BeforeValidator(_as_list), Field(min_length=1)]
    root_cause: Annotated[list[RootCause], BeforeValidator(_as_list), Field(min_length=1)]


class FaultRef(_Model):
    type: Text  # a type of operator/edgelab_operator/catalogue.yaml
    targets: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$")]] | None = None  # default: all
    # drawn per attempt in place of `type` (one of all of them, evenly), where the ticket fits each
    alternatives: list[Alternative] = []


class Findings(_Model):
    """What the learner must find. namespace/workload/node are templates of the drawn target."""

    namespace: Text
    workload: Text
    pod_state: Annotated[list[PodState], BeforeValidator(_as_list), Field(min_length=1)]
    root_cause: Annotated[list[RootCause], BeforeValidator(_as_list), Field(min_length=1)]
    # the fault type's evidence (catalogue) is always accepted; a lab adds entries only where its story differs
    evidence: Annotated[list[Annotated[str, Field(min_length=6)]], BeforeValidator(_as_list)] = []
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
        from .labcheck import check  # it draws attempts, which need the models above

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


