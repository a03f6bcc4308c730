"""The lab attempts the suite plays, and so the fault/target pairs they inject (once each per run).

Every lab is played on its fault type's default target where the lab may draw it (else on its first
target), every widened lab's new target once more, and each cause a lab may draw instead of its first.
The lab attempt checks the pair's symptom and its exact revert; the fault tests take only the pairs no
attempt injects (`unplayed`), so no pair is injected twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgelab.labs import attempts
from edgelab.labs import catalogue as labs
from edgelab_operator import catalogue

LABS = labs.load_all()
CATALOGUE = catalogue.load()


@dataclass(frozen=True)
class Play:
    lab: str
    target: str
    fault_type: str

    @property
    def id(self) -> str:
        return f"{self.lab}@{self.fault_type}@{self.target}"


def _first(lab_id: str) -> Play:
    lab = LABS[lab_id]
    kind = attempts.allowed_types(lab)[0][0]
    allowed = attempts.allowed_targets(lab)[0]
    default = CATALOGUE.get(kind).default_target
    return Play(lab_id, default if default in allowed else allowed[0], kind)


# A widened lab's new target whose investigation or fix differs from its first target's (another
# namespace's dashboard chain, the registers' own config or release, a dependency scaled to zero).
NEW_TARGETS = [
    ("blank-dashboard", "observability/otel-collector"),
    ("breakfast-rush", "pos/pos-frontend"),
    ("slower-since-eleven", "pos/pos-frontend"),
    ("unavailable-at-1202", "order/order-service"),
]

# every lab once (the node failure last: it is the slowest to come back), then the new targets, then the
# other causes a lab draws (payment-slow: the course's scenario names its workload, not its cause)
PLAYS: list[Play] = (
    [_first(i) for i in sorted(LABS, key=lambda i: (LABS[i].min_nodes > 1, i))]
    + [Play(i, t, _first(i).fault_type) for i, t in NEW_TARGETS]
    + [Play(i, _first(i).target, k) for i, lab in LABS.items() for k in attempts.allowed_types(lab)[0][1:]]
)


def played() -> set[tuple[str, str]]:
    return {(p.fault_type, p.target) for p in PLAYS}


def unplayed(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Of (fault type, target) pairs, those no lab attempt injects."""
    done = played()
    return [p for p in pairs if p not in done]
