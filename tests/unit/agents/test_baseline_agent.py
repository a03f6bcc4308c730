"""The baseline agent's decisions (agents/baseline.py), on small hand-made kubectl JSON and log lines.

Only its pure functions: what it saw (an `Observations`) -> its findings. No cluster, no kubectl.
The findings it writes must be gradeable (grading.parse_findings) and use the course's vocabulary.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from unitpaths import REPO

from edgelab.labs import grading, vocab

AGENT = REPO / "agents" / "baseline.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_agent", AGENT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bl = _load()
SINCE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


# --- hand-made kubectl JSON ------------------------------------------------------------------------------------


def deployment(name: str, replicas: int, manifest: int | None = None, app: str | None = None) -> dict[str, Any]:
    annotations = {}
    if manifest is not None:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps({"spec": {"replicas": manifest}})
    return {"metadata": {"name": name, "annotations": annotations},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": app or name}}}}}


def replicaset(workload: str, hash_: str, rev: int, image: str = "byteedge/x:1.0", env: list[Any] | None = None,
               resources: dict[str, Any] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": workload, "image": image, "env": env or [], "resources": resources or {}}
    return {"metadata": {"name": f"{workload}-{hash_}", "labels": {"pod-template-hash": hash_},
                         "annotations": {"deployment.kubernetes.io/revision": str(rev)}},
            "spec": {"template": {"spec": {"containers": [c]}}}}


def pod(name: str, hash_: str = "abc12345", *, is_ready: bool = True, restart_count: int = 0, waiting: str = "",
        last: str = "", cpu_limit: str = "200m", image: str = "byteedge/x:1.0", pull_secrets: list[str] | None = None,
        pending: bool = False, app: str | None = None, volumes: list[Any] | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    status: dict[str, Any] = {"phase": "Pending" if pending or waiting == "ContainerCreating" else "Running",
                              "containerStatuses": [] if pending else [{
                                  "name": "c", "ready": is_ready, "restartCount": restart_count, "state": state,
                                  "lastState": {"terminated": {"reason": last}} if last else {}}]}
    if pending:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": image, "resources": {"limits": {"cpu": cpu_limit}}}],
                            "volumes": volumes or []}
    if pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in pull_secrets]
    return {"metadata": {"name": name, "labels": {"app": app or name.rsplit("-", 2)[0], "pod-template-hash": hash_}},
            "spec": spec, "status": status}


def service(name: str, app: str, port: int = 80) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"selector": {"app": app}, "ports": [{"port": port}]}}


def endpoints(name: str, addresses: int) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(addresses)]}] if addresses else []}


def event(obj: str, message: str, reason: str = "Failed", kind: str = "Pod") -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": obj}, "reason": reason, "message": message,
            "lastTimestamp": "2026-11-30T12:00:05Z", "type": "Warning"}


def healthy_store() -> Any:
    """pos-backend 3/3, payment-processor 2/2, order-service 2/2, with their Services and endpoints."""
    obs = bl.Observations(since=SINCE)
    layout = {"pos": ("pos-backend", "pos-backend-service", 3), "payment": ("payment-processor", "payment-service", 2),
              "order": ("order-service", "order-service", 2)}
    for ns in bl.STORE_NAMESPACES:
        for d in (obs.pods, obs.deployments, obs.replicasets, obs.services, obs.endpoints, obs.events):
            d[ns] = []
        obs.top[ns] = {}
    for ns, (workload, svc, n) in layout.items():
        obs.deployments[ns] = [deployment(workload, n, n)]
        obs.replicasets[ns] = [replicaset(workload, "abc12345", 1)]
        obs.pods[ns] = [pod(f"{workload}-abc12345-p{i}", volumes=[{"name": "config", "configMap": {
            "name": f"{ns}-config"}}]) for i in range(n)]
        obs.services[ns] = [service(svc, workload)]
        obs.endpoints[ns] = [endpoints(svc, n)]
        obs.top[ns] = {f"{workload}-abc12345-p{i}": (5, 20) for i in range(n)}
    return obs


def gradeable(finding: Any) -> grading.Answer:
    """The findings file the agent writes, read back as `lab submit --findings` reads it."""
    return grading.parse_findings(finding.as_yaml())


# --- the store looks fine ---------------------------------------------------------------------------------------


def test_a_healthy_store_has_no_finding() -> None:
    assert bl.classify(healthy_store()) is None


# --- one case per rule ------------------------------------------------------------------------------------------


def test_a_dependency_scaled_to_zero_is_found_from_its_callers_and_scaled_back_to_the_manifest() -> None:
    obs = healthy_store()
    obs.deployments["payment"] = [deployment("payment-processor", 0, manifest=2)]
    obs.pods["payment"] = []
    obs.endpoints["payment"] = [endpoints("payment-service", 0)]
    obs.pods["pos"] = [pod(f"pos-backend-abc12345-p{i}", is_ready=False) for i in range(3)]
    line = ("2026-11-30T12:00:10.000Z ERROR health: payment at http://payment-service.payment.svc.cluster.local "
            "is unreachable: connection refused by payment-service.payment.svc.cluster.local:80; not ready")
    obs.logs["pos/pos-backend-abc12345-p0"] = [line]
    obs.events["payment"] = [event("payment-processor", "Scaled down replica set payment-processor-abc12345 from 2 "
                                   "to 0", "ScalingReplicaSet", "Deployment")]
    obs.printed.append("payment-processor   0/0     0            0           5m")

    finding = bl.classify(obs)
    assert (finding.namespace, finding.workload, finding.pod_state, finding.root_cause) == (
        "payment", "payment-processor", "NoPods", "dependency-down")
    assert finding.evidence[0] == line and "payment-processor   0/0     0            0           5m" in finding.evidence
    assert finding.fix == ("scale", "deployment/payment-processor", "-n", "payment", "--replicas=2")
    assert bl.trails(obs) == [("payment", "payment-service")]
    answer = gradeable(finding)
    assert answer.root_cause == "dependency-down" and answer.evidence[0] == line


def test_a_deployment_scaled_to_zero_without_a_manifest_count_is_not_touched() -> None:
    obs = healthy_store()
    obs.deployments["order"] = [deployment("order-service", 0)]  # no last-applied replicas: nothing to go back to
    obs.pods["order"] = []
    assert bl.classify(obs) is None


@pytest.mark.parametrize(("said", "cause"), [
    ("ERROR config: required secret 'db_password' missing (no file /etc/byteedge/secrets/db_password)",
     "missing-secret"),
    ("ERROR config: required setting 'database_url' missing (no file /etc/byteedge/config/database_url)",
     "missing-config-key"),
])
def test_a_crash_loop_is_named_by_the_previous_containers_last_words(said: str, cause: str) -> None:
    obs = healthy_store()
    obs.pods["order"] = [pod("order-service-abc12345-p0", is_ready=False, restart_count=4, waiting="CrashLoopBackOff",
                             last="Error")]
    obs.previous_logs["order/order-service-abc12345-p0"] = [
        "2026-11-30T12:00:01.000Z INFO  main: order-service starting", f"2026-11-30T12:00:01.100Z {said}",
        "2026-11-30T12:00:01.101Z ERROR main: order-service cannot start: 1 configuration problem(s)"]
    finding = bl.classify(obs)
    assert (finding.workload, finding.pod_state, finding.root_cause) == ("order-service", "CrashLoopBackOff", cause)
    assert said in finding.evidence[0] and not finding.fix
    assert gradeable(finding).root_cause == cause


def test_a_new_release_that_crashes_is_an_application_bug_and_is_rolled_back() -> None:
    obs = healthy_store()
    obs.replicasets["pos"] = [replicaset("pos-backend", "abc12345", 1),
                              replicaset("pos-backend", "new98765", 2, image="byteedge/x:2.0",
                                         env=[{"name": "LOG_LEVEL", "value": "verbose"}])]
    obs.pods["pos"].append(pod("pos-backend-new98765-q1", "new98765", is_ready=False, restart_count=3,
                               waiting="CrashLoopBackOff", last="Error"))
    obs.previous_logs["pos/pos-backend-new98765-q1"] = [
        "2026-11-30T12:00:01Z ERROR config: setting 'log_level' must be one of debug, info, warning, error, got 'verbose'"]
    finding = bl.classify(obs)
    assert (finding.workload, finding.root_cause) == ("pos-backend", "application-bug")
    assert finding.fix == ("rollout", "undo", "deployment/pos-backend", "-n", "pos")


def test_a_new_release_never_ready_while_the_old_pods_serve_is_a_bad_rollout() -> None:
    obs = healthy_store()
    obs.replicasets["pos"] = [replicaset("pos-backend", "abc12345", 1),
                              replicaset("pos-backend", "new98765", 2, image="byteedge/pos-backend:2.5.0")]
    obs.pods["pos"].append(pod("pos-backend-new98765-q1", "new98765", is_ready=False))
    line = ("2026-11-30T12:00:09Z ERROR health: payment at http://payment-gateway.payment.svc.cluster.local is "
            "unreachable: cannot resolve host payment-gateway.payment.svc.cluster.local")
    obs.logs["pos/pos-backend-new98765-q1"] = [line]
    finding = bl.classify(obs)
    assert (finding.workload, finding.pod_state, finding.root_cause) == ("pos-backend", "NotReady", "bad-rollout")
    assert finding.evidence == (line,) and finding.fix[:2] == ("rollout", "undo")


@pytest.mark.parametrize(("messages", "cause"), [
    (["0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available"], "insufficient-resources"),
    (["0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."], "node-selector-mismatch"),
])
def test_a_pending_pod_is_explained_by_its_scheduling_event(messages: list[str], cause: str) -> None:
    obs = healthy_store()
    obs.pods["payment"].append(pod("payment-processor-new98765-q1", "new98765", pending=True))
    obs.events["payment"] = [event("payment-processor-new98765-q1", m, "FailedScheduling") for m in messages]
    finding = bl.classify(obs)
    assert (finding.workload, finding.pod_state, finding.root_cause) == ("payment-processor", "Pending", cause)
    assert finding.evidence[0] == messages[0]


def test_a_mount_of_a_deleted_configmap_is_a_missing_configmap() -> None:
    obs = healthy_store()
    obs.pods["payment"] = [pod("payment-processor-abc12345-p0", is_ready=False, waiting="ContainerCreating")]
    message = 'MountVolume.SetUp failed for volume "config" : configmap "payment-config" not found'
    obs.events["payment"] = [event("payment-processor-abc12345-p0", message, "FailedMount")]
    finding = bl.classify(obs)
    assert (finding.pod_state, finding.root_cause, finding.evidence) == ("ContainerCreating", "missing-configmap",
                                                                          (message,))
    assert finding.confirm == (("get", "configmap", "payment-config", "-n", "payment"),)


def _pull_failure(image: str, secrets: list[str] | None = None) -> Any:
    obs = healthy_store()
    obs.replicasets["order"] = [replicaset("order-service", "abc12345", 1, image="byteedge/order-service:1.7.3"),
                                replicaset("order-service", "new98765", 2, image=image)]
    obs.pods["order"].append(pod("order-service-new98765-q1", "new98765", is_ready=False, waiting="ImagePullBackOff",
                                 image=image, pull_secrets=secrets))
    obs.events["order"] = [event("order-service-new98765-q1", f'Failed to pull image "{image}": not found')]
    if secrets:
        obs.events["order"].insert(0, event("order-service-new98765-q1", "Unable to retrieve some image pull secrets "
                                             "(byteedge-registry); attempting to pull the image may not succeed."))
        obs.secrets["order"] = ["order-secret"]
    return obs


@pytest.mark.parametrize(("image", "secrets", "cause"), [
    ("byteedge/order-service:1.7.31", None, "image-typo"),
    ("registry.byteedge.internal/byteedge/order-service:1.7.3", None, "registry-unreachable"),
    ("registry.byteedge.internal/byteedge/order-service:1.7.3", ["byteedge-registry"], "missing-pull-credentials"),
])
def test_an_image_that_cannot_be_pulled_is_told_apart_by_what_the_release_changed(
        image: str, secrets: list[str] | None, cause: str) -> None:
    finding = bl.classify(_pull_failure(image, secrets))
    assert (finding.workload, finding.pod_state, finding.root_cause) == ("order-service", "ImagePullBackOff", cause)
    assert image in " ".join(finding.evidence) or "byteedge-registry" in finding.evidence[0]


def test_oom_kills_after_a_release_that_cut_memory_are_a_limit_too_low() -> None:
    obs = healthy_store()
    obs.replicasets["order"] = [
        replicaset("order-service", "abc12345", 1, resources={"limits": {"memory": "96Mi"}}),
        replicaset("order-service", "new98765", 2, resources={"limits": {"memory": "24Mi"}})]
    obs.pods["order"] = [pod("order-service-new98765-q1", "new98765", is_ready=False, restart_count=2,
                             waiting="CrashLoopBackOff", last="OOMKilled")]
    obs.printed += ["Reason:       OOMKilled", "memory:  24Mi"]
    finding = bl.classify(obs)
    assert (finding.pod_state, finding.root_cause) == ("CrashLoopBackOff", "memory-limit-too-low")
    assert finding.evidence == ("Reason:       OOMKilled", "memory:  24Mi")


def test_a_cache_that_never_evicts_is_a_memory_leak() -> None:
    obs = healthy_store()
    obs.logs["pos/pos-backend-abc12345-p0"] = [
        "2026-11-30T12:01:00Z INFO  receipts: render cache: 900 entries, 40.1 MiB, 0 evicted in the last minute",
        "2026-11-30T12:02:00Z INFO  receipts: render cache: 1800 entries, 80.3 MiB, 0 evicted in the last minute"]
    finding = bl.classify(obs)
    assert (finding.workload, finding.root_cause) == ("pos-backend", "memory-leak")
    assert finding.evidence[0].endswith("900 entries, 40.1 MiB, 0 evicted in the last minute")


def test_a_pod_at_its_cpu_limit_that_counts_its_work_is_an_infinite_loop() -> None:
    obs = healthy_store()
    obs.top["payment"]["payment-processor-abc12345-p0"] = (198, 14)
    line = "2026-11-30T12:01:00Z INFO  fraud: rule set recompiled 9853 times in the last minute (900 rules)"
    obs.logs["payment/payment-processor-abc12345-p0"] = [line]
    obs.printed.append("payment-processor-abc12345-p0   198m   14Mi")
    finding = bl.classify(obs)
    assert (finding.workload, finding.pod_state, finding.root_cause) == ("payment-processor", "Running",
                                                                         "infinite-loop")
    assert finding.evidence == (line, "payment-processor-abc12345-p0   198m   14Mi")


def test_a_pod_at_a_cpu_limit_a_release_cut_is_a_limit_too_low() -> None:
    obs = healthy_store()
    obs.replicasets["payment"] = [
        replicaset("payment-processor", "abc12345", 1, resources={"limits": {"cpu": "200m"}}),
        replicaset("payment-processor", "new98765", 2, resources={"limits": {"cpu": "5m"}})]
    obs.pods["payment"] = [pod("payment-processor-new98765-q1", "new98765", cpu_limit="5m", is_ready=False)]
    obs.top["payment"] = {"payment-processor-new98765-q1": (5, 9)}
    obs.printed += ["cpu:     5m", "payment-processor-new98765-q1   5m   9Mi"]
    finding = bl.classify(obs)
    assert (finding.pod_state, finding.root_cause) == ("NotReady", "cpu-limit-too-low")
    assert finding.evidence == ("cpu:     5m", "payment-processor-new98765-q1   5m   9Mi")
    assert not finding.fix  # the course has no learner fix for limits: report, do not touch


@pytest.mark.parametrize("top_m, unhealthy, found", [
    (3, False, True),  # a host short of CPU holds the pod at 3m of its cut 5m limit
    (1, True, True),  # below even that, but its probes time out
    (1, False, False),  # nothing says the cut costs anything: no finding yet, look again
])
def test_a_release_cut_limit_on_a_host_short_of_cpu(top_m: int, unhealthy: bool, found: bool) -> None:
    obs = healthy_store()
    obs.replicasets["payment"] = [
        replicaset("payment-processor", "abc12345", 1, resources={"limits": {"cpu": "200m"}}),
        replicaset("payment-processor", "new98765", 2, resources={"limits": {"cpu": "5m"}})]
    obs.pods["payment"] = [pod("payment-processor-new98765-q1", "new98765", cpu_limit="5m")]
    obs.top["payment"] = {"payment-processor-new98765-q1": (top_m, 9)}
    if unhealthy:
        obs.events["payment"] = [{"reason": "Unhealthy", "involvedObject": {"name": "payment-processor-new98765-q1"},
                                  "message": "Readiness probe failed: Get \"http://10.244.0.9:8080/ready\": "
                                             "context deadline exceeded (Client.Timeout exceeded)"}]
    finding = bl.classify(obs)
    assert (finding is not None and finding.root_cause) == ("cpu-limit-too-low" if found else False)


def test_a_cut_limits_pod_still_being_created_is_judged_on_the_next_look() -> None:
    """Seen in CI: the pod list showed the new release's pod ContainerCreating, `top` a moment later its 9m; the
    finding named the state 'ContainerCreating'. Neither it nor the old release's pod (whose limit was not cut)
    is evidence yet: no finding, and the agent looks again."""
    obs = healthy_store()
    obs.replicasets["payment"] = [
        replicaset("payment-processor", "abc12345", 1, resources={"limits": {"cpu": "200m"}}),
        replicaset("payment-processor", "new98765", 2, resources={"limits": {"cpu": "5m"}})]
    obs.pods["payment"] = [pod("payment-processor-abc12345-p0"),
                           pod("payment-processor-new98765-q1", "new98765", cpu_limit="5m", is_ready=False,
                               waiting="ContainerCreating")]
    obs.top["payment"] = {"payment-processor-abc12345-p0": (4, 14), "payment-processor-new98765-q1": (9, 5)}
    obs.events["payment"] = [{"reason": "Unhealthy", "involvedObject": {"name": "payment-processor-abc12345-p0"},
                              "message": "Readiness probe failed: context deadline exceeded (Client.Timeout exceeded)"}]
    assert bl.classify(obs) is None
    obs.pods["payment"][1] = pod("payment-processor-new98765-q1", "new98765", cpu_limit="5m", is_ready=False)
    finding = bl.classify(obs)
    assert finding is not None and (finding.pod_state, finding.root_cause) == ("NotReady", "cpu-limit-too-low")


def test_a_pod_below_its_unchanged_limit_is_not_held_by_it() -> None:
    obs = healthy_store()
    obs.top["payment"]["payment-processor-abc12345-p0"] = (120, 14)
    assert bl.classify(obs) is None


def test_a_busy_pod_on_its_manifests_limit_is_not_a_limit_cut_even_after_other_releases() -> None:
    """The revision in effect is compared with the store's manifest: an earlier release, since reverted, is no
    cause. Busy at the manifest's limit with no count of repeated work in the logs yet: not concluded."""
    obs = healthy_store()
    manifest = {"spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "payment-processor", "image": "byteedge/x:1.0", "resources": {"limits": {"cpu": "200m"}}}]}}}}
    obs.deployments["payment"][0]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(manifest)}
    obs.replicasets["payment"] = [
        replicaset("payment-processor", "big00000", 4, resources={"limits": {"cpu": "4"}}),
        replicaset("payment-processor", "abc12345", 5, resources={"limits": {"cpu": "200m"}})]
    obs.top["payment"]["payment-processor-abc12345-p0"] = (196, 14)
    assert bl.release_change(obs, "payment", "payment-processor") == {}
    assert bl.classify(obs) is None


