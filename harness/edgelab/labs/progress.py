"""Progress: every graded attempt in a local SQLite database, and reports for CI.

One table, `attempts` (learner, lab, score, passed, at, result JSON); the
summary per learner and lab (attempts, best score, pass rate, passed) is a
query over it, so nothing derived can drift. Each write is one transaction
(BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error): an interrupted write
leaves nothing half-made. `write_junit` turns graded results into a JUnit
file, one test case per lab (or per `Case`: `edgelab bench` names one per
run), the failure text being the result's feedback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgelab.base.paths import state_root
from edgelab.labs.grading import Result

SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id      INTEGER PRIMARY KEY,
    learner TEXT NOT NULL,
    lab     TEXT NOT NULL,
    score   REAL NOT NULL CHECK (score BETWEEN 0 AND 100),
    passed  INTEGER NOT NULL CHECK (passed IN (0, 1)),
    at      TEXT NOT NULL,  -- ISO 8601, UTC
    result  TEXT            -- the graded result as JSON (lines, expected), if given
);
CREATE INDEX IF NOT EXISTS attempts_by_learner_lab ON attempts (learner, lab);
"""


def default_path() -> Path:
    """$EDGELAB_PROGRESS_DB when set (a CI job's own database, say), else
    $XDG_STATE_HOME/edgelab/progress.sqlite (XDG_STATE_HOME defaults to ~/.local/state)."""
    if db := os.environ.get("EDGELAB_PROGRESS_DB"):
        return Path(db)
    return state_root() / "progress.sqlite"


@dataclass(frozen=True)
class Summary:
    learner: str
    lab: str
    attempts: int
    best_score: float
    pass_rate: float  # percent of attempts that passed
    passed: bool  # at least once


class Progress:
    """The progress database at `path` (made on first use)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `transaction()` opens each one explicitly.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        with self.transaction() as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: commit when the block ends, roll back if it raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def record_attempt(self, learner: str, lab: str, score: float, passed: bool, at: datetime | None = None,
                       result: Result | Mapping[str, Any] | None = None) -> int:
        """Store one graded attempt; returns its id."""
        at = at or datetime.now(UTC)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        detail = None if result is None else json.dumps(
            result.to_dict() if isinstance(result, Result) else dict(result), default=str)
        with self.transaction() as db:
            cur = db.execute("INSERT INTO attempts (learner, lab, score, passed, at, result) VALUES (?, ?, ?, ?, ?, ?)",
                             (learner, lab, float(score), int(passed), at.astimezone(UTC).isoformat(), detail))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def record(self, learner: str, result: Result, at: datetime | None = None) -> int:
        return self.record_attempt(learner, result.lab, result.score, result.passed, at, result)

    def summary(self, learner: str | None = None, lab: str | None = None) -> list[Summary]:
        """Per learner and lab, sorted: attempts, best score, pass rate (%), passed."""
        rows = self._db.execute(
            "SELECT learner, lab, COUNT(*), MAX(score), 100.0 * SUM(passed) / COUNT(*), MAX(passed) FROM attempts"
            " WHERE (? IS NULL OR learner = ?) AND (? IS NULL OR lab = ?) GROUP BY learner, lab ORDER BY learner, lab",
            (learner, learner, lab, lab)).fetchall()
        return [Summary(r[0], r[1], r[2], r[3], round(r[4], 1), bool(r[5])) for r in rows]

    def attempts(self, learner: str, lab: str) -> list[dict[str, Any]]:
        """Every attempt of one learner at one lab, oldest first."""
        rows = self._db.execute("SELECT id, score, passed, at, result FROM attempts WHERE learner = ? AND lab = ?"
                                " ORDER BY at, id", (learner, lab)).fetchall()
        return [{"id": r[0], "score": r[1], "passed": bool(r[2]), "at": r[3],
                 "result": json.loads(r[4]) if r[4] else None} for r in rows]


def summary_dicts(summaries: Iterable[Summary]) -> list[dict[str, Any]]:
    """For `edgelab progress --json`."""
    return [asdict(s) for s in summaries]


SUMMARY_COLUMNS = ["learner", "lab", "attempts", "best score", "pass rate", "passed"]


def summary_rows(rows: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """`summary_dicts` as a person reads them (`edgelab progress`)."""
    return [[r["learner"], r["lab"], str(r["attempts"]), f"{r['best_score']:g}%", f"{r['pass_rate']:.0f}%",
             "yes" if r["passed"] else "no"] for r in rows]


@dataclass(frozen=True)
class Case:
    """One JUnit test case: a graded result, named; `note` (e.g. "timed out after 600s") joins its failure."""

    result: Result
    name: str
    classname: str = "edgelab.labs"
    note: str = ""
    seconds: float | None = None  # the case's `time` attribute, when known
    properties: Mapping[str, str] = field(default_factory=dict)  # beyond score, threshold and points


def junit(results: Iterable[Result | Case], suite: str = "edgelab labs") -> ET.ElementTree:
    """One test case per result (a bare Result is named after its lab); a result not passed is a failure
    whose text is the feedback (and the case's note)."""
    cases = [r if isinstance(r, Case) else Case(r, r.lab) for r in results]
    failures = sum(not c.result.passed for c in cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    for c in cases:
        r = c.result
        case = ET.SubElement(ts, "testcase", classname=c.classname, name=c.name)
        if c.seconds is not None:
            case.set("time", f"{c.seconds:.3f}")
        props = ET.SubElement(case, "properties")
        for key, value in (("score", f"{r.score:g}"), ("threshold", f"{r.threshold:g}"), ("points", str(r.points)),
                           *c.properties.items()):
            ET.SubElement(props, "property", name=key, value=value)
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=f"{r.score:g}% < {r.threshold:g}%"
                                    + (f"; {c.note}" if c.note else ""), type="NotPassed")
            failure.text = r.feedback() + (f"\n{c.note}" if c.note else "")
        ET.SubElement(case, "system-out").text = r.explain()
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: Iterable[Result | Case], path: Path, suite: str = "edgelab labs") -> Path:
    """Write the JUnit XML report (written to a temporary file, then renamed: never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    junit(results, suite).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
