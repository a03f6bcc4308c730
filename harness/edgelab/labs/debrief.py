"""The debrief after `lab submit`: what happened in this attempt, as a responder would write it.

Pure: from the lab, the attempt (its drawn targets and values) and the one real line the
store emitted during the attempt (`Result.witness`), one `Finding` per fault: namespace,
workload, node where the lab has one, the pods' state in words, the cause in words (the
vocabulary word a findings file uses, and the fault catalogue's summary), the line and
the kubectl command that reveals it. No regular expressions: the lab's evidence patterns
are for grading; the learner reads a line the store really wrote, or the command to see it.
`grading.expected` keeps the raw form for `--json`, reports and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from edgelab.labs.attempts import Attempt, accepted, fault_catalogue, fault_types
from edgelab.labs.model import Lab
from edgelab.labs.vocab import fill, variables

# A pod state as a responder says it: kubectl's word where it says enough, words where it does not.
# Every state of vocab.POD_STATES and cause of vocab.ROOT_CAUSES has its words (tests/unit/labs/test_debrief.py).
STATE_WORDS: dict[str, str] = {
    "Running": "Running",
    "NotReady": "Running but not Ready",
    "CrashLoopBackOff": "CrashLoopBackOff",
    "Error": "Error (the container exits with an error)",
    "ErrImagePull": "ErrImagePull",
    "ImagePullBackOff": "ImagePullBackOff",
    "ContainerCreating": "stuck in ContainerCreating",
    "Pending": "Pending (not scheduled on any node)",
    "OOMKilled": "OOMKilled (over its memory limit)",
    "Terminating": "Terminating",
    "Unknown": "Unknown",
    "NoPods": "no pods (scaled to 0)",
}

# A root cause in a few words; the fault catalogue's summary says how it came about.
CAUSE_WORDS: dict[str, str] = {
    "application-bug": "a bug in the application's new release",
    "missing-configmap": "its ConfigMap is missing",
    "missing-config-key": "a required key is missing from its ConfigMap",
    "missing-secret": "a required key is missing from its Secret",
    "dependency-down": "a dependency is down",
    "registry-unreachable": "the image registry cannot be reached",
    "image-typo": "a typo in the image tag",
    "missing-pull-credentials": "the credentials to pull its image are missing",
    "all-pods-down": "all its pods are down",
    "selector-mismatch": "the Service's selector matches no pod",
    "network-policy": "a NetworkPolicy blocks the traffic",
    "memory-leak": "a memory leak",
    "infinite-loop": "a loop that keeps the CPU busy",
    "high-load": "more traffic than it can take",
    "memory-limit-too-low": "its memory limit is too low",
    "cpu-limit-too-low": "its CPU limit is too low",
    "insufficient-resources": "it asks for more than the store's nodes have",
    "node-selector-mismatch": "its node selector matches no node",
    "node-failure": "a node failed",
    "bad-rollout": "a bad rollout",
    "bad-config-change": "a configuration change to a bad value",
    "db-pool-exhausted": "the database connection pool is exhausted",
}

KIND = "deployment"  # every target a fault may draw is a Deployment of the store


@dataclass(frozen=True)
class Finding:
    """One fault of the attempt, as a responder writes it up.

    The lab's findings are about its first fault; a further fault (none of today's labs has
    one) gets where it struck and its cause, with no state, line or command asked of it.
    """

    namespace: str
    workload: str  # kind/name, e.g. deployment/payment-processor
    node: str | None  # where the lab asks for the node; "" when it was not recorded
    state: str | None  # the first pod state the lab accepts, in words
    root_cause: str | None  # the word a findings file uses, e.g. dependency-down
    cause: str  # in words: what it is and how it came about
    witness: str | None  # a real line the store emitted during the attempt that shows it
    command: str | None  # the kubectl command that reveals it

    def render(self) -> list[str]:
        rows = [("namespace", self.namespace), ("workload", self.workload)]
        if self.node is not None:
            rows.append(("node", self.node or "not recorded for this attempt"))
        if self.state is not None:
            rows.append(("state", self.state))
        rows.append(("cause", self.cause))
        if self.command is not None:
            rows.append(("evidence", self.witness if self.witness is not None else
                         "no line was collected from this attempt; the command below shows it"))
            rows.append(("command", self.command))
        width = max(len(label) for label, _ in rows) + 1
        return [f"  {label + ':':{width}} {text}" for label, text in rows]


@dataclass(frozen=True)
class Debrief:
    lab: str
    store: str
    findings: tuple[Finding, ...]
    # what the learner did, when: drillreport.attempt_timeline's entries (empty: not shown)
    timeline: tuple[Mapping[str, Any], ...] = ()

    def render(self) -> str:
        """The text the learner reads after submitting."""
        out = [f"debrief: what happened at store {self.store}, as a responder would write it"]
        for i, finding in enumerate(self.findings):
            if len(self.findings) > 1:
                out.append(f" fault {i + 1}:")
            out += finding.render()
        if self.timeline:
            out.append("what you did, from the start of the lab:")
            out += [f"  {line}" for line in timeline_text(self.timeline).splitlines()]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "store": self.store, "findings": [asdict(f) for f in self.findings],
                "timeline": [dict(e) for e in self.timeline]}

    def with_timeline(self, entries: Sequence[Mapping[str, Any]]) -> Debrief:
        return replace(self, timeline=tuple(entries))


def clock(seconds: float) -> str:
    """`+0:42`, `+12:05`, `+1:02:03`, `-0:05`: whole seconds, signed."""
    sign = "-" if seconds < 0 else "+"
    s = int(abs(seconds))
    h, rest = divmod(s, 3600)
    return f"{sign}{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{sign}{rest // 60}:{rest % 60:02d}"


def timeline_text(entries: Sequence[Mapping[str, Any]]) -> str:
    """One line per entry, e.g. `+0:42  evidence  list pods pos  [pos-pods]`; columns padded to the widest."""
    if not entries:
        return ""
    times = [clock(float(e["t_s"])) for e in entries]
    tw, kw = max(map(len, times)), max(len(str(e["kind"])) for e in entries)
    return "\n".join(f"{t:>{tw}}  {str(e['kind']):<{kw}}  {e['text']}" + (f"  [{e['step']}]" if e.get("step") else "")
                     for t, e in zip(times, entries, strict=True))


def _cause(root_cause: str | None, fault_type: str) -> str:
    summary = fault_catalogue().get(fault_type).summary.strip()
    if root_cause is None:
        return summary
    words = CAUSE_WORDS[root_cause]
    return f"{words[0].upper()}{words[1:]} ({root_cause}). {summary}"


def _witness(line: str | None) -> str | None:
    line = (line or "").strip()
    return line or None


def build(lab: Lab, attempt: Attempt, witness: str | None = None) -> Debrief:
    """The debrief of one attempt; `witness`: the line the store emitted that shows the symptom, if one was collected."""
    f, values = lab.findings, attempt.values
    (states, causes), kinds = accepted(lab, attempt), fault_types(lab, attempt)
    out = [Finding(
        namespace=fill(f.namespace, values),
        workload=f"{KIND}/{fill(f.workload, values)}",
        node=None if f.node is None else "" if attempt.node is None and "node" in variables(f.node)
        else fill(f.node, values),
        state=STATE_WORDS[states[0]],
        root_cause=causes[0],
        cause=_cause(causes[0], kinds[0]),
        witness=_witness(witness),
        command=fill(f.command, values),
    )]
    for kind, target in zip(kinds[1:], attempt.targets[1:], strict=True):
        namespace, workload = target.split("/")
        out.append(Finding(namespace, f"{KIND}/{workload}", None, None, None, _cause(None, kind), None, None))
    return Debrief(lab.id, values.get("store", ""), tuple(out))