def test_requests_waiting_for_a_connection_are_an_exhausted_pool() -> None:
    obs = healthy_store()
    line = ("2026-11-30T12:00:30Z WARN  db: waited 1787 ms for a connection for an authorisation "
            "(pool_size=1, in_use=1, waiting=0)")
    obs.logs["payment/payment-processor-abc12345-p0"] = ["2026-11-30T12:00:29Z INFO  orders: ok", line]
    finding = bl.classify(obs)
    assert (finding.workload, finding.pod_state, finding.root_cause, finding.evidence) == (
        "payment-processor", "Running", "db-pool-exhausted", (line,))


def test_a_dependency_asked_on_a_port_its_service_does_not_have_is_a_bad_config_change() -> None:
    obs = healthy_store()
    obs.pods["pos"] = [pod(f"pos-backend-abc12345-p{i}", is_ready=False) for i in range(3)]
    line = ("2026-11-30T12:00:10Z ERROR health: payment at http://payment-service.payment.svc.cluster.local:8080 is "
            "unreachable: connection refused by payment-service.payment.svc.cluster.local:8080; not ready")
    obs.logs["pos/pos-backend-abc12345-p1"] = [line]
    finding = bl.classify(obs)
    assert (finding.namespace, finding.workload, finding.pod_state, finding.root_cause, finding.evidence) == (
        "pos", "pos-backend", "NotReady", "bad-config-change", (line,))


