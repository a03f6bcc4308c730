"""The lab schema: the models a lab file is checked against (pydantic), and the error that lists every problem.

Guide to the fields: labs/README.md. Loading (catalogue.py) reads files into these models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from edgelab.base.errors import EdgelabError
from edgelab.base.paths import REPO
from edgelab.labs.vocab import CAUSE_LOOKUP, STATE_LOOKUP

LABS = REPO / "labs"
STORE_MANIFESTS = REPO / "manifests" / "store"

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
