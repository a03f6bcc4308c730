"""The failures labs inject, seen the way a learner sees them through the API."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from k8s import (
    Cluster,
    HttpOutcome,
    condition,
    container,
    http_get_from_pod,
    http_server,
    pod,
    pod_container_state,
    pod_spec,
    service,
    service_url,
    sleeper,
    unique,
    wait_for_event,
    wait_pod_ready,
    waiting_reason,
)
from kubernetes import client
from waiting import Unmet, wait_for

BAD_IMAGE = "registry.invalid.example/pos-backend:2.1-typo"


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_network_policy_blocks_unlisted_clients(
    cluster: Cluster,
    core: client.CoreV1Api,
    networking: client.NetworkingV1Api,
    namespace: str,
) -> None:
    server = unique("server")
    server_labels = {"app": server}
    core.create_namespaced_pod(namespace, pod(server, pod_spec(http_server(cluster.test_image)), server_labels))
    core.create_namespaced_service(namespace, service(server, server_labels))
    plain = unique("client")
    allowed = unique("allowed")
    core.create_namespaced_pod(namespace, pod(plain, pod_spec(sleeper(cluster.test_image))))
    core.create_namespaced_pod(namespace, pod(allowed, pod_spec(sleeper(cluster.test_image)), {"role": "allowed"}))
    for name in (server, plain, allowed):
        wait_pod_ready(core, namespace, name)

    url = service_url(server, namespace)

    def get(client_pod: str) -> HttpOutcome:
        return http_get_from_pod(cluster, namespace, client_pod, url, timeout=3)

    def blocked(client_pod: str) -> str | Unmet:
        # Returns the failure kind: an HttpOutcome is only truthy when the GET succeeded.
        outcome = get(client_pod)
        return outcome.outcome if outcome.blocked else Unmet(outcome)

    for name in (plain, allowed):
        wait_for(partial(get, name), timeout=60, interval=2, what=f"{name} reaches {url}")

    policy = unique("only-allowed")
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": policy},
        "spec": {
            "podSelector": {"matchLabels": server_labels},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "allowed"}}}]}],
        },
    }
    networking.create_namespaced_network_policy(namespace, body)

    # kube-router rejects (ICMP port unreachable -> "connection refused"); a dropping
    # policy engine gives a timeout. Either is "blocked"; DNS or HTTP errors are not.
    wait_for(lambda: blocked(plain), timeout=30, interval=1, what=f"{plain} blocked by {policy}")
    wait_for(lambda: get(allowed), timeout=15, interval=1, what=f"{allowed} still reaches {url}")
    still = get(plain)
    assert still.blocked, still

    networking.delete_namespaced_network_policy(policy, namespace)
    wait_for(lambda: get(plain), timeout=30, interval=1, what=f"{plain} reaches {url} again")


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_unresolvable_image_backs_off(core: client.CoreV1Api, namespace: str) -> None:
    name = unique("pos-backend")
    spec = pod_spec(container(BAD_IMAGE, ["sleep", "infinity"], pull_policy="Always"))
    core.create_namespaced_pod(namespace, pod(name, spec))

    seen: list[str] = []

    def backing_off() -> str | Unmet:
        reason = waiting_reason(pod_container_state(core, namespace, name))
        if reason and (not seen or seen[-1] != reason):
            seen.append(reason)
        return reason if reason == "ImagePullBackOff" else Unmet(seen)

    wait_for(backing_off, timeout=120, what=f"{name} waiting reason ImagePullBackOff")
    pull_reasons = [r for r in seen if r != "ContainerCreating"]
    assert set(pull_reasons) <= {"ErrImagePull", "ImagePullBackOff"}, seen
    assert core.read_namespaced_pod(name, namespace).status.phase == "Pending"

    event = wait_for_event(core, namespace, name, reason="Failed", message_contains="Failed to pull image")
    assert BAD_IMAGE in (event.message or ""), event.message


@pytest.mark.e2e
@pytest.mark.timeout(360)
def test_memory_hog_is_oom_killed_then_crash_loops(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("hog")
    # bytearray() zero-fills its buffer, so all 200 MiB are touched and charged.
    command = ["python3", "-c", "b=bytearray(200*1024*1024); import time; time.sleep(60)"]
    resources = {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "250m", "memory": "48Mi"},
    }
    spec = pod_spec(container(cluster.test_image, command, resources=resources))
    core.create_namespaced_pod(namespace, pod(name, spec))

    def oom_killed() -> client.V1ContainerStatus | Unmet:
        st = pod_container_state(core, namespace, name)
        last = st.last_state.terminated if st is not None and st.last_state else None
        if st is not None and last is not None and last.reason == "OOMKilled":
            return st
        return Unmet(st)

    wait_for(oom_killed, timeout=120, what=f"{name} lastState.terminated.reason OOMKilled")

    def crash_looping() -> client.V1ContainerStatus | Unmet:
        st = pod_container_state(core, namespace, name)
        if st is not None and waiting_reason(st) == "CrashLoopBackOff":
            return st
        return Unmet(st.state if st is not None else None)

    st = wait_for(crash_looping, timeout=150, what=f"{name} waiting reason CrashLoopBackOff")
    assert st.restart_count >= 1, st
    assert st.last_state.terminated.reason == "OOMKilled", st.last_state


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_oversized_pod_stays_pending(cluster: Cluster, core: client.CoreV1Api, namespace: str) -> None:
    name = unique("giant")
    resources = {"requests": {"cpu": "64", "memory": "512Gi"}}
    spec = pod_spec(container(cluster.test_image, ["sleep", "infinity"], resources=resources))
    core.create_namespaced_pod(namespace, pod(name, spec))

    def unschedulable() -> client.V1Pod | Unmet:
        p = core.read_namespaced_pod(name, namespace)
        scheduled = condition(p.status.conditions, "PodScheduled")
        if scheduled is not None and scheduled.status == "False" and scheduled.reason == "Unschedulable":
            return p
        return Unmet((p.status.phase, scheduled))

    p = wait_for(unschedulable, timeout=60, what=f"{name} PodScheduled False/Unschedulable")
    assert p.status.phase == "Pending", p.status
    assert p.spec.node_name is None, p.spec.node_name

    wait_for_event(core, namespace, name, reason="FailedScheduling", message_contains="Insufficient")