def test_ready_pods_behind_a_service_that_selects_nothing_are_a_selector_mismatch() -> None:
    obs = healthy_store()
    obs.services["order"] = [{"metadata": {"name": "order-service", "labels": {"app": "order-service"}},
                              "spec": {"selector": {"app": "order-service-api"}, "ports": [{"port": 80}]}}]
    obs.endpoints["order"] = [endpoints("order-service", 0)]
    obs.printed.append("Selector:          app=order-service-api")
    finding = bl.classify(obs)
    assert (finding.namespace, finding.workload, finding.pod_state, finding.root_cause) == (
        "order", "order-service", "Running", "selector-mismatch")
    assert finding.evidence == ("Selector:          app=order-service-api",)


def test_callers_cut_off_from_ready_pods_by_a_network_policy() -> None:
    obs = healthy_store()
    line = ("2026-11-30T12:00:10Z ERROR health: order at http://order-service.order.svc.cluster.local is "
            "unreachable: no answer from order-service.order.svc.cluster.local:80 within 2000 ms; not ready")
    obs.logs["pos/pos-backend-abc12345-p0"] = [line]
    obs.network_policies["order"] = ["order-ingress"]
    finding = bl.classify(obs)
    assert (finding.namespace, finding.workload, finding.root_cause) == ("order", "order-service", "network-policy")
    assert finding.evidence[0] == line


