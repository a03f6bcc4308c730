"""An attempt at a lab: one target drawn per fault, every template value filled, the start time.

The values a template may use for a target come from the fault catalogue (its
`workloads` facts) and from the store's manifests (container, image,
replicas); `draw` picks the targets (or takes an instructor's), `Attempt`
carries them from `lab start` to `lab submit`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import yaml

from edgelab.base.catalogue import fault_catalogue
from edgelab.labs.model import STORE_MANIFESTS, Lab, LabError
from edgelab.labs.vocab import fill
from edgelab_operator.catalogue import image_facts

# --- facts of a target: what its templates may use ----------------------------------------------------------


@functools.cache
def store_facts() -> dict[str, dict[str, str]]:
    """Per `namespace/deployment` of the store's manifests: container, image, image_repo, image_tag, replicas."""
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
    values = {"namespace": namespace, "workload": workload, **fault_catalogue().workloads.get(target, {}),
              **store_facts().get(target, {})}
    if any("stop-node" in change for change in fault_catalogue().get(fault_type).changes):
        values["node"] = "<node>"  # chosen by the operator at injection; `Attempt.with_node` sets it
    return {prefix + k: v for k, v in values.items()}


def _prefix(i: int) -> str:
    return "" if i == 0 else f"fault{i + 1}."


def allowed_targets(lab: Lab) -> list[list[str]]:
    """Per fault, the targets an attempt may draw."""
    return [list(f.targets or fault_catalogue().get(f.type).targets) for f in lab.faults]


def allowed_types(lab: Lab) -> list[list[str]]:
    """Per fault, the fault types an attempt may draw: the lab's `type`, then its alternatives."""
    return [[f.type, *(a.type for a in f.alternatives)] for f in lab.faults]


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
    broken_at: datetime | None = None  # when the faults began to be injected: the store's output counts from here
    types: tuple[str, ...] = ()  # the fault type drawn per fault (empty: each fault's own `type`)

    @property
    def namespace(self) -> str:
        return self.values["namespace"]

    @property
    def workload(self) -> str:
        return self.values["workload"]

    @property
    def output_since(self) -> datetime:
        """Where the store's output of this attempt begins (its logs and events: evidence.collect)."""
        return self.broken_at or self.started_at

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
                "started_at": self.started_at.isoformat(), "user": self.user, "revisions": dict(self.revisions),
                "broken_at": self.broken_at.isoformat() if self.broken_at else None, "types": list(self.types)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Attempt:
        broken = d.get("broken_at")
        return cls(d["lab"], tuple(d["targets"]), dict(d["values"]), datetime.fromisoformat(d["started_at"]),
                   d.get("user", "learner"), dict(d.get("revisions") or {}),
                   datetime.fromisoformat(broken) if broken else None, tuple(d.get("types") or ()))


def draw(lab: Lab, rng: random.Random | None = None, *, store: str = "4523", started_at: datetime | None = None,
         targets: list[str] | None = None, user: str = "learner", types: list[str] | None = None) -> Attempt:
    """Draw one target (and type, where the lab has alternatives) per fault, or take `targets`/`types`
    (an instructor's choice), and fill the values."""
    rng = rng or random.Random()
    choices, kinds = allowed_targets(lab), allowed_types(lab)
    if targets is None:
        targets = [rng.choice(options) for options in choices]
    if len(targets) != len(choices) or any(t not in c for t, c in zip(targets, choices, strict=True)):
        raise LabError([f"lab {lab.id}: targets {targets} are not allowed; per fault: {choices}"])
    if types is None:
        types = [rng.choice(options) if len(options) > 1 else options[0] for options in kinds]
    if len(types) != len(kinds) or any(t not in k for t, k in zip(types, kinds, strict=True)):
        raise LabError([f"lab {lab.id}: fault types {types} are not allowed; per fault: {kinds}"])
    values: dict[str, str] = {"store": store}
    for i, (kind, target) in enumerate(zip(types, targets, strict=True)):
        values.update(target_values(kind, target, _prefix(i)))
    drawn = tuple(types) if any(len(k) > 1 for k in kinds) else ()
    return Attempt(lab.id, tuple(targets), values, started_at or datetime.now(UTC), user, types=drawn)


def fault_types(lab: Lab, attempt: Attempt) -> list[str]:
    """The fault type of each of the lab's faults in this attempt."""
    return list(attempt.types) or [f.type for f in lab.faults]


def accepted(lab: Lab, attempt: Attempt) -> tuple[list[str], list[str]]:
    """The pod states and root causes this attempt accepts (an alternative type brings its own)."""
    kind = fault_types(lab, attempt)[0]
    alternative = next((a for a in lab.faults[0].alternatives if a.type == kind), None)
    if alternative is not None:
        return list(alternative.pod_state), list(alternative.root_cause)
    return list(lab.findings.pod_state), list(lab.findings.root_cause)


def ticket(lab: Lab, attempt: Attempt) -> str:
    return fill(lab.ticket, attempt.values)


def objectives(lab: Lab) -> list[str]:
    """What the learner is asked to do, without the answers (`lab show`)."""
    out = ["find where the problem is (namespace, workload) and the pods' state",
           "name the root cause and quote the evidence (a log line, an event)"]
    if lab.remediation:
        out.append("fix it: " + "; ".join(g.description for g in lab.remediation.goals))
    return out
