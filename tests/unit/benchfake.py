"""A fake agent runner for the bench tests: what agentrun.RunResult carries, graded with real grading types."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgelab.labs import grading

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
AGENT = "python3 agents/baseline.py"


def graded(lab: str, score: float, threshold: float = 85.0) -> grading.Result:
    """A real grading.Result: one findings line, the root cause, earned in proportion to the score."""
    earned = round(score)
    line = grading.Line("findings", "root_cause", "the root cause", earned, 100, "missing-secret",
                        "missing-secret" if earned == 100 else "high-load",
                        None if earned == 100 else "kubectl logs -n pos deploy/pos-backend")
    passed = score >= threshold
    return grading.Result(lab, f"title of {lab}", (line,), earned, 100, score, threshold, passed,
                          10 if passed else 0, {"findings": {"root_cause": "missing-secret"}})


@dataclass(frozen=True)
class FakeRun:
    """The fields of agentrun.RunResult (docs/agents.md), and its JSON line."""

    lab: str
    store: str
    agent: str
    result: grading.Result
    timed_out: bool = False
    time_limit: float | None = 600.0
    agent_seconds: float = 30.0
    total_seconds: float = 90.0
    exit_code: int | None = 0
    findings_source: str = "file"
    findings_problem: str | None = None
    requests: int = 12
    started_at: datetime = T0
    folder: Path = Path("/tmp/run")

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "store": self.store, "agent": self.agent, "result": self.result.to_dict(),
                "passed": self.result.passed, "score": self.result.score, "timed_out": self.timed_out,
                "time_limit": self.time_limit, "agent_seconds": self.agent_seconds,
                "total_seconds": self.total_seconds, "exit_code": self.exit_code,
                "findings_source": self.findings_source, "findings_problem": self.findings_problem,
                "requests": self.requests, "started_at": self.started_at.isoformat(), "folder": str(self.folder)}


@dataclass
class FakeRunner:
    """Plays scripted outcomes (lab -> one (score, timed out) per repeat) and records each call."""

    outcomes: dict[str, list[tuple[float, bool]]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    check: Any = None  # called before each run with the number of runs so far

    def __call__(self, store: str, lab_id: str, agent: str, *, time_limit: float | None = None,
                 mount: Path | None = None, say: Any = None) -> FakeRun:
        if self.check:
            self.check(len(self.calls))
        score, timed_out = self.outcomes[lab_id][sum(c["lab"] == lab_id for c in self.calls)]
        self.calls.append({"store": store, "lab": lab_id, "agent": agent, "time_limit": time_limit, "mount": mount})
        say("agent started")
        return FakeRun(lab_id, store, agent, graded(lab_id, score), timed_out=timed_out, time_limit=time_limit,
                       agent_seconds=600.0 if timed_out else 20.0 + score / 10, requests=int(score) // 10)


def run_line(lab: str, repeat: int, score: float, *, timed_out: bool = False, agent_seconds: float = 30.0,
             requests: int = 10, total_seconds: float = 60.0, agent: str = AGENT) -> dict[str, Any]:
    line = FakeRun(lab, "4523", agent, graded(lab, score), timed_out=timed_out, agent_seconds=agent_seconds,
                   requests=requests, total_seconds=total_seconds).to_dict()
    return {**line, "repeat": repeat}


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path
