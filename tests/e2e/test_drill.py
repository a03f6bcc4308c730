"""A two-store drill on real stores, with scripted responders: the ranking, the times, the report, the stop.

The stores are the class-network store (`class_store`, whose API server answers on an address of a
network namespace's veth: another machine of the class), shared with the responders' tests, and a 1-node
store the drill's `start` makes itself (EDGELAB_DRILL_STORE, default 9121), as an instructor's plan would;
it is brought down at the end. Three responders: `fast` (on the class store, from the other machine) follows the course and
submits the right findings at once; `slow` (on the 1-node store) starts later, repeats itself, and submits a wrong
root cause; `silent` (on the 1-node store) never answers. A third incident is planned far ahead, so the
stop comes in the middle of the drill.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import prepared
import pytest
import yaml
from waiting import time_limit

from edgelab.drill import drills as drill
from edgelab.kube import audit, faults
from edgelab.kube.cluster import poll
from edgelab.labs import catalogue as labs
from edgelab.labs import evidence, grading
from edgelab.machine import record as machine
from edgelab.store import stores as storelib

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]  # the drill runs in `ran_drill`; the tests read it

LAB = "pos-down-4523"


def edgelab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("edgelab")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          start_new_session=True)


class Responder:
    """A person at a terminal: kubectl with their own kubeconfig, from their own machine (a netns) or this one."""

    def __init__(self, name: str, kubeconfig: str, netns: str | None = None) -> None:
        self.name, self.kubeconfig, self.netns = name, kubeconfig, netns
        self.kubectl = str(machine.current().kubectl)

    def __call__(self, *args: str) -> str:
        cmd = [self.kubectl, "--kubeconfig", self.kubeconfig, *args]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        return proc.stdout + proc.stderr

    def command(self, text: str) -> str:
        """A rubric command (`kubectl …`, `<x pod>` filled with a real pod of x)."""
        ns = re.search(r"-n (\S+)", text)
        if "<" in text:
            pods = self("get", "pods", "-n", ns.group(1) if ns else "default", "-o", "name").split()
            names = [p.split("/")[-1] for p in pods]
            text = re.sub(r"<([a-z0-9-]+) pod>", lambda m: next((p for p in names if p.startswith(m.group(1) + "-")),
                                                                m.group(1)), text)
        return self(*text.split()[1:])


def incident(folder: Path, store: str) -> dict[str, Any]:
    def begun() -> dict[str, Any] | None:
        st = drill.read(folder)
        inc = next(i for i in st["incidents"] if i["store"] == store and i["planned_at_s"] < 600)
        assert not inc["error"], inc["error"]
        return inc if inc["injected_at"] else None

    return poll(f"the incident on store {store} to begin", begun, 420, interval=2)


def through_the_page(token: str, findings: bytes) -> tuple[int, dict[str, Any]]:
    """POST the findings to a real `edgelab drill serve`, as a responder's curl would."""
    import urllib.error
    import urllib.request

    exe = Path(sys.executable).with_name("edgelab")
    proc = subprocess.Popen([str(exe), "drill", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"})
    try:
        assert proc.stdout is not None
        url = re.search(r"(http://[^/\s]+)/\?key=", proc.stdout.readline())
        assert url, "drill serve says where it serves"
        req = urllib.request.Request(url.group(1) + "/submit", data=findings,
                                     headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def second_store() -> Iterator[str]:
    """A 1-node store that `drill start` makes (made by the plan, not by the tests), down at the end."""
    store = os.environ.get("EDGELAB_DRILL_STORE", "9121")
    artifacts = prepared.artifacts()
    storelib.down(store, artifacts)  # one left by an interrupted run
    try:
        yield store
    finally:
        storelib.down(store, artifacts)


@pytest.fixture(scope="module")
def ran_drill(second_store: str, class_store: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store1 = second_store
    if (old := drill.current()) is not None and drill.read(old)["state"] == "running":
        drill.finish(old)
    work = tmp_path_factory.mktemp("drill")
    plan = {
        "apiVersion": "edgelab/v1", "kind": "Drill", "name": "two-stores-test", "title": "Two stores, three people",
        "stores": [{"id": class_store.store, "nodes": 1, "listen": class_store.address}, {"id": store1, "nodes": 1}],
        "responders": [{"name": "fast", "store": class_store.store}, {"name": "slow", "store": store1},
                       {"name": "silent", "store": store1}],
        "timeline": [{"at": "0s", "store": class_store.store, "lab": LAB},
                     {"at": "10s", "store": store1, "lab": LAB},
                     {"at": "2h", "store": store1, "lab": LAB}],  # never reached: the stop comes first
    }
    path = work / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    with prepared.store_slot(f"store {store1} (by drill start)"), time_limit(900, "drill start (making the second store)"):
        started = edgelab("drill", "start", str(path), "--json")
    assert started.returncode == 0, started.stderr[-3000:]
    folder = Path(json.loads(started.stdout)["folder"])
    st = drill.read(folder)
    # the terminal that started it goes away: the clock, in a session of its own, does not
    clock = st["clock"]["pid"]
    assert os.getpgid(clock) != os.getpgid(os.getpid()) and os.getsid(clock) == clock
    people = {r["name"]: r for r in st["responders"]}

    # fast: from the other machine, the course's flow at once, then the right findings
    first = incident(folder, class_store.store)
    fast = Responder("fast", people["fast"]["kubeconfig"], class_store.netns)
    lab = labs.get(LAB)
    from edgelab.labs.attempts import Attempt

    attempt = Attempt.from_dict(first["attempt"])
    exp = grading.expected(lab, attempt)
    symptom = grading.symptom(lab, attempt)

    def shown() -> str:
        lines = [ln for step in exp["rubric"] for ln in fast.command(step["command"]).splitlines()]
        return next((ln.strip() for ln in lines if evidence.judge(ln, symptom, None).form == "kubectl"
                     and evidence.judge(ln, symptom, None).counts), "")

    quote = poll("fast's commands to show the evidence", shown, 180, interval=3)
    f = exp["findings"]
    right = work / "fast.yaml"
    right.write_text(yaml.safe_dump({"namespace": f["namespace"], "workload": f["workload"],
                                     "pod_state": f["pod_state"][0], "root_cause": f["root_cause"][0],
                                     "evidence": [quote]}))
    sub = edgelab("drill", "submit", "fast", "--findings", str(right), "--json")
    assert sub.returncode == 0, sub.stdout[-3000:] + sub.stderr[-3000:]

    # the clock dies (the machine rebooted, say): status brings it back
    os.kill(clock, signal.SIGKILL)
    poll("the clock to die", lambda: not drill._alive(folder, {"pid": clock}), 30)
    resumed = edgelab("drill", "status", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed"] is True

    # slow: on the other store, the same request twice, then a wrong cause
    incident(folder, store1)
    trail = storelib.audit_follower(store1, since=datetime.fromisoformat(st["started_at"]))  # as the live page reads
    trail.events()
    read_before = trail.fetched
    slow = Responder("slow", people["slow"]["kubeconfig"])
    slow("get", "pods", "-n", "pos")
    slow("get", "pods", "-n", "pos")
    slow("get", "pods", "-n", "payment")
    wrong = work / "slow.yaml"
    wrong.write_text(yaml.safe_dump({"namespace": "pos", "workload": "pos-backend", "pod_state": "OOMKilled",
                                     "root_cause": "memory-limit-too-low", "evidence": ["pos-backend restarted"]}))
    status, answer = through_the_page(people["slow"]["token"], wrong.read_bytes())  # from their own machine
    assert status == 200 and answer["responder"] == "slow" and answer["passed"] is False, answer

    live = trail.events(user="slow")
    whole = storelib.audit_events(store1, since=datetime.fromisoformat(st["started_at"]), user="slow")
    fetched = trail.fetched - read_before
    report = edgelab("drill", "report", "--json", "--html", str(work / "scoreboard.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    stopped = edgelab("drill", "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    after = edgelab("drill", "report", "--json")
    assert after.returncode == 0, after.stderr[-3000:]
    return {"folder": folder, "report": json.loads(report.stdout), "after": json.loads(after.stdout),
            "fast": fast, "first": first, "stores": [class_store.store, store1],
            "html": work / "scoreboard.html", "clock": clock, "class_store": class_store,
            "trail": {"live": live, "whole": whole, "fetched": fetched, "size": trail.offsets}}


def test_the_ranking_is_right_and_says_why(ran_drill: dict[str, Any]) -> None:
    rep = ran_drill["report"]
    assert [r["name"] for r in rep["responders"]] == ["fast", "slow", "silent"], rep["responders"]
    fast, slow, silent = rep["responders"]
    assert fast["passed"] == 1 and slow["passed"] == 0 and silent["passed"] == 0
    assert all(r["why"] for r in rep["responders"])
    assert silent["incidents"][0]["answered"] is False
    assert slow["incidents"][0]["answered"] is True and slow["incidents"][0]["correct_findings_s"] is None


def test_times_are_those_the_responders_took(ran_drill: dict[str, Any]) -> None:
    fast = ran_drill["report"]["responders"][0]["incidents"][0]
    first, folder = ran_drill["first"], ran_drill["folder"]
    injected = datetime.fromisoformat(first["injected_at"])
    # their first kubectl (a list of pods in pos, the lab's first step) as the API server recorded it, in
    # the audit trail kept with the drill; their submission as the drill recorded it
    kept = json.loads((folder / f"audit-{first['store']}.json").read_text())
    lists = sorted(t for e in kept if audit.username(e) == "fast" and e.get("verb") == "list"
                   and (e.get("objectRef") or {}).get("resource") == "pods"
                   and (e.get("objectRef") or {}).get("namespace") == "pos"
                   and (t := audit.when(e)) is not None and t >= injected)
    assert lists, "no list of pods in pos by fast in the kept audit trail"
    assert fast["first_relevant_s"] == pytest.approx((lists[0] - injected).total_seconds(), abs=0.001), fast
    submitted = [datetime.fromisoformat(x["at"]) for x in drill.read(folder)["submissions"]
                 if x["responder"] == "fast" and x["incident"] == first["id"]]
    assert len(submitted) == 1, submitted
    assert fast["correct_findings_s"] == pytest.approx((submitted[0] - injected).total_seconds(), abs=0.001), fast
    assert fast["first_relevant_s"] < fast["correct_findings_s"], fast
    kinds = [e["kind"] for e in fast["timeline"]]
    assert "evidence" in kinds and "submission" in kinds and "injected" in kinds
    assert fast["requests"] >= fast["evidence_requests"] >= 3


def test_the_trail_read_as_it_grows_is_the_whole_trail(ran_drill: dict[str, Any]) -> None:
    """The live page's reader (audit.Follower) read the second store's trail once before slow began and once after:
    it has every request of slow's that a whole read finds, and its second read fetched only part of the log."""
    trail = ran_drill["trail"]
    assert [audit.describe(e) for e in trail["live"]] == [audit.describe(e) for e in trail["whole"]]
    assert sum(audit.describe(e).startswith("list pods pos") for e in trail["live"]) == 2, trail["live"]
    assert 0 < trail["fetched"] < sum(trail["size"].values()), trail


def test_repeats_are_counted(ran_drill: dict[str, Any]) -> None:
    slow = ran_drill["report"]["responders"][1]["incidents"][0]
    assert slow["repeats"] >= 1 and slow["requests"] >= 3


def test_the_fast_responder_worked_from_another_machine(ran_drill: dict[str, Any]) -> None:
    cs = ran_drill["class_store"]
    events = json.loads((ran_drill["folder"] / f"audit-{cs.store}.json").read_text())
    theirs = [e for e in events if e.get("user", {}).get("username") == "fast"]
    assert theirs, "fast's requests are in the class store's audit trail under their own name"
    server = next(s["server"] for s in ran_drill["report"]["stores"] if s["id"] == cs.store)
    assert cs.address in server


def test_stopping_mid_drill_leaves_every_store_healthy(ran_drill: dict[str, Any]) -> None:
    st = drill.read(ran_drill["folder"])
    assert st["state"] == "stopped"
    assert not any(i["injected_at"] for i in st["incidents"] if i["planned_at_s"] >= 3600)
    assert not drill._alive(ran_drill["folder"], st["clock"])
    for store in ran_drill["stores"]:
        assert storelib.status(store).healthy, store
        assert faults.Faults(storelib.paths(store).admin_kubeconfig).list_faults() == [], store
    after = ran_drill["after"]  # the report stands after the stop, from the kept audit trail
    assert [r["name"] for r in after["responders"]] == ["fast", "slow", "silent"]
    assert after["drill"]["state"] == "stopped"


def test_the_static_page_is_written(ran_drill: dict[str, Any]) -> None:
    html = ran_drill["html"].read_text()
    assert "fast" in html and "<script" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page loads nothing from elsewhere"


def test_injection_times_are_recorded_in_order(ran_drill: dict[str, Any]) -> None:
    st = drill.read(ran_drill["folder"])
    began = [datetime.fromisoformat(i["injected_at"]) for i in st["incidents"] if i["injected_at"]]
    assert len(began) == 2 and began[0] <= began[1] <= datetime.now(UTC)
