"""Drill plans (schema and cross-checks) and the drill's state on disk, without a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from unitpaths import DATA

from edgelab.cli import app
from edgelab.drill import drills as drill

GOOD = {
    "apiVersion": "edgelab/v1", "kind": "Drill", "name": "two", "title": "Two stores",
    "stores": [{"id": "4601", "nodes": 1}, {"id": "4602", "nodes": 3, "listen": "10.213.7.1"}],
    "responders": [{"name": "alice", "store": "4601"}, {"name": "bob", "store": "4602"}],
    "timeline": [{"at": "0m", "store": "4601", "lab": "pos-down-4523"},
                 {"at": "90s", "store": "4602", "fault": {"type": "crash-on-start", "target": "pos/pos-backend"},
                  "title": "registers reboot", "ticket": "The registers keep rebooting since 12:02."}],
}


def write(tmp_path: Path, plan: dict) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def problems(tmp_path: Path, **change: object) -> str:
    with pytest.raises(drill.DrillError) as err:
        drill.load_plan(write(tmp_path, {**GOOD, **change}))
    return str(err.value)


def test_the_shipped_plans_are_valid() -> None:
    plans = sorted(drill.DRILLS.glob("*.yaml"))
    assert plans, "drills/ ships at least one plan"
    for path in plans:
        plan = drill.load_plan(path)
        assert plan.name == path.stem


def test_a_good_plan_loads(tmp_path: Path) -> None:
    plan = drill.load_plan(write(tmp_path, GOOD))
    assert [s.id for s in plan.stores] == ["4601", "4602"]
    assert drill.seconds(plan.timeline[1].at) == 90


@pytest.mark.parametrize(("change", "said"), [
    ({"apiVersion": "edgelab/v2"}, "apiVersion"),
    ({"kind": "Lab"}, "kind"),
    ({"stores": [{"id": "45x1"}]}, "stores.0.id"),
    ({"stores": [{"id": "4601"}, {"id": "4601"}]}, "store 4601 is listed twice"),
    ({"stores": [{"id": "4601", "listen": "not-an-ip"}, {"id": "4602"}]}, "is not an IP address"),
    ({"responders": [{"name": "alice", "store": "9999"}]}, "store 9999 is not among the plan's stores"),
    ({"responders": [{"name": "learner", "store": "4601"}]}, "reserved"),
    ({"responders": [{"name": "system-x", "store": "4601"}]}, "reserved"),
    ({"responders": [{"name": "a/../b", "store": "4601"}]}, "responders.0.name"),
    ({"responders": [{"name": "CN=x,O=system:masters", "store": "4601"}]}, "responders.0.name"),
    ({"responders": [{"name": "alice", "store": "4601"}, {"name": "alice", "store": "4602"}]}, "listed twice"),
    ({"timeline": [{"at": "5 minutes", "store": "4601", "lab": "pos-down-4523"}]}, "timeline.0.at"),
    ({"timeline": [{"at": "0m", "store": "4601", "lab": "no-such-lab"}]}, "unknown lab 'no-such-lab'"),
    ({"timeline": [{"at": "0m", "store": "4601", "lab": "froze-at-1620"}]}, "needs 2 nodes; store 4601 has 1"),
    ({"timeline": [{"at": "0m", "store": "4601"}]}, "exactly one"),
    ({"timeline": [{"at": "0m", "store": "4601", "lab": "pos-down-4523", "fault": {"type": "crash-on-start"}}]},
     "exactly one"),
    ({"timeline": [{"at": "0m", "store": "4601", "fault": {"type": "crash-on-start"}}]}, "title"),
    ({"timeline": [{"at": "0m", "store": "4601", "fault": {"type": "no-such-type"}, "title": "t",
                    "ticket": "x"}]}, "unknown fault type"),
    ({"timeline": [{"at": "0m", "store": "4601", "fault": {"type": "crash-on-start", "target": "kube-system/dns"},
                    "title": "t", "ticket": "x"}]}, "is not a target of crash-on-start"),
    ({"surprise": 1}, "surprise"),
])
def test_a_bad_plan_is_refused_naming_the_field(tmp_path: Path, change: dict, said: str) -> None:
    text = problems(tmp_path, **change)
    assert said in text
    assert "docs/drills.md" in text


def test_nobody_on_call_for_the_timeline_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, responders=[{"name": "alice", "store": "4602"}],
                    timeline=[{"at": "0m", "store": "4601", "lab": "pos-down-4523"}])
    assert "nobody is on call" in text


def test_seconds() -> None:
    assert [drill.seconds(t) for t in ("0s", "90s", "5m", "1h")] == [0, 90, 300, 3600]
    with pytest.raises(drill.DrillError):
        drill.seconds("5 min")


def test_find_plan_by_name_or_file(tmp_path: Path) -> None:
    assert drill.find_plan("lunch-rush") == drill.DRILLS / "lunch-rush.yaml"
    path = write(tmp_path, GOOD)
    assert drill.find_plan(str(path)) == path
    with pytest.raises(drill.DrillError, match="lunch-rush"):
        drill.find_plan("../etc/passwd")


def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **over: object) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = drill.root() / "two-20261130T100000"
    folder.mkdir(parents=True)
    st = {"name": "two", "title": "Two", "plan": "p", "state": "running", "started_at": "2026-11-30T10:00:00+00:00",
          "ended_at": None, "duration_s": None, "stores": [{"id": "4601", "nodes": 1, "server": ""}],
          "responders": [{"name": "alice", "store": "4601", "kubeconfig": "k"}],
          "incidents": [{"id": "i1", "store": "4601", "lab": "pos-down-4523", "fault": None, "title": "t",
                         "ticket": "", "planned_at_s": 60.0, "injected_at": None, "recovered_at": None,
                         "ended_at": None, "target": None, "attempt": None, "faults": [], "error": None}],
          "submissions": [], "hints": [], "clock": None, **over}
    (folder / "state.json").write_text(json.dumps(st))
    (drill.root() / "current").write_text(folder.name)
    return folder


def test_state_is_changed_under_the_lock_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _state(tmp_path, monkeypatch)
    assert drill.current() == folder
    with drill.changing(folder) as st:
        st["hints"].append({"responder": "alice", "incident": "i1", "at": "x", "n": 1})
    assert drill.read(folder)["hints"][0]["responder"] == "alice"
    assert not list(folder.glob("*.tmp"))


def test_status_without_its_clock_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _state(tmp_path, monkeypatch, clock={"pid": 999999999, "since": "x"})
    st = drill.status(resume=False)
    assert st["clock_running"] is False and st["resumed"] is False and st["state"] == "running"


def test_submissions_are_refused_before_the_incident_and_for_strangers(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelab.labs import grading

    _state(tmp_path, monkeypatch)
    answer = grading.Answer(namespace="pos", workload="pos-backend", pod_state="Running", root_cause="memory-limit-too-low",
                            evidence=())
    with pytest.raises(drill.DrillError, match="not a responder"):
        drill.submit("mallory", answer)
    with pytest.raises(drill.DrillError, match="no graded incident has begun on store 4601"):
        drill.submit("alice", answer)


def test_a_stopped_drill_takes_no_submission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelab.labs import grading

    _state(tmp_path, monkeypatch, state="stopped")
    answer = grading.Answer(namespace="pos", workload="pos-backend", pod_state="Running", root_cause="memory-limit-too-low",
                            evidence=())
    with pytest.raises(drill.DrillError, match="submissions are closed"):
        drill.submit("alice", answer)


def test_cli_check_and_no_drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    runner = CliRunner()
    ok = runner.invoke(app, ["drill", "check", "lunch-rush"])
    assert ok.exit_code == 0 and "valid" in ok.output
    bad = runner.invoke(app, ["drill", "check", str(write(tmp_path, {**GOOD, "kind": "Lab"}))])
    assert bad.exit_code == 1 and "kind" in bad.output
    none = runner.invoke(app, ["drill", "status"])
    assert none.exit_code == 1 and "no drill has been started" in none.output
    start = runner.invoke(app, ["drill", "start", str(write(tmp_path, {**GOOD, "kind": "Lab"}))])
    assert start.exit_code == 1 and "kind" in start.output


def test_submissions_over_http_need_the_responders_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _state(tmp_path, monkeypatch, responders=[{"name": "alice", "store": "4601", "kubeconfig": "k",
                                                        "token": "s3cret-token"}])
    assert drill.submit_http(folder, "", b"x")[0] == 401
    assert drill.submit_http(folder, "guess", b"x")[0] == 401
    status, answer = drill.submit_http(folder, "s3cret-token", b"namespace: [unclosed")
    assert status == 400 and "error" in answer
    good = yaml.safe_dump({"namespace": "pos", "workload": "pos-backend", "pod_state": "Running",
                           "root_cause": "memory-limit-too-low", "evidence": ["x"]}).encode()
    status, answer = drill.submit_http(folder, "s3cret-token", good)
    assert status == 409 and "no graded incident has begun" in answer["error"]


def test_the_page_server_takes_submissions_by_post() -> None:
    import threading
    import urllib.error
    import urllib.request

    from edgelab.drill import page as drillpage

    seen: list[tuple[str, bytes]] = []

    def submit(token: str, body: bytes) -> tuple[int, dict]:
        seen.append((token, body))
        return (200, {"passed": True}) if token == "t" else (401, {"error": "unknown token"})

    server = drillpage.serve(lambda: {}, "127.0.0.1", 0, submit=submit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/submit"
    try:
        req = urllib.request.Request(url, data=b"namespace: pos\n", headers={"Authorization": "Bearer t"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read()) == {"passed": True}
        req = urllib.request.Request(url, data=b"x", headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        assert seen == [("t", b"namespace: pos\n"), ("nope", b"x")]
    finally:
        server.shutdown()
        server.server_close()


def test_the_scoreboard_is_the_instructors() -> None:
    import threading
    import urllib.error
    import urllib.request

    from edgelab.drill import page as drillpage

    report = json.loads((DATA / "drill" / "report.json").read_text())
    server = drillpage.serve(lambda: report, "127.0.0.1", 0, key="k3y")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for path in ("/", "/report.json", "/?key=wrong", "/report.json?key="):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + path, timeout=10)
            assert err.value.code == 403, path
        with urllib.request.urlopen(base + "/report.json?key=k3y", timeout=10) as resp:
            assert json.loads(resp.read())["drill"] == report["drill"]
        with urllib.request.urlopen(base + "/?key=k3y", timeout=10) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()
        server.server_close()
