"""The cluster the labs run on: nodes, system add-ons, scheduling and cross-node Services, NetworkPolicy
enforced by the pod network.

What a learner uses to look inside workloads (logs, logs --previous, exec, top) is proven as the learner
in test_store_access.py.

The failures a learner meets (CrashLoopBackOff and `logs --previous`, OOMKilled, ImagePullBackOff, Pending
on requests, a node NotReady) are proven on the store's own workloads by the fault and lab tests
(symptoms.py), not again here on pods of the tests' own.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import pytest
from k8s import (
    NOT_ON_CONTROL_PLANE,
    Cluster,
    HttpOutcome,
    condition,
    deployment,
    http_get_from_pod,
    http_server,
    is_pod_ready,
    pod,
    pod_spec,
    service,
    service_url,
    sleeper,
    unique,
    wait_deployment_ready,
    wait_pod_ready,
)
from kubernetes import client
from waiting import Unmet, wait_for

# DaemonSets that run on every node, and Deployments that must be fully available.
SYSTEM_DAEMONSETS = ("kube-proxy", "kube-router")
SYSTEM_DEPLOYMENTS = ("coredns", "metrics-server")
CPU = re.compile(r"^\d+m?$")  # e.g. 1m, 0m, 2
MEMORY = re.compile(r"^\d+(Ki|Mi|Gi)?$")  # e.g. 14Mi
QUANTITY = re.compile(r"^\d+[num]?$")  # the metrics API's CPU, e.g. 121525740n (`top` shows it as 121m)


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_all_nodes_are_ready(cluster: Cluster, core: client.CoreV1Api) -> None:
    expected = {cluster.control_plane, *cluster.workers}
    assert len(cluster.workers) == 2, cluster.workers
    assert len(expected) == 3, expected

    def all_ready() -> dict[str, str | None] | Unmet:
        seen: dict[str, str | None] = {}
        for node in core.list_node().items:
            ready = condition(node.status.conditions, "Ready")
            seen[str(node.metadata.name)] = ready.status if ready else None
        if set(seen) == expected and all(s == "True" for s in seen.values()):
            return seen
        return Unmet(seen)

    wait_for(all_ready, timeout=120, interval=2, what=f"nodes {sorted(expected)} Ready")


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_kube_system_is_running_and_ready(cluster: Cluster, core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    node_count = 1 + len(cluster.workers)

    def system_ready() -> bool | Unmet:
        problems: list[str] = []
        for name in SYSTEM_DAEMONSETS:
            s = apps.read_namespaced_daemon_set(name, "kube-system").status
            if not (s.desired_number_scheduled == node_count and s.number_ready == node_count):
                problems.append(
                    f"daemonset {name}: {s.number_ready}/{s.desired_number_scheduled} ready, want {node_count}"
                )
        for name in SYSTEM_DEPLOYMENTS:
            d = apps.read_namespaced_deployment(name, "kube-system")
            want = d.spec.replicas or 0
            if want < 1 or d.status.ready_replicas != want:
                problems.append(f"deployment {name}: {d.status.ready_replicas}/{want} ready")
        for p in core.list_namespaced_pod("kube-system").items:
            if p.status.phase == "Succeeded":
                continue
            if not is_pod_ready(p):
                problems.append(f"pod {p.metadata.name}: phase {p.status.phase}, not Ready")
        return Unmet(problems) if problems else True

    wait_for(system_ready, timeout=180, interval=3, what="kube-system workloads Running and Ready")


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_top_nodes_reports_every_node(cluster: Cluster, api_client: client.ApiClient) -> None:
    """What `kubectl top nodes` reads: metrics-server's node metrics, for each of the store's three nodes."""
    expected = {cluster.control_plane, *cluster.workers}
    metrics = client.CustomObjectsApi(api_client)

    def every_node() -> dict[str, dict[str, str]] | Unmet:
        items = metrics.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
        usage = {str(i["metadata"]["name"]): dict(i.get("usage") or {}) for i in items}
        if set(usage) == expected and all(QUANTITY.match(u.get("cpu", "")) and MEMORY.match(u.get("memory", ""))
                                          for u in usage.values()):
            return usage
        return Unmet(usage)

    wait_for(every_node, timeout=150, interval=3, what=f"node metrics for {sorted(expected)}")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_deployment_spreads_over_both_workers(
    cluster: Cluster,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    name = unique("web")
    labels = {"app": name}
    spread: list[dict[str, Any]] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": labels},
            # Count only nodes the pod may run on: a tainted control plane with zero
            # replicas would otherwise cap each worker at one.
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Honor",
        }
    ]
    spec = pod_spec(http_server(cluster.test_image), affinity=NOT_ON_CONTROL_PLANE, spread=spread)
    apps.create_namespaced_deployment(namespace, deployment(name, 3, labels, spec))

    wait_deployment_ready(apps, namespace, name, 3, timeout=180)

    shown = cluster.kubectl("get", "deployment", name, "-n", namespace, "--no-headers")
    assert shown.stdout.split()[1] == "3/3", shown.stdout

    pods = [
        p
        for p in core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
        if p.metadata.deletion_timestamp is None
    ]
    assert len(pods) == 3, [p.metadata.name for p in pods]
    assert all(is_pod_ready(p) for p in pods)
    nodes = {str(p.spec.node_name) for p in pods}
    assert nodes == set(cluster.workers), f"pods on {sorted(nodes)}, want both workers"


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_cluster_ip_service_answers_across_nodes(
    cluster: Cluster,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    client_node, server_node = cluster.workers[0], cluster.workers[1]
    name = unique("web")
    labels = {"app": name}
    spec = pod_spec(http_server(cluster.test_image), node_selector={"kubernetes.io/hostname": server_node})
    apps.create_namespaced_deployment(namespace, deployment(name, 1, labels, spec))
    core.create_namespaced_service(namespace, service(name, labels))
    client_pod = unique("client")
    core.create_namespaced_pod(namespace, pod(client_pod, pod_spec(sleeper(cluster.test_image), node_name=client_node)))

    wait_deployment_ready(apps, namespace, name, 1)
    wait_pod_ready(core, namespace, client_pod)

    # By DNS name, so this also proves CoreDNS; polled, as endpoints and proxy rules
    # trail the pod becoming Ready by a moment.
    url = service_url(name, namespace)
    answer = wait_for(
        lambda: http_get_from_pod(cluster, namespace, client_pod, url),
        timeout=60,
        interval=2,
        what=f"HTTP 200 from {url} in pod {client_pod} on {client_node}",
    )

    served_by, served_on = answer.body.split()
    servers = core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
    assert served_by in {p.metadata.name for p in servers}, answer
    assert served_on == server_node, answer
    assert core.read_namespaced_pod(client_pod, namespace).spec.node_name == client_node
    assert served_on != client_node


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
