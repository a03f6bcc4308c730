"""examples/github-actions: the workflow's shape, its pins, its shell, and investigate.sh's reasoning.

The workflow's steps are run for real, as a docker-group user against a store, by
tests/e2e/test_users_machines.py::test_the_ci_example_workflow_as_a_docker_group_user; here, without
a cluster: the YAML, `bash -n` of every `run:` step, and investigate.sh against a fake kubectl that
shows each of the lab's two draws (it must tell them apart from what kubectl shows).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

_spec = importlib.util.spec_from_file_location("ghworkflow", Path(__file__).resolve().parents[1] / "e2e" / "ghworkflow.py")
assert _spec is not None and _spec.loader is not None
ghworkflow = importlib.util.module_from_spec(_spec)
sys.modules["ghworkflow"] = ghworkflow
_spec.loader.exec_module(ghworkflow)

WORKFLOW = ghworkflow.EXAMPLE
SCRIPT = ghworkflow.SCRIPT


@pytest.fixture(scope="module")
def wf() -> Any:
    return ghworkflow.load()


def test_the_workflow_has_the_expected_steps_in_order(wf: Any) -> None:
    kinds = [s.action or "run" for s in wf.steps]
    assert kinds == ["actions/checkout", "actions/checkout", "actions/setup-python", "run", "run", "run",
                     "mikepenz/action-junit-report", "actions/upload-artifact", "run"], kinds
    learner, edgelab, python = wf.steps[:3]
    assert learner.with_ == {"path": "learner"}
    assert edgelab.with_["path"] == "edgelab" and "EDGELAB_REPOSITORY" in edgelab.with_["repository"]
    assert python.with_["python-version"] == "3.11"
    setup, up, run = (s.run or "" for s in wf.steps[3:6])
    assert "make -C edgelab setup" in setup and '"$EDGELAB_SETUP_ARGS"' in setup
    assert 'edgelab up --store "$LAB_STORE" --nodes 1' in up
    for part in ('lab run "$LAB_ID" --store "$LAB_STORE" --agent "$LAB_AGENT"', "--mount learner",
                 '--junit "$LAB_REPORT"'):
        assert part in run, run
    assert wf.env["EDGELAB_SETUP_ARGS"] == "${{ vars.EDGELAB_SETUP_ARGS || '--online' }}"
    assert wf.env["LAB_AGENT"] == "bash investigate.sh" and wf.env["LAB_ID"] == "pos-down-4523"
    triggers = wf.triggers
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers), triggers


def test_the_grade_is_published_and_the_store_torn_down_even_when_the_run_fails(wf: Any) -> None:
    publish, keep, down = wf.steps[6:]
    assert publish.runs(failed=True) and keep.runs(failed=True) and down.runs(failed=True)
    assert publish.with_["report_paths"] == "${{ env.LAB_REPORT }}"
    assert keep.with_["path"].split() == ["${{", "env.LAB_REPORT", "}}", "edgelab-run/"], keep.with_
    assert "exit \"$status\"" in (wf.steps[5].run or "")  # the run's grade is the step's outcome
    assert "edgelab down --store \"$LAB_STORE\"" in (down.run or "")
    assert not wf.steps[4].runs(failed=True)  # no store is made after a failed setup


def test_every_run_step_is_bash_without_github_expressions(wf: Any) -> None:
    """`run:` steps read only the environment, so they run outside GitHub as they are."""
    assert wf.shell == "bash"
    for step in wf.steps:
        if step.run is None:
            continue
        assert "${{" not in step.run, f"{step.name}: a GitHub expression in a run step"
        proc = subprocess.run(["bash", "-n"], input=step.run, capture_output=True, text=True)
        assert proc.returncode == 0, f"{step.name}: {proc.stderr}"
    # the expressions are only where GitHub alone can answer: the repository's variables
    assert set(wf.expressions()) == {"EDGELAB_REPOSITORY", "EDGELAB_REF", "EDGELAB_SETUP_ARGS"}, wf.expressions()
    assert all(v.startswith("${{ vars.") for v in wf.expressions().values()), wf.expressions()


def test_every_action_is_pinned_to_a_commit_with_its_version_said(wf: Any) -> None:
    source = WORKFLOW.read_text()
    for step in wf.steps:
        if step.uses is None:
            continue
        m = ghworkflow.PINNED.match(step.uses)
        assert m, f"{step.name}: {step.uses} is not pinned to a full commit"
        line = next(ln for ln in source.splitlines() if step.uses in ln)
        assert "# v" in line and line.split("# v")[1].count(".") == 2, f"{step.name}: say the version: {line}"


def test_investigate_sh_parses() -> None:
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(SCRIPT, os.X_OK)


# --- investigate.sh against a fake kubectl --------------------------------------------------------------

DRAWS = {  # the lab's two targets: (service host, namespace, deployment)
    "payment": ("payment-service", "payment", "payment-processor"),
    "order": ("order-service", "order", "order-service"),
}
LABELS = "app.kubernetes.io/part-of=byteedge-store tier=backend"


def _store(down: str) -> dict[str, Any]:
    """What kubectl shows on a store where `down`'s deployment was scaled to 0."""
    t = "2026-11-30T06:3{}:{:02d}.000Z"
    lines = [f"{t.format(4, 29)} WARN  health: {d} at http://{s}.{ns}.svc.cluster.local did not answer: connection "
             f"refused by {s}.{ns}.svc.cluster.local:80" for d, (s, ns, _) in DRAWS.items()]  # start-up: both
    lines += [f"{t.format(4, 34)} INFO  health: {d} at http://{s}.{ns}.svc.cluster.local answers (6 ms)"
              for d, (s, ns, _) in DRAWS.items()]
    s, ns, w = DRAWS[down]
    lines += [f"{t.format(5, 24)} ERROR health: {down} at http://{s}.{ns}.svc.cluster.local is unreachable: "
              f"connection refused by {s}.{ns}.svc.cluster.local:80; not ready",
              f"{t.format(5, 29)} INFO  tax: rate table recalculated 2 times in the last minute (store rate 8.25 %)"]
    deployments = {ns_: [f"{w_}-canary app={w_}-canary {LABELS}", f"{w_} app={w_} {LABELS}"]
                   for _, ns_, w_ in DRAWS.values()}
    return {
        "pods pos": "NAME READY STATUS RESTARTS AGE\npos-backend-58f7-2nzjm 0/1 Running 0 101s\n"
                    "pos-backend-58f7-77bbd 0/1 Running 0 101s\npos-frontend-6584-bgpzc 0/1 Running 0 100s",
        "logs": "\n".join(lines),
        "services": {f"{s_} {ns_}": f"app={w_}" for s_, ns_, w_ in DRAWS.values()},
        "deployments": deployments,
        "rows": {f"{w_} {ns_}": f"NAME READY UP-TO-DATE AVAILABLE AGE\n{w_}   {'0/0' if w_ == w else '2/2'}   0   0   2m4s"
                 for _, ns_, w_ in DRAWS.values()},
    }


