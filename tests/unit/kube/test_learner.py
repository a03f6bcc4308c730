"""The learner's RBAC manifest, CSR naming and kubeconfig writing (no cluster)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgelab.base.errors import ClusterError
from edgelab.kube import learner


def docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(learner.RBAC.read_text()) if d]


def role(name: str) -> dict[str, Any]:
    (found,) = [d for d in docs() if d["kind"] == "ClusterRole" and d["metadata"]["name"] == name]
    return found


def allows(rules: list[dict[str, Any]], verb: str, group: str, resource: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


STORE = role("byteedge:incident-manager:store")["rules"]
CLUSTER = role("byteedge:incident-manager:cluster")["rules"]


def test_only_roles_and_bindings_for_the_group() -> None:
    kinds = {d["kind"] for d in docs()}
    assert kinds == {"ClusterRole", "ClusterRoleBinding", "RoleBinding"}
    for d in docs():
        if d["kind"] != "ClusterRole":
            assert d["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": learner.GROUP}]


def test_store_role_is_bound_in_each_store_namespace_and_nowhere_else() -> None:
    bindings = [d for d in docs() if d["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(learner.STORE_NAMESPACES)
    assert {b["roleRef"]["name"] for b in bindings} == {"byteedge:incident-manager:store"}
    assert all(d["metadata"].get("namespace") != learner.LAB_NAMESPACE for d in docs())


def test_cluster_binding_grants_only_the_cluster_role() -> None:
    (binding,) = [d for d in docs() if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == "byteedge:incident-manager:cluster"


def test_no_wildcards_and_no_dangerous_verbs() -> None:
    for rule in STORE + CLUSTER:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule
        assert "resourceNames" not in rule


@pytest.mark.parametrize(
    ("verb", "group", "resource"),
    [
        ("list", "", "pods"), ("get", "", "pods/log"), ("list", "", "events"), ("list", "events.k8s.io", "events"),
        ("get", "", "endpoints"), ("list", "discovery.k8s.io", "endpointslices"), ("list", "", "services"),
        ("list", "apps", "deployments"), ("list", "apps", "replicasets"), ("list", "apps", "controllerrevisions"),
        ("list", "", "configmaps"), ("list", "", "secrets"), ("list", "metrics.k8s.io", "pods"),
        ("get", "", "pods/exec"), ("create", "", "pods/exec"),
        ("patch", "apps", "deployments"), ("patch", "apps", "deployments/scale"), ("delete", "", "pods"),
        ("patch", "", "services"),
        # granted so that the admission policy (shortcuts.yaml) refuses them with the reason
        ("delete", "apps", "deployments"), ("patch", "", "pods"),
    ],
)
def test_store_role_allows_the_course(verb: str, group: str, resource: str) -> None:
    assert allows(STORE, verb, group, resource)


@pytest.mark.parametrize(
    ("verb", "group", "resource"),
    [
        ("get", "", "secrets"), ("watch", "", "secrets"), ("create", "", "pods"), ("create", "apps", "deployments"),
        ("update", "", "configmaps"), ("create", "", "pods/attach"),
        ("create", "", "pods/portforward"), ("create", "", "serviceaccounts/token"), ("list", "edgelab.io", "faults"),
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ],
)
def test_store_role_refuses(verb: str, group: str, resource: str) -> None:
    assert not allows(STORE, verb, group, resource)


# What the course reads, readable across namespaces (`get deploy -A` as `get pods -A`); nothing else.
CLUSTER_READS = {("", "pods"), ("", "services"), ("", "endpoints"), ("", "events"), ("events.k8s.io", "events"),
                 ("discovery.k8s.io", "endpointslices"), ("apps", "deployments"), ("apps", "replicasets"),
                 ("", "nodes"), ("", "namespaces"), ("metrics.k8s.io", "nodes")}


def test_cluster_role_is_read_only_and_only_the_course_kinds() -> None:
    granted = {(g, r, v) for rule in CLUSTER for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    assert {v for _, _, v in granted} <= {"get", "list", "watch"}
    assert {(g, r) for g, r, _ in granted} == CLUSTER_READS


@pytest.mark.parametrize(("group", "resource"), sorted(CLUSTER_READS - {("metrics.k8s.io", "nodes")}))
def test_cluster_reads_are_get_list_and_watch(group: str, resource: str) -> None:
    """`kubectl get KIND -A`, `get KIND NAME -n X` and `get -w` alike."""
    assert all(allows(CLUSTER, verb, group, resource) for verb in ("get", "list", "watch"))


@pytest.mark.parametrize(
    ("group", "resource"),
    [
        # byteedge-fleet's configmaps (the lab marker) and secrets, every pod's logs and shell there, the Faults
        ("", "configmaps"), ("", "secrets"), ("", "pods/log"), ("", "pods/exec"), ("edgelab.io", "faults"),
        # not course kinds; controllerrevisions carry whole pod templates
        ("apps", "controllerrevisions"), ("apps", "daemonsets"), ("apps", "statefulsets"),
        ("apiextensions.k8s.io", "customresourcedefinitions"), ("rbac.authorization.k8s.io", "roles"),
    ],
)
def test_cluster_role_leaves_closed(group: str, resource: str) -> None:
    assert not any(allows(CLUSTER, verb, group, resource) for verb in ("get", "list", "watch", "create"))


@pytest.mark.parametrize(("user", "name"), [("learner", "edgelab-learner-learner"), ("Ana_M", "edgelab-learner-ana-m"),
                                            ("bob@store.example", "edgelab-learner-bob-store.example")])
def test_csr_name(user: str, name: str) -> None:
    assert learner.csr_name(user) == name


@pytest.mark.parametrize("bad", ["", "a/b", "x=y", "a b", "-lead"])
def test_issue_refuses_names_openssl_would_misread(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="must match"):
        learner.issue_learner(Path("/nonexistent/kubectl"), tmp_path / "a", tmp_path / "b", user=bad)


def test_key_and_csr_carry_user_and_group(tmp_path: Path) -> None:
    key, csr = learner._key_and_csr("learner", learner.GROUP, tmp_path)
    assert b"PRIVATE KEY" in key
    subject = subprocess.run(["openssl", "req", "-noout", "-subject", "-nameopt", "RFC2253"], input=csr,
                             capture_output=True, check=True).stdout.decode()
    assert "CN=learner" in subject and f"O={learner.GROUP}" in subject


def test_write_private_is_0600_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "kubeconfig"
    learner._write_private(path, "one")
    learner._write_private(path, "two")
    assert path.read_text() == "two"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["kubeconfig"]


def test_issue_learner_flow_with_a_fake_kubectl(tmp_path: Path) -> None:
    """The kubectl calls, in order, and the kubeconfig written (the e2e test runs the real thing)."""
    calls = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    view = {"clusters": [{"name": "kind-x", "cluster": {"server": "https://127.0.0.1:40000",
                                                         "certificate-authority-data": "Q0E="}}]}
    csr = {"status": {"certificate": base64.b64encode(b"CERT").decode(), "conditions": [{"type": "Approved",
                                                                                        "status": "True"}]}}
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        f"case \"$1 $2\" in\n"
        f"  'config view') echo '{json.dumps(view)}' ;;\n"
        f"  'get certificatesigningrequest') echo '{json.dumps(csr)}' ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    out = learner.issue_learner(fake, tmp_path / "admin", tmp_path / "learner.kubeconfig")
    verbs = [line.split()[:2] for line in calls.read_text().splitlines()]
    assert verbs == [["delete", "certificatesigningrequest"], ["create", "-f"], ["certificate", "approve"],
                     ["get", "certificatesigningrequest"], ["config", "view"]]
    config = yaml.safe_load(out.read_text())
    assert config["current-context"] == "store"
    assert config["clusters"] == [{"name": "store", "cluster": view["clusters"][0]["cluster"]}]
    (user,) = config["users"]
    assert user["name"] == "learner"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"CERT"
    assert b"PRIVATE KEY" in base64.b64decode(user["user"]["client-key-data"])
    assert config["contexts"] == [{"name": "store", "context": {"cluster": "store", "user": "learner"}}]


def test_a_denied_csr_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    denied = {"status": {"conditions": [{"type": "Denied", "status": "True", "message": "no"}]}}
    fake.write_text(f"#!/bin/sh\ncase \"$1 $2\" in\n  'get certificatesigningrequest') echo '{json.dumps(denied)}' ;;\nesac\n")
    fake.chmod(0o755)
    with pytest.raises(ClusterError, match="Denied: no"):
        learner.issue_learner(fake, tmp_path / "admin", tmp_path / "out")
    assert not (tmp_path / "out").exists()
