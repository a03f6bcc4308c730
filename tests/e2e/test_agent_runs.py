"""Graded runs for programs (`edgelab lab run`) on the shared 1-node store (conftest's `store1`).

Each agent here is a small shell script in a temporary folder (mounted as /agent), run by the real
`lab run` in its container against the real store, graded from the real audit trail. Checked: an agent
that tries to reach the answers, the host's edgelab state, the admin kubeconfig, `edgelab fault status`
and the Docker socket gets none of them while its own kubectl works; a wrong agent scores less and is
told what it missed; an agent that overruns its time limit is stopped and graded on what it did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from waiting import Unmet, wait_for

from conftest import ctrl_c_reaches_it
from edgelab.agents import run as agentrun
from edgelab.cli import app
from edgelab.kube import faults
from edgelab.labs import progress, session
from edgelab.store import responders
from edgelab.store import stores as storelib

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
LAB = "pos-down-4523"
BASELINE = "python3 agents/baseline.py"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def store_left_as_found(store1: str) -> Iterator[None]:
    """The shared store goes on to other modules healthy and as its manifests say (agents may scale or undo)."""
    yield
    session.stop(store1)


def script(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "agent.sh"
    path.write_text("set -u\n" + text)
    return path


def lab_run(store: str, folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    got = runner.invoke(app, ["lab", "run", LAB, "--store", store, "--mount", str(folder), "--json", *args])
    assert got.exception is None or isinstance(got.exception, SystemExit), got.output
    lines = [line for line in got.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON result (exit {got.exit_code}): {got.output}"
    return got.exit_code, json.loads(lines[-1])


@pytest.mark.timeout(600)
def test_an_agent_reaches_its_store_and_nothing_of_the_host(store1: str) -> None:
    state = storelib.paths(store1)
    tries = {  # what a program should not get to: each is tried, the result printed
        "the running lab's attempt (host state)": f"cat {session.state_file(store1)}",
        "the admin kubeconfig": f"cat {state.admin_kubeconfig}",
        "the store's state folder": f"ls {state.root}",
        "the lab files by their host path": f"cat {REPO}/labs/{LAB}.yaml",
        "the lab files in the mounted checkout": f"cat /agent/labs/{LAB}.yaml",
        "the drill plans in the mounted checkout": "ls /agent/drills/lunch-rush.yaml",
        "edgelab fault status": f"edgelab fault status --store {store1}",
        "the Fault resources": "kubectl get faults.edgelab.io -A",
        "the fault operator's logs": "kubectl logs -n byteedge-fleet deployment/fleet-agent",
        "the lab's start mark": "kubectl get configmap lab-session -n byteedge-fleet",
        "kube-system's secrets": "kubectl get secrets -n kube-system",
        "the Docker socket": "test -S /var/run/docker.sock && docker ps",
        "root": "test $(id -u) = 0",
        "writing to the mounted checkout": "touch /agent/written-by-agent",
    }
    body = "".join(f'if ( {cmd} ) >/dev/null 2>&1; then echo "REACHED: {what}" >&2; else echo "refused: {what}" >&2; fi\n'
                   for what, cmd in tries.items())
    body += 'kubectl get pods -n pos >&2 && echo "own kubectl works" >&2\nkubectl auth whoami -o jsonpath="{.status.userInfo.username}" >&2\n'
    # the whole checkout is mounted (labs/ and drills/ in it): what hides them is the run, not the folder;
    # the script is the command itself (nothing of it in the checkout)
    run = agentrun.run(store1, LAB, body, mount=REPO)
    log = (run.folder / "stderr").read_text()
    for what in tries:
        assert f"refused: {what}" in log, f"{what}: not refused\n{log}"
    assert "REACHED" not in log, log
    assert "own kubectl works" in log and "pos-backend" in log, log
    assert "agent-" in log, f"the agent is not its own user: {log}"
    assert not (REPO / "written-by-agent").exists()
    assert run.findings_source == "none" and not run.passed, run.to_dict()
    assert run.requests >= 2, run.to_dict()
    assert session.running(store1) is None, "the lab is still running after the graded run"


@pytest.mark.timeout(600)
def test_a_wrong_agent_scores_less_and_is_told_what_it_missed(store1: str, tmp_path: Path) -> None:
    agent = script(tmp_path / "wrong", """