def test_every_rule_answers_in_the_course_vocabulary() -> None:
    """Root causes and pod states the rules can write are canonical values of harness/edgelab/labs/vocab.py."""
    source = AGENT.read_text()
    import re

    causes = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', source)) & set(vocab.ROOT_CAUSES)
    assert len(causes) >= 15
    for state in ("NoPods", "Pending", "ContainerCreating", "CrashLoopBackOff", "OOMKilled", "Running", "NotReady",
                  "Error"):
        assert vocab.pod_state(state) == state


# --- parsing kubectl's text ---------------------------------------------------------------------------------------


def test_logs_before_the_agent_started_are_old_news() -> None:
    text = ("2026-11-30T11:59:59.900000000Z 2026-11-30T11:59:59.899Z WARN  health: payment did not answer\n"
            "2026-11-30T12:00:00.100000000Z 2026-11-30T12:00:00.099Z ERROR health: order is unreachable\n")
    assert bl.parse_log(text, SINCE) == ["2026-11-30T12:00:00.099Z ERROR health: order is unreachable"]
    assert len(bl.parse_log(text, None)) == 2


def test_top_rows_are_read_as_millicores_and_mebibytes() -> None:
    text = "payment-processor-abc-1   196m   14Mi\npayment-processor-abc-2   3m   12Mi\n"
    assert bl.parse_top(text) == {"payment-processor-abc-1": (196, 14), "payment-processor-abc-2": (3, 12)}


