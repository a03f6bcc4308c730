"""What a Fault is made of, as plain data: the objects it touches, its plan, its records and conditions.

Pure logic, no cluster. A Fault's status holds its plan (the rendered changes,
fixed when the fault is selected) and one record per touched object or action
subject, each with its phase:

    Pending       recorded (with its snapshot), not changed yet
    Injected      every change of the record made
    Recovered     put back (or, for actions, done again)
    NotRecovered  could not be put back yet; `message` says why

and conditions Selected, AllInjected, AllRecovered (Kubernetes' condition shape).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from . import catalogue as cat

PENDING, INJECTED, RECOVERED, NOT_RECOVERED = "Pending", "Injected", "Recovered", "NotRecovered"


def parse_duration(text: str) -> dt.timedelta:
    """A Fault's `duration` or `recoverWithin`: 90s, 15m or 2h."""
    match = re.fullmatch(r"(\d+)([smh])", text or "")
    if not match:
        raise cat.InvalidFault(f"duration {text!r} must look like 90s, 15m or 2h")
    return dt.timedelta(seconds=int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)])


def recover_within(spec: dict[str, Any], fault_type: cat.FaultType | None) -> dt.timedelta:
    """How long a revert may take: the Fault's `recoverWithin`, else its type's `recover_seconds`, else the default."""
    if spec.get("recoverWithin"):
        return parse_duration(spec["recoverWithin"])
    return dt.timedelta(seconds=fault_type.recover_seconds if fault_type else cat.RECOVER_SECONDS)


@dataclass(frozen=True)
class ObjKey:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def of(cls, record: dict[str, Any]) -> ObjKey:
        return cls(record["kind"], record.get("namespace", ""), record["name"])


@dataclass
class Plan:
    fault_type: cat.FaultType
    namespace: str
    workload: str
    changes: list[dict[str, Any]]
    node: str | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def to_status(self) -> dict[str, Any]:
        return {"type": self.fault_type.name, "namespace": self.namespace, "workload": self.workload,
                "changes": self.changes, "node": self.node, "facts": self.facts}

    @classmethod
    def from_status(cls, raw: dict[str, Any], catalogue: cat.Catalogue) -> Plan:
        return cls(catalogue.get(raw["type"]), raw["namespace"], raw["workload"], list(raw["changes"]),
                   raw.get("node"), dict(raw.get("facts") or {}))


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def set_condition(conditions: list[dict[str, Any]] | None, type_: str, ok: bool, reason: str, message: str = ""
                  ) -> list[dict[str, Any]]:
    """`conditions` with `type_` set; lastTransitionTime moves only when the status changes."""
    out = [dict(c) for c in conditions or []]
    status = "True" if ok else "False"
    for c in out:
        if c["type"] == type_:
            if c["status"] != status:
                c["lastTransitionTime"] = now()
            c.update(status=status, reason=reason, message=message)
            return out
    out.append({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now()})
    return out


def condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c["type"] == type_), None)


def touched(records: list[dict[str, Any]]) -> list[str]:
    """Keys of what a fault holds (objects, pods, nodes): two live faults may not share one."""
    return [str(ObjKey.of(r)) for r in records]


def left_over(records: list[dict[str, Any]]) -> list[str]:
    """What is not recovered, each with why, as a person would read it."""
    out = []
    for r in records:
        if r.get("phase") != RECOVERED:
            where = f"{r['namespace']}/{r['name']}" if r.get("namespace") else r["name"]
            out.append(f"{r['kind']} {where}: {r.get('message') or r.get('phase', PENDING).lower()}")
    return out


def by_stage(records: list[dict[str, Any]], stage_of: Any) -> list[int]:
    """Record indexes in recovery order: stage by stage, objects in reverse order of their changes."""
    return sorted(range(len(records)), key=lambda i: (stage_of(records[i]), -i))
