"""The progress database (harness/edgelab/labs/progress.py): attempts recorded in transactions, the summary
per learner and lab, the default location, and the JUnit report of graded results."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edgelab.labs import attempts, grading, progress
from edgelab.labs import catalogue as labs

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[progress.Progress]:
    with progress.Progress(tmp_path / "state" / "progress.sqlite") as p:
        yield p


def test_summary_per_learner_and_lab(db: progress.Progress) -> None:
    db.record_attempt("ana", "pos-down-4523", 40.0, False, T0)
    db.record_attempt("ana", "pos-down-4523", 92.5, True, T0 + timedelta(minutes=30))
    db.record_attempt("ana", "pos-down-4523", 70.0, False, T0 + timedelta(hours=1))
    db.record_attempt("ana", "payment-slow", 55.0, False, T0)
    db.record_attempt("ben", "pos-down-4523", 100.0, True, T0)
    assert db.summary() == [
        progress.Summary("ana", "payment-slow", 1, 55.0, 0.0, False),
        progress.Summary("ana", "pos-down-4523", 3, 92.5, 33.3, True),
        progress.Summary("ben", "pos-down-4523", 1, 100.0, 100.0, True),
    ]
    assert [s.lab for s in db.summary(learner="ana")] == ["payment-slow", "pos-down-4523"]
    assert [s.learner for s in db.summary(lab="pos-down-4523")] == ["ana", "ben"]
    assert db.summary(learner="nobody") == []
    assert progress.summary_dicts(db.summary(learner="ben")) == [
        {"learner": "ben", "lab": "pos-down-4523", "attempts": 1, "best_score": 100.0, "pass_rate": 100.0,
         "passed": True}]


def test_attempts_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "progress.sqlite"
    with progress.Progress(path) as p:
        first = p.record_attempt("ana", "sluggish-registers", 60.0, False, T0)
    with progress.Progress(path) as p:
        second = p.record_attempt("ana", "sluggish-registers", 90.0, True, T0 + timedelta(minutes=5))
        assert second == first + 1
        assert [(a["score"], a["passed"]) for a in p.attempts("ana", "sluggish-registers")] == [(60.0, False), (90.0, True)]


def test_times_are_stored_in_utc(db: progress.Progress) -> None:
    db.record_attempt("ana", "sluggish-registers", 60.0, False, datetime(2026, 11, 25, 14, 0, tzinfo=UTC).astimezone())
    db.record_attempt("ana", "sluggish-registers", 60.0, False, datetime(2026, 11, 25, 15, 0))  # naive: UTC
    assert [a["at"] for a in db.attempts("ana", "sluggish-registers")] == ["2026-11-25T14:00:00+00:00", "2026-11-25T15:00:00+00:00"]


def test_an_interrupted_write_leaves_nothing(db: progress.Progress) -> None:
    db.record_attempt("ana", "sluggish-registers", 60.0, False, T0)
    with pytest.raises(KeyboardInterrupt), db.transaction() as tx:
        tx.execute("INSERT INTO attempts (learner, lab, score, passed, at) VALUES ('ana', 'cpu-hog', 99, 1, 'x')")
        raise KeyboardInterrupt  # e.g. Ctrl-C between two statements
    assert [s.attempts for s in db.summary()] == [1]
    db.record_attempt("ana", "sluggish-registers", 80.0, True, T0)  # and the database is usable afterwards
    assert [s.attempts for s in db.summary()] == [2]


def test_an_invalid_attempt_is_refused_whole(db: progress.Progress) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        db.record_attempt("ana", "sluggish-registers", 150.0, True, T0)
    assert db.summary() == []


def test_another_connection_never_sees_half_a_write(tmp_path: Path) -> None:
    path = tmp_path / "progress.sqlite"
    with progress.Progress(path) as writer, progress.Progress(path) as reader:
        with writer.transaction() as tx:
            tx.execute("INSERT INTO attempts (learner, lab, score, passed, at) VALUES ('ana', 'x', 1, 0, 'x')")
            assert reader.summary() == []
        assert [s.attempts for s in reader.summary()] == [1]


def test_default_path_follows_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert progress.default_path() == tmp_path / "xdg" / "edgelab" / "progress.sqlite"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert progress.default_path() == tmp_path / "home" / ".local" / "state" / "edgelab" / "progress.sqlite"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    with progress.Progress() as p:
        assert p.path.exists()


# --- graded results -------------------------------------------------------------------------------------


def results() -> list[grading.Result]:
    all_labs = labs.load_all()
    good = grading.parse_findings("namespace: pos\nworkload: pos-backend\npod_state: NoPods\nroot_cause: all-pods-down\n"
                                  "evidence: 'pos-backend   0/0     0            0           5m'\n")
    bad = grading.parse_findings("namespace: pos\nworkload: pos-frontend\npod_state: Running\nroot_cause: high-load\n"
                                 "evidence: []\n")
    state = {"deployments": {"pos/pos-backend": {"replicas": 3, "ready": 3, "updated": 3, "revision": 2}},
             "endpoints": {"pos/pos-backend-service": 3}}
    lab = all_labs["unavailable-at-1202"]
    a = attempts.draw(lab, started_at=T0, targets=["pos/pos-backend"])
    events = [{"user": {"username": "learner"}, "verb": "list", "requestURI": "/api/v1/namespaces/pos/pods",
               "objectRef": {"resource": "pods", "namespace": "pos"}, "requestReceivedTimestamp": f"2026-11-25T13:0{i}:00Z",
               "responseStatus": {"code": 200}} for i in range(1, 3)]
    passed = grading.grade(lab, a, events, good, state)
    failed = grading.grade(all_labs["amber-since-six"], attempts.draw(all_labs["amber-since-six"], started_at=T0,
                                                                 targets=["pos/pos-backend"]), [], bad)
    return [passed, failed]


def test_record_a_graded_result(db: progress.Progress) -> None:
    passed, failed = results()
    db.record("ana", passed, T0)
    db.record("ana", failed, T0)
    (stored,) = db.attempts("ana", "unavailable-at-1202")
    assert stored["result"]["expected"]["findings"]["workload"] == "pos-backend"
    assert stored["score"] == passed.score
    assert [(s.lab, s.passed) for s in db.summary()] == [("amber-since-six", False), ("unavailable-at-1202", passed.passed)]


def test_junit_one_case_per_lab_failure_text_is_the_feedback(tmp_path: Path) -> None:
    passed, failed = results()
    assert not failed.passed
    path = progress.write_junit([passed, failed], tmp_path / "reports" / "labs.xml")
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.get("tests"), root.get("failures")) == ("2", str(int(not passed.passed) + 1))
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"unavailable-at-1202", "amber-since-six"}
    failure = cases["amber-since-six"].find("failure")
    assert failure is not None and failure.text == failed.feedback()
    assert failure.get("message") == f"{failed.score:g}% < 85%"
    assert "try: kubectl" in (failure.text or "")
    assert cases["amber-since-six"].findtext("system-out") == failed.explain()
    props = {p.get("name"): p.get("value") for p in cases["amber-since-six"].iter("property")}
    assert props == {"score": f"{failed.score:g}", "threshold": "85", "points": "0"}