def test_the_time_budget_leaves_room_under_the_runs_limit() -> None:
    assert bl.budget({}) == bl.DEFAULT_BUDGET
    assert bl.budget({"EDGELAB_TIME_LIMIT": "600"}) == 555
    assert bl.budget({"EDGELAB_TIME_LIMIT": ""}) == bl.DEFAULT_BUDGET


def test_the_agent_reads_the_store_only() -> None:
    """No lab file, no $EDGELAB_LAB, no third-party import: it decides from what kubectl shows."""
    source = AGENT.read_text()
    assert "EDGELAB_LAB" not in source and "labs/" not in source and ".yaml" not in source
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and not line.startswith("from __future__")}
    assert imports <= set(sys.stdlib_module_names), imports - set(sys.stdlib_module_names)


def test_an_earlier_incidents_events_do_not_explain_a_new_pod() -> None:
    """A pod just created (ContainerCreating for a moment) is not missing the ConfigMap an older pod missed."""
    obs = healthy_store()
    obs.pods["order"].append(pod("order-service-new98765-q1", "new98765", is_ready=False, waiting="ContainerCreating"))
    obs.events["order"] = [event("order-service-abc12345-old00", 'MountVolume.SetUp failed for volume "config" : '
                                 'configmap "order-config" not found', "FailedMount")]
    assert bl.classify(obs) is None