FAKE = r'''
import json, sys
a = sys.argv[1:]
data = json.load(open(DATA))
open(CALLS, "a").write(" ".join(a) + "\n")
def arg(flag):
    return a[a.index(flag) + 1]
if a[:2] == ["get", "pods"] and arg("-n") == "pos":
    print(data["pods pos"])
elif a[:2] == ["get", "endpoints"]:
    print("NAME ENDPOINTS AGE\npos-backend-service   101s")
elif a[:2] == ["get", "events"]:
    print("LAST SEEN TYPE REASON OBJECT MESSAGE\n4s Warning Unhealthy pod/pos-backend-58f7-2nzjm Readiness probe failed")
elif a[0] == "logs":
    print(data["logs"])
elif a[:2] == ["get", "service"]:
    print(data["services"][a[2] + " " + arg("-n")])
elif a[:2] == ["get", "deployments"]:
    print("\n".join(data["deployments"][arg("-n")]))
elif a[:2] == ["get", "deployment"]:
    print(data["rows"][a[2] + " " + arg("-n")])
elif a[:2] == ["get", "pods"]:
    print("No resources found in %s namespace." % arg("-n"), file=sys.stderr)
else:
    sys.exit("fake kubectl: unexpected " + " ".join(a))
'''


@pytest.mark.parametrize("down", sorted(DRAWS))
def test_investigate_sh_follows_what_kubectl_shows(down: str, tmp_path: Path) -> None:
    data, calls, findings = tmp_path / "store.json", tmp_path / "calls", tmp_path / "findings.yaml"
    data.write_text(json.dumps(_store(down)))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    kubectl = bindir / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\nDATA, CALLS = {str(data)!r}, {str(calls)!r}\n{FAKE}")
    kubectl.chmod(0o755)
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "EDGELAB_FINDINGS": str(findings),
                               "EDGELAB_TIME_LIMIT": "600"})
    assert proc.returncode == 0, proc.stderr
    got = yaml.safe_load(findings.read_text())
    service, ns, workload = DRAWS[down]
    log_line = next(ln for ln in _store(down)["logs"].splitlines() if "is unreachable" in ln)
    assert got == {"namespace": ns, "workload": workload, "pod_state": "NoPods", "root_cause": "dependency-down",
                   "evidence": [log_line, f"{workload}   0/0   0   0   2m4s"]}, got
    # the course's flow, in its order: pods, endpoints, events, logs, then the dependency
    verbs = [" ".join(c.split()[:2]) for c in calls.read_text().splitlines()]
    assert verbs[:4] == ["get pods", "get endpoints", "get events", "logs pos-backend-58f7-2nzjm"], verbs
    assert verbs[4:] == ["get service", "get deployments", "get deployment", "get pods"], verbs
    assert f"get deployment {workload} -n {ns}" in calls.read_text()


def test_investigate_sh_names_no_answer() -> None:
    """The draws' namespaces and workloads appear nowhere in the script: it reads them from kubectl."""
    text = SCRIPT.read_text()
    for _, ns, workload in DRAWS.values():
        assert f"{ns}-" not in text and workload not in text and f"-n {ns}" not in text
    assert "payment" not in text
