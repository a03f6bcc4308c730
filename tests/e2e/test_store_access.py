"""The learner's access and the audit trail, on a real cluster of their own.

This module does NOT use conftest's session `cluster` (3 nodes, no audit
log): it makes a 1-node cluster, `edgelab-e2e-access`, whose API server
writes the audit log into pytest's tmp folder, applies the learner's RBAC,
issues the learner's certificate and then runs the course's commands AS the
learner with our kubectl. It deletes the cluster at the end.

Decisions checked here (see manifests/rbac/learner.yaml):
- cluster-wide reads of the course's kinds (pods, deployments, replicasets,
  services, endpoints, endpointslices, events), so `get deploy -A` works as
  `get pods -A` does and shows byteedge-fleet's workloads and their events
  (accepted); nothing else of byteedge-fleet (configmaps, secrets, logs,
  exec), no fault CRs, no secret or configmap beyond the store's namespaces;
- secrets: `list` in store namespaces (`kubectl get secret -n pos`), no `get`
  of one secret;
- exec with get+create, remediations by patch (rollout undo/restart) and the
  scale subresource.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import prepared
import pytest
import yaml
from pytest_kind import KindCluster
from waiting import Unmet, time_limit, wait_for

from edgelab.kube import audit, faults, learner
from edgelab.kube import cluster as edgecluster
from edgelab.kube.nodes import NodeProvider

NAME = "edgelab-e2e-access"
HELLO = "import time; print('hello', flush=True); time.sleep(3600)"
CRASH = "print('boom', flush=True); raise SystemExit(1)"
RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}


def say(message: str) -> None:
    print(f"[edgelab] {message}", file=sys.__stderr__, flush=True)


@dataclass
class Access:
    admin: edgecluster.Kubectl
    learner: edgecluster.Kubectl
    node: str  # the control-plane node container, whose audit log is read with docker cp
    started: datetime
    user: str
    nodes: NodeProvider  # what runs the node (kind on Docker): `docker cp` goes through it

    def as_learner(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.learner(*args, timeout=timeout, check=False)

    def allowed(self, *args: str, timeout: float = 60) -> str:
        proc = self.as_learner(*args, timeout=timeout)
        assert proc.returncode == 0, f"learner `kubectl {' '.join(args)}` failed: {proc.stderr}"
        return proc.stdout

    def refused(self, *args: str) -> str:
        proc = self.as_learner(*args)
        assert proc.returncode != 0, f"learner `kubectl {' '.join(args)}` should be refused: {proc.stdout}"
        assert "forbidden" in proc.stderr.lower(), proc.stderr
        return proc.stderr

    def can_i(self, *args: str) -> bool:
        proc = self.as_learner("auth", "can-i", *args)
        assert proc.stdout.strip() in ("yes", "no"), (args, proc.stdout, proc.stderr)
        return proc.stdout.strip() == "yes"


def deployment(name: str, namespace: str, image: str, code: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "automountServiceAccountToken": False,
                    "containers": [{
                        "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                        "command": ["python3", "-c", code], "resources": RESOURCES,
                    }],
                },
            },
        },
    }


def objects(image: str) -> list[dict[str, Any]]:
    fault_crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "faults.edgelab.io"},
        "spec": {
            "group": "edgelab.io",
            "names": {"kind": "Fault", "plural": "faults", "singular": "fault"},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }
    namespaces = [*learner.STORE_NAMESPACES, learner.LAB_NAMESPACE]
    return [
        *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}} for ns in namespaces),
        fault_crd,
        deployment("pos-backend", "pos", image, HELLO),
        deployment("pos-crash", "pos", image, CRASH),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pos-backend-service", "namespace": "pos"},
         "spec": {"selector": {"app": "pos-backend"}, "ports": [{"port": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pos-config", "namespace": "pos"},
         "data": {"MODE": "store"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pos-db", "namespace": "pos"},
         "stringData": {"password": "pos-secret"}},
        deployment("lab-operator", learner.LAB_NAMESPACE, image, HELLO),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "lab-answers", "namespace": learner.LAB_NAMESPACE},
         "data": {"fault": "pos-crash"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "lab-token", "namespace": learner.LAB_NAMESPACE},
         "stringData": {"token": "lab-secret"}},
    ]


def a_fault() -> dict[str, Any]:
    """Applied once the CRD is served."""
    return {"apiVersion": "edgelab.io/v1alpha1", "kind": "Fault", "metadata": {"name": "pos-crash-fault",
            "namespace": learner.LAB_NAMESPACE}, "spec": {"type": "crashloop", "target": "pos/pos-crash"}}


def pod_of(k: edgecluster.Kubectl, namespace: str, app: str) -> str:
    """A Ready, not terminating pod of `app` (remediations replace pods)."""

    def ready() -> str | Unmet:
        items = json.loads(k("get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout)["items"]
        for item in items:
            conditions = item.get("status", {}).get("conditions") or []
            if not item["metadata"].get("deletionTimestamp") and any(
                c["type"] == "Ready" and c["status"] == "True" for c in conditions
            ):
                return str(item["metadata"]["name"])
        return Unmet([i["metadata"]["name"] for i in items])

    return wait_for(ready, timeout=120, interval=2, what=f"a ready {app} pod in {namespace}")


@pytest.fixture(scope="module")
def access(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Access]:
    artifacts = prepared.artifacts()
    work = tmp_path_factory.mktemp("access")
    host_dir = work / "audit"
    audit.prepare_host_dir(host_dir)
    # pytest-kind's KindCluster, handed our own kind, kubectl and node image (it would otherwise download
    # them, which fails without a registry), then finished by edgelab.kube.cluster.finish (network, metrics, image)
    kind = KindCluster(NAME, image=artifacts.node_image, kind_path=artifacts.kind, kubectl_path=artifacts.kubectl)
    spec = edgecluster.ClusterSpec(
        name=NAME,
        workers=0,
        node_image=artifacts.node_image,
        kind=artifacts.kind,
        kubectl=artifacts.kubectl,
        kubeconfig=kind.kubeconfig_path.resolve(),
        load_images=(artifacts.python_base_image,),
        config=audit.add_to_kind_config(edgecluster.kind_config(0), host_dir),
    )
    if edgecluster.exists(spec):  # left by an interrupted run, logging to an old tmp folder
        say(f"deleting stale cluster {NAME}")
        edgecluster.delete(spec)
    start = time.monotonic()
    try:
        with prepared.store_slot(f"cluster {NAME}"), time_limit(900, f"cluster {NAME} up"):
            kind.create(config_file=edgecluster.write_kind_config(spec.config, work / "kind.yaml"))
            edgecluster.finish(spec, say)
    except BaseException:
        kind.delete()
        raise
    say(f"cluster {NAME} ready in {time.monotonic() - start:.0f}s")
    try:
        admin = edgecluster.Kubectl(artifacts.kubectl, spec.kubeconfig)
        (work / "objects.yaml").write_text(yaml.safe_dump_all(objects(artifacts.python_base_image)))
        admin("apply", "-f", str(work / "objects.yaml"))
        faults.crd_established(admin)
        (work / "fault.yaml").write_text(yaml.safe_dump(a_fault()))
        admin("apply", "-f", str(work / "fault.yaml"))
        learner.apply_rbac(artifacts.kubectl, spec.kubeconfig)
        start = time.monotonic()
        out = learner.issue_learner(spec.kubeconfig, work / "learner.kubeconfig")
        say(f"learner certificate issued in {time.monotonic() - start:.1f}s")
        for ns, app in (("pos", "pos-backend"), (learner.LAB_NAMESPACE, "lab-operator")):
            admin("-n", ns, "rollout", "status", f"deployment/{app}", "--timeout=120s", timeout=130)
        yield Access(admin=admin, learner=edgecluster.Kubectl(artifacts.kubectl, out), node=f"{NAME}-control-plane",
                     started=datetime.now(UTC), user=learner.USER, nodes=edgecluster.nodes_of(spec))
    finally:
        kind.delete()


# --- who the learner is ---------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_learner_is_the_certificate_user_in_the_group(access: Access) -> None:
    who = json.loads(access.allowed("auth", "whoami", "-o", "json"))
    assert who["status"]["userInfo"]["username"] == learner.USER
    assert learner.GROUP in who["status"]["userInfo"]["groups"]
    config = yaml.safe_load(access.learner.kubeconfig.read_text())
    assert config["current-context"] == learner.CONTEXT
    assert access.learner.kubeconfig.stat().st_mode & 0o077 == 0


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_issuing_again_replaces_the_csr(access: Access, tmp_path: Path) -> None:
    artifacts = prepared.artifacts()
    again = learner.issue_learner(access.admin.kubeconfig, tmp_path / "again.kubeconfig")
    csrs = access.admin("get", "csr", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert csrs.count(learner.csr_name(learner.USER)) == 1, csrs
    proc = edgecluster.Kubectl(artifacts.kubectl, again)("auth", "whoami", check=False)
    assert proc.returncode == 0 and learner.USER in proc.stdout, proc.stderr


# --- what the course's commands need ------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_course_reads_work(access: Access) -> None:
    pos_pod = pod_of(access.admin, "pos", "pos-backend")
    lab_pod = pod_of(access.admin, learner.LAB_NAMESPACE, "lab-operator")
    assert "control-plane" in access.allowed("get", "nodes")
    every = access.allowed("get", "pods", "--all-namespaces")
    assert pos_pod in every and "coredns" in every
    assert lab_pod in every  # accepted: the lab's pods are seen to exist
    assert pos_pod in access.allowed("get", "pods", "-n", "pos")
    assert pos_pod in access.allowed("get", "pods", "-l", "app=pos-backend", "-n", "pos")
    assert "Events:" in access.allowed("describe", "pod", pos_pod, "-n", "pos")
    access.allowed("get", "events", "-n", "pos", "--sort-by=.lastTimestamp")
    assert "hello" in access.allowed("logs", pos_pod, "-n", "pos")
    assert "hello" in access.allowed("logs", "deploy/pos-backend", "-n", "pos")
    assert "pos-backend-service" in access.allowed("get", "svc", "-n", "pos")
    assert "Endpoints:" in access.allowed("describe", "svc", "pos-backend-service", "-n", "pos")
    assert "pos-backend-service" in access.allowed("get", "endpoints", "pos-backend-service", "-n", "pos")
    out = access.allowed("get", "deploy,rs", "-n", "pos")
    assert "deployment.apps/pos-backend" in out and "replicaset.apps/pos-backend-" in out
    assert "1/1" in access.allowed("get", "deployment", "pos-backend", "-n", "pos")
    assert "REVISION" in access.allowed("rollout", "history", "deployment/pos-backend", "-n", "pos")
    assert "pos-config" in access.allowed("get", "configmap", "-n", "pos")
    assert "pos-db" in access.allowed("get", "secret", "-n", "pos")
    access.allowed("get", "all", "-n", "pos")
    # ... and across namespaces, as responders type them
    out = access.allowed("get", "deployments", "-A")
    assert "pos-backend" in out and "coredns" in out
    out = access.allowed("get", "rs", "-A")
    assert "pos-backend-" in out and "coredns-" in out
    out = access.allowed("get", "svc", "-A")
    assert "pos-backend-service" in out and "kube-dns" in out
    out = access.allowed("get", "endpoints", "-A")
    assert "pos-backend-service" in out and "kube-dns" in out
    assert "pos-backend-service-" in access.allowed("get", "endpointslices", "-A")
    out = access.allowed("get", "events", "-A", "--sort-by=.lastTimestamp")
    assert {"pos", "kube-system"} <= {line.split()[0] for line in out.splitlines()[1:]}, out[-2000:]
    access.allowed("events", "-A")
    assert "kube-dns" in access.allowed("get", "deploy,rs,svc,endpoints", "-A")
    assert "REVISION" in access.allowed("rollout", "history", "deployment/coredns", "-n", "kube-system")
    assert "Endpoints:" in access.allowed("describe", "svc", "kube-dns", "-n", "kube-system")
    assert "Events:" in access.allowed("describe", "deployment", "coredns", "-n", "kube-system")
    assert "Events:" in access.allowed("describe", "node", f"{NAME}-control-plane")
    for kind in ("pods", "deployments.apps", "replicasets.apps", "services", "endpoints",
                 "endpointslices.discovery.k8s.io", "events", "events.events.k8s.io"):
        for verb in ("get", "list", "watch"):
            assert access.can_i(verb, kind, "-A"), (verb, kind)
    # `auth can-i VERB pods/log` would ask about a pod named "log": subresources go in --subresource.
    for question in (("get", "pods", "--subresource=log"), ("watch", "pods"), ("list", "endpointslices.discovery.k8s.io"),
                     ("list", "events.events.k8s.io"), ("list", "controllerrevisions.apps"),
                     ("list", "networkpolicies.networking.k8s.io")):
        for ns in learner.STORE_NAMESPACES:
            assert access.can_i(*question, "-n", ns), (question, ns)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_logs_previous_of_a_crashed_container(access: Access) -> None:
    def restarted() -> str | Unmet:
        out = access.admin("get", "pods", "-n", "pos", "-l", "app=pos-crash", "-o", "json").stdout
        for item in json.loads(out)["items"]:
            statuses = item.get("status", {}).get("containerStatuses") or []
            # What `logs --previous` reads (the kubelet answers 400 until it is set).
            if statuses and statuses[0].get("lastState", {}).get("terminated", {}).get("containerID"):
                return str(item["metadata"]["name"])
        return Unmet([i.get("status", {}).get("containerStatuses") for i in json.loads(out)["items"]])

    pod = wait_for(restarted, timeout=120, interval=2, what="pos-crash restarted once (lastState.terminated)")

    # A container crashing at once races the kubelet's clean-up of dead containers ("unable to
    # retrieve container logs"); what matters is that the learner is allowed and, soon, gets them.
    def previous_logs() -> str | Unmet:
        proc = access.as_learner("logs", pod, "-n", "pos", "--previous")
        assert "forbidden" not in proc.stderr.lower(), proc.stderr
        return proc.stdout if proc.returncode == 0 and "boom" in proc.stdout else Unmet(proc.stdout + proc.stderr)

    wait_for(previous_logs, timeout=60, interval=2, what="`kubectl logs --previous` of pos-crash as the learner")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_exec_into_a_store_pod(access: Access) -> None:
    pod = pod_of(access.admin, "pos", "pos-backend")
    assert access.allowed("exec", pod, "-n", "pos", "--", "python3", "-c", "print('inside')").strip() == "inside"
    assert access.can_i("create", "pods", "--subresource=exec", "-n", "pos")
    assert access.can_i("get", "pods", "--subresource=exec", "-n", "pos")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_top_pods_and_nodes(access: Access) -> None:
    def top() -> str | Unmet:
        proc = access.as_learner("top", "pods", "-n", "pos")
        assert "forbidden" not in proc.stderr.lower(), proc.stderr
        return proc.stdout if proc.returncode == 0 and "pos-backend" in proc.stdout else Unmet(proc.stderr)

    wait_for(top, timeout=240, interval=5, what="`kubectl top pods -n pos` as the learner")
    access.allowed("top", "nodes")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_remediations(access: Access) -> None:
    access.allowed("rollout", "restart", "deployment/pos-backend", "-n", "pos")
    access.allowed("rollout", "status", "deployment/pos-backend", "-n", "pos", "--timeout=120s", timeout=130)
    assert "2 " in access.allowed("rollout", "history", "deployment/pos-backend", "-n", "pos")
    access.allowed("rollout", "undo", "deployment/pos-backend", "-n", "pos")
    access.allowed("rollout", "status", "deployment/pos-backend", "-n", "pos", "--timeout=120s", timeout=130)
    access.allowed("scale", "deployment/pos-backend", "--replicas=2", "-n", "pos")
    replicas = access.admin("get", "deploy", "pos-backend", "-n", "pos", "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "2"
    access.allowed("scale", "deployment/pos-backend", "--replicas=1", "-n", "pos")
    access.allowed("delete", "pod", pod_of(access.admin, "pos", "pos-backend"), "-n", "pos", "--wait=false")


# --- what stays closed ----------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_lab_machinery_is_closed(access: Access) -> None:
    lab = learner.LAB_NAMESPACE
    lab_pod = pod_of(access.admin, lab, "lab-operator")
    # Accepted (RBAC cannot filter a list): the course's kinds are read cluster-wide, so the lab's
    # workloads are seen to exist, as its pods are, and so are the events about them.
    assert "lab-operator" in access.allowed("get", "deployments", "-n", lab)
    access.allowed("get", "events", "-n", lab)
    # Nothing else of it.
    access.refused("get", "configmaps", "-n", lab)
    access.refused("get", "configmap", "lab-answers", "-n", lab)
    access.refused("get", "configmaps", "-A")
    access.refused("get", "secrets", "-n", lab)
    access.refused("get", "secret", "lab-token", "-n", lab)
    access.refused("get", "secrets", "-A")
    access.refused("logs", lab_pod, "-n", lab)
    access.refused("logs", "deploy/lab-operator", "-n", lab)
    access.refused("exec", lab_pod, "-n", lab, "--", "true")
    access.refused("top", "pods", "-n", lab)
    access.refused("get", "faults", "-A")
    access.refused("get", "faults", "-n", lab)
    access.refused("get", "fault", "pos-crash-fault", "-n", lab)
    access.refused("describe", "fault", "pos-crash-fault", "-n", lab)
    access.refused("get", "faults", "-n", "pos")
    access.refused("get", "crd")
    access.refused("get", "controllerrevisions", "-A")
    access.refused("get", "serviceaccounts,roles,rolebindings", "-n", lab)
    for args in (("get", "pods", "--subresource=log", "-n", lab), ("create", "pods", "--subresource=exec", "-n", lab),
                 ("get", "pods", "--subresource=exec", "-n", lab), ("list", "faults.edgelab.io", "-A"),
                 ("get", "faults.edgelab.io", "-n", lab), ("watch", "faults.edgelab.io", "-A"),
                 ("delete", "pods", "-n", lab), ("list", "configmaps", "-n", "kube-system"),
                 ("list", "configmaps", "-A"), ("get", "configmaps", "-n", lab), ("list", "secrets", "-A"),
                 ("get", "secrets", "-n", lab), ("get", "secrets", "-n", "kube-system"),
                 ("get", "pods", "--subresource=log", "-n", "kube-system"), ("list", "secrets", "-n", "default"),
                 ("get", "pods", "--subresource=log", "-A"), ("list", "controllerrevisions.apps", "-A"),
                 ("list", "daemonsets.apps", "-n", lab)):
        assert not access.can_i(*args), args
    # Events name a Fault only if something posts them: the operator does not (kopf's posting is off,
    # tests/e2e/test_operator_restarts.py checks it on a store with a fault injected).
    about = access.allowed("get", "events", "-A", "--field-selector", "involvedObject.kind=Fault", "-o", "name")
    assert about.strip() == "", about


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_reads_are_reads_across_namespaces(access: Access) -> None:
    """The cluster-wide reads add no write anywhere: writes stay what the store role grants, in its namespaces."""
    for ns in ("kube-system", learner.LAB_NAMESPACE, "default"):
        for args in (("patch", "deployments.apps"), ("update", "deployments.apps"), ("delete", "deployments.apps"),
                     ("patch", "deployments.apps", "--subresource=scale"), ("patch", "services"),
                     ("delete", "pods"), ("create", "events"), ("delete", "events"), ("patch", "replicasets.apps"),
                     ("update", "endpoints"), ("create", "endpointslices.discovery.k8s.io")):
            assert not access.can_i(*args, "-n", ns), (args, ns)
    access.refused("scale", "deployment/coredns", "--replicas=0", "-n", "kube-system")
    access.refused("rollout", "restart", "deployment/lab-operator", "-n", learner.LAB_NAMESPACE)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_no_escalation_or_destruction(access: Access) -> None:
    access.refused("delete", "namespace", "pos")
    access.refused("create", "clusterrolebinding", "me", "--clusterrole=cluster-admin", "--user=learner")
    access.refused("create", "rolebinding", "me", "--clusterrole=admin", "--user=learner", "-n", "pos")
    access.refused("delete", "deployment", "pos-backend", "-n", "pos")
    access.refused("run", "probe", "--image=edgelab/python-base:3.11", "-n", "pos")
    access.refused("get", "csr")
    for args in (("create", "pods", "-n", "pos"), ("create", "deployments", "-n", "pos"),
                 ("patch", "deployments", "-n", learner.LAB_NAMESPACE), ("impersonate", "users"),
                 ("get", "nodes", "--subresource=proxy"),
                 ("create", "serviceaccounts", "--subresource=token", "-n", "pos"),
                 ("update", "configmaps", "-n", "pos"), ("escalate", "clusterroles"), ("bind", "clusterroles")):
        assert not access.can_i(*args), args


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_one_secret_is_not_readable_by_name(access: Access) -> None:
    # Decision: `list` (the course's `kubectl get secret -n pos`), not `get`.
    access.refused("get", "secret", "pos-db", "-n", "pos", "-o", "yaml")
    assert access.can_i("list", "secrets", "-n", "pos")
    assert not access.can_i("get", "secrets", "-n", "pos")


# --- the audit trail ------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_learner_requests_are_in_the_audit_log(access: Access) -> None:
    pos_pod = pod_of(access.admin, "pos", "pos-backend")
    access.as_learner("logs", pos_pod, "-n", "pos", "--previous")  # refused or not: it is logged
    access.allowed("exec", pos_pod, "-n", "pos", "--", "true")
    access.as_learner("get", "secrets", "-n", learner.LAB_NAMESPACE)

    def logged() -> list[dict[str, Any]] | Unmet:
        events = audit.read_node_events(access.nodes, access.node, since=access.started, user=access.user)
        lines = [audit.describe(e) for e in events]
        # kubectl 1.34 execs over WebSocket first (a `get`); SPDY would be a `create`.
        wanted = (f"get pods/log pos/{pos_pod}?container=app&previous=true", f"pods/exec pos/{pos_pod}?command=true",
                  f"list secrets {learner.LAB_NAMESPACE} (403)")
        return events if all(any(w in line for line in lines) for w in wanted) else Unmet(lines[-20:])

    events = wait_for(logged, timeout=30, interval=1, what="the learner's requests in the audit log")
    assert all(audit.username(e) == access.user for e in events)
    assert all(learner.GROUP in e["user"]["groups"] for e in events)
    previous = [e for e in events if (e.get("objectRef") or {}).get("subresource") == "log"
                and "previous=true" in e["requestURI"]]
    assert previous and all(e["stage"] == "ResponseComplete" for e in previous)
    execs = [e for e in events if (e.get("objectRef") or {}).get("subresource") == "exec"]
    assert execs and all(e["verb"] in ("get", "create") for e in execs)
    # One clean event per exec in a store namespace (get+create granted), a 403 in the lab's.
    for e in execs:
        refused = e["objectRef"]["namespace"] == learner.LAB_NAMESPACE
        assert (e["responseStatus"]["code"] == 403) == refused, audit.describe(e)
    refused = [e for e in events if audit.describe(e) == f"list secrets {learner.LAB_NAMESPACE} (403)"]
    assert refused[0]["annotations"]["authorization.k8s.io/decision"] == "forbid"
    assert len({e["auditID"] for e in events}) == len(events)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_cluster_noise_is_not_logged(access: Access) -> None:
    events = audit.read_node_events(access.nodes, access.node)
    assert events, "the audit log is empty"
    users = {audit.username(e) for e in events}
    assert "kubernetes-admin" in users
    noisy = {u for u in users if u.startswith(("system:node:", "system:serviceaccount:kube-system:"))}
    noisy |= users & {"system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"}
    assert not noisy
    assert not [e for e in events if (e.get("objectRef") or {}).get("resource") == "leases"
                and audit.username(e) != access.user]
    assert not [e for e in events if e.get("requestURI", "").startswith(("/healthz", "/readyz", "/livez"))
                and audit.username(e) != access.user]