kubectl get pods -n pos
cat > "$EDGELAB_FINDINGS" <<EOF
namespace: pos
workload: pos-backend
pod_state: CrashLoopBackOff
root_cause: image-typo
evidence: ["the ticket says the registers are down"]
EOF
""")
    junit = tmp_path / "report.xml"
    code, got = lab_run(store1, tmp_path / "wrong", "--agent", f"sh {agent.name}", "--junit", str(junit),
                        "--learner", "wrong-agent")
    assert code == 1 and not got["passed"], got
    assert got["findings_source"] == "file" and got["exit_code"] == 0 and not got["timed_out"], got
    lines = {line["item"]: line for line in got["result"]["lines"]}
    assert lines["pos-pods"]["ok"], lines["pos-pods"]  # the one step it took counts
    assert not lines["root_cause"]["ok"] and not lines["pos-logs"]["ok"], lines
    assert "kubectl logs" in (lines["pos-logs"]["command"] or ""), lines["pos-logs"]
    assert 0 < got["score"] < got["result"]["threshold"], got["score"]
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None, ET.tostring(ET.parse(junit).getroot()).decode()[:2000]
    assert "root cause (0/40): got 'image-typo'" in (failure.text or ""), failure.text
    assert "try: kubectl logs <pos-backend pod> -n pos" in (failure.text or ""), failure.text
    with progress.Progress() as p:
        assert any(s.learner == "wrong-agent" and s.lab == LAB for s in p.summary("wrong-agent"))


@pytest.mark.timeout(600)
def test_an_agent_over_its_time_limit_is_stopped_and_graded_on_what_it_did(store1: str, tmp_path: Path) -> None:
    agent = script(tmp_path / "slow", """
kubectl get pods -n pos
pod=$(kubectl get pods -n pos -l app=pos-backend -o jsonpath='{.items[0].metadata.name}')
kubectl logs -n pos "$pod" --tail=50
printf 'namespace: pos\\nworkload: pos-backend\\npod_state: NotReady\\nroot_cause: dependency-down\\nevidence: []\\n' > "$EDGELAB_FINDINGS"
echo "findings so far written; thinking hard" >&2
exec sleep 3600
""")
    run = agentrun.run(store1, LAB, f"sh {agent.name}", mount=agent.parent, time_limit=25)
    assert run.timed_out and run.exit_code is None, run.to_dict()
    assert "time limit" in run.summary(), run.summary()
    lines = {line.item: line for line in run.result.lines}
    assert lines["pos-pods"].ok and lines["pos-logs"].ok, run.result.explain()
    assert run.findings_source == "file" and "'pos'" in lines["namespace"].got, run.result.explain()  # as written
    assert "NotReady" in lines["pod_state"].got, run.result.explain()
    assert 0 < run.score < run.result.threshold, run.result.explain()
    assert json.loads((run.folder / "result.json").read_text())["timed_out"] is True


@pytest.mark.timeout(600)
def test_ctrl_c_during_a_run_leaves_no_container_identity_or_fault(store1: str, tmp_path: Path) -> None:
    """A real SIGINT to the real CLI while the agent runs: the next run must find nothing left of this one."""
    folder = tmp_path / "interrupted"
    folder.mkdir()
    edgelab = str(Path(sys.executable).with_name("edgelab"))
    proc = subprocess.Popen([edgelab, "lab", "run", LAB, "--store", store1, "--mount", str(folder), "--agent",
                             "kubectl get pods -n pos >&2; exec sleep 3600"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=ctrl_c_reaches_it)

    def agent_container() -> str | Unmet:
        names = subprocess.run(["docker", "ps", "--filter", "name=edgelab-agent-", "--format", "{{.Names}}"],
                               capture_output=True, text=True, check=True).stdout.split()
        return names[0] if names else Unmet(f"no agent container yet; `lab run` running: {proc.poll() is None}")

    try:
        container = wait_for(agent_container, timeout=300, what="the agent's container")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    gone = subprocess.run(["docker", "ps", "-a", "--filter", f"name={container}", "--format", "{{.Names}}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert gone == "", f"the agent's container is left: {gone}"
    assert session.running(store1) is None, output
    assert not [r.name for r in responders.list_(store1) if r.name.startswith("agent-")], output
    left = faults.Faults(storelib.paths(store1).admin_kubeconfig).list_faults()
    assert left == [], f"faults left after Ctrl-C: {left}"


@pytest.mark.timeout(1500)
def test_the_baseline_agent_scores_full_marks_on_the_courses_practice_scenarios(store1: str, tmp_path: Path) -> None:
    """`edgelab bench` over the course's two practice scenarios, then payment-slow's other drawn causes."""
    results, junit = tmp_path / "baseline.jsonl", tmp_path / "baseline.xml"
    got = runner.invoke(app, ["bench", "--store", store1, "--agent", BASELINE, "--mount", str(REPO),
                              "--labs", "pos-down-4523,payment-slow", "--out", str(results), "--junit", str(junit),
                              "--json"])
    assert got.exit_code == 0, got.output
    runs = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(r["lab"] for r in runs) == ["payment-slow", "pos-down-4523"], runs
    for r in runs:
        assert r["passed"] and r["score"] == 100, (r["lab"], r["result"]["expected"],
                                                   [x for x in r["result"]["lines"] if not x["ok"]])
        assert r["findings_source"] == "file" and not r["timed_out"], r
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 2 and not ET.parse(junit).getroot().findall(".//failure"), ET.tostring(ET.parse(junit).getroot())
    drawn = {t for r in runs if r["lab"] == "payment-slow" for t in r["fault_types"]}
    for cause in sorted({"db-pool-exhausted", "cpu-limit-low", "cpu-hog"} - drawn):
        run = agentrun.run(store1, "payment-slow", BASELINE, mount=REPO, types=[cause], time_limit=600)
        assert run.passed and run.score == 100, (cause, run.result.explain())
