"""What a learner uses to look inside workloads: logs, logs --previous, exec, top."""

from __future__ import annotations

import re

import pytest
from k8s import (
    Cluster,
    container,
    http_server,
    pod,
    pod_container_state,
    pod_spec,
    sleeper,
    unique,
    wait_pod_ready,
    waiting_reason,
)
from kubernetes import client
from waiting import Unmet, wait_for

CPU = re.compile(r"^\d+m?$")  # e.g. 1m, 0m, 2
MEMORY = re.compile(r"^\d+(Ki|Mi|Gi)?$")  # e.g. 14Mi


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_logs_show_container_output(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("talker")
    line = f"edgelab-log-{unique('line')}"
    command = ["sh", "-c", f'echo "{line}"; exec sleep infinity']
    core.create_namespaced_pod(namespace, pod(name, pod_spec(container(cluster.test_image, command))))
    wait_pod_ready(core, namespace, name)

    def logged() -> str | Unmet:
        out = cluster.kubectl("logs", "-n", namespace, name, check=False)
        return out.stdout if line in out.stdout else Unmet((out.stdout, out.stderr))

    wait_for(logged, timeout=30, what=f"{line!r} in kubectl logs {name}")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_logs_previous_after_crash(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("crasher")
    line = f"edgelab-crash-{unique('line')}"
    command = ["sh", "-c", f'echo "{line}"; exit 1']
    spec = pod_spec(container(cluster.test_image, command), restart_policy="Always")
    core.create_namespaced_pod(namespace, pod(name, spec))

    def restarted() -> client.V1ContainerStatus | Unmet:
        st = pod_container_state(core, namespace, name)
        return st if st is not None and st.restart_count >= 1 else Unmet(st)

    wait_for(restarted, timeout=120, what=f"{name} restartCount >= 1")

    def previous_logged() -> str | Unmet:
        out = cluster.kubectl("logs", "-n", namespace, name, "--previous", check=False)
        return out.stdout if line in out.stdout else Unmet((out.stdout, out.stderr))

    wait_for(previous_logged, timeout=30, what=f"{line!r} in kubectl logs --previous {name}")

    st = pod_container_state(core, namespace, name)
    assert st is not None
    assert st.last_state.terminated is not None, st.last_state
    assert st.last_state.terminated.exit_code == 1, st.last_state.terminated

    def crash_looping() -> client.V1ContainerStatus | Unmet:
        s = pod_container_state(core, namespace, name)
        if s is not None and waiting_reason(s) == "CrashLoopBackOff":
            return s
        return Unmet(s.state if s is not None else None)

    looping = wait_for(crash_looping, timeout=120, what=f"{name} waiting reason CrashLoopBackOff")
    assert looping.restart_count >= 1


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_exec_runs_a_command_in_the_container(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("shell")
    core.create_namespaced_pod(namespace, pod(name, pod_spec(sleeper(cluster.test_image))))
    wait_pod_ready(core, namespace, name)

    out = cluster.kubectl("exec", "-n", namespace, name, "--", "python3", "-c", "print(6*7)", check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42", out


def _top_rows(stdout: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header columns and rows by name from ``kubectl top`` output."""
    lines = [ln.split() for ln in stdout.strip().splitlines() if ln.strip()]
    if not lines:
        return [], {}
    return lines[0], {row[0]: row for row in lines[1:]}


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_top_shows_pod_and_node_usage(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("busy")
    core.create_namespaced_pod(namespace, pod(name, pod_spec(http_server(cluster.test_image))))
    wait_pod_ready(core, namespace, name)

    # metrics-server needs a couple of kubelet scrapes before a new pod shows up.
    def pod_listed() -> list[str] | Unmet:
        out = cluster.kubectl("top", "pod", "-n", namespace, check=False, timeout=30)
        header, rows = _top_rows(out.stdout)
        row = rows.get(name)
        if out.returncode != 0 or row is None:
            return Unmet((out.stdout, out.stderr))
        if header[:3] != ["NAME", "CPU(cores)", "MEMORY(bytes)"]:
            return Unmet(("header", header))
        if not (CPU.match(row[1]) and MEMORY.match(row[2])):
            return Unmet(("row", row))
        return row

    wait_for(pod_listed, timeout=180, interval=5, what=f"kubectl top pod lists {name}")

    expected = {cluster.control_plane, *cluster.workers}

    def nodes_listed() -> dict[str, list[str]] | Unmet:
        out = cluster.kubectl("top", "nodes", check=False, timeout=30)
        header, rows = _top_rows(out.stdout)
        if out.returncode != 0 or set(rows) != expected:
            return Unmet((out.stdout, out.stderr))
        if "CPU(cores)" not in header or "MEMORY(bytes)" not in header:
            return Unmet(("header", header))
        cpu_col, mem_col = header.index("CPU(cores)"), header.index("MEMORY(bytes)")
        bad = [
            r
            for r in rows.values()
            if len(r) != len(header) or not (CPU.match(r[cpu_col]) and MEMORY.match(r[mem_col]))
        ]
        return Unmet(("rows", bad)) if bad else rows

    wait_for(nodes_listed, timeout=120, interval=5, what=f"kubectl top nodes lists {sorted(expected)}")
