"""The learner's RBAC manifest, key and CSR, CSR naming and kubeconfig rendering (no cluster)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client
from kubernetes.client import ApiClient

from edgelab.base.errors import ClusterError
from edgelab.kube import learner
from edgelab.kube.learner import SIGNER


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
def test_issue_refuses_names_a_subject_would_misread(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="must match"):
        learner.issue_learner(tmp_path / "a", tmp_path / "b", user=bad)


def test_key_and_csr_carry_user_and_group() -> None:
    key_pem, csr_pem = learner.key_and_csr("learner", learner.GROUP)
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as `openssl genpkey` wrote it
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid and isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    assert csr.subject.rfc4514_string() == f"O={learner.GROUP},CN=learner"  # CN first, then O (RFC 4514 reverses)
    assert [a.oid for a in csr.subject] == [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME]
    assert list(csr.extensions) == []  # what the certificate may do is the CSR object's `usages`, not the request's
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(serialization.Encoding.PEM, public) == \
        key.public_key().public_bytes(serialization.Encoding.PEM, public)


def test_each_issue_makes_a_new_key() -> None:
    assert learner.key_and_csr("learner", learner.GROUP)[0] != learner.key_and_csr("learner", learner.GROUP)[0]


def test_csr_manifest_asks_the_api_servers_signer_for_client_auth() -> None:
    _, csr = learner.key_and_csr("alice", "byteedge:responders")
    manifest = learner.csr_manifest("edgelab-responder-alice", "responder", csr)
    assert manifest["metadata"] == {"name": "edgelab-responder-alice", "labels": {
        "app.kubernetes.io/part-of": "edgelab", "app.kubernetes.io/component": "responder-access"}}
    assert manifest["spec"] == {"request": base64.b64encode(csr).decode(), "signerName": SIGNER,
                                "expirationSeconds": 7 * 24 * 3600, "usages": ["client auth"]}
    # what goes over the wire is that object, unchanged by the client's model
    sent = ApiClient().sanitize_for_serialization(client.V1CertificateSigningRequest.from_dict(manifest))
    assert sent == manifest
    assert learner.csr_manifest("x", "learner", csr, timedelta(hours=1))["spec"]["expirationSeconds"] == 3600


def kind_kubeconfig(ca: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "kind-b",
            "clusters": [{"name": "kind-a", "cluster": {"server": "https://127.0.0.1:1", "certificate-authority-data":
                                                        "QQ=="}},
                         {"name": "kind-b", "cluster": {"server": "https://127.0.0.1:40000", **ca}}],
            "contexts": [{"name": "kind-a", "context": {"cluster": "kind-a", "user": "kind-a"}},
                         {"name": "kind-b", "context": {"cluster": "kind-b", "user": "kind-b"}}],
            "users": [{"name": "kind-b", "user": {"client-certificate-data": "Qw==", "client-key-data": "Sw=="}}]}


def test_admin_cluster_is_the_current_contexts_server_and_ca(tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    admin.write_text(yaml.safe_dump(kind_kubeconfig({"certificate-authority-data": "Q0E="})))
    assert learner.admin_cluster(admin) == {"server": "https://127.0.0.1:40000", "certificate-authority-data": "Q0E="}


def test_admin_cluster_inlines_a_ca_file_like_flatten(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"CA")
    admin = tmp_path / "admin"
    admin.write_text(yaml.safe_dump(kind_kubeconfig({"certificate-authority": "ca.crt"})))
    assert learner.admin_cluster(admin)["certificate-authority-data"] == base64.b64encode(b"CA").decode()


def test_admin_cluster_of_a_missing_kubeconfig_is_a_cluster_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="current context"):
        learner.admin_cluster(tmp_path / "none")


def test_client_kubeconfig_has_one_context_store() -> None:
    cluster = {"server": "https://127.0.0.1:40000", "certificate-authority-data": "Q0E="}
    config = learner.client_kubeconfig(cluster, "learner", base64.b64encode(b"CERT").decode(), b"KEY")
    assert list(config) == ["apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"]
    assert config["current-context"] == "store"
    assert config["clusters"] == [{"name": "store", "cluster": cluster}]
    (user,) = config["users"]
    assert user["name"] == "learner"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["user"]["client-key-data"]) == b"KEY"
    assert config["contexts"] == [{"name": "store", "context": {"cluster": "store", "user": "learner"}}]
    assert config["preferences"] == {}


def a_csr(**status: Any) -> client.V1CertificateSigningRequest:
    return client.V1CertificateSigningRequest.from_dict(
        {"metadata": {"name": "edgelab-learner-learner"}, "spec": {"request": "UkVR", "signerName": SIGNER},
         "status": status})


def test_approved_appends_an_approved_condition() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    got = learner.approved(a_csr(), now)
    assert got.status is not None and got.status.conditions is not None
    (cond,) = got.status.conditions
    assert (cond.type, cond.status, cond.reason) == ("Approved", "True", learner.APPROVE_REASON)
    sent = ApiClient().sanitize_for_serialization(got)
    assert sent["status"]["conditions"][0]["lastUpdateTime"] == "2026-01-02T03:04:05+00:00"  # RFC 3339, whole seconds


def test_certificate_waits_for_the_signer_and_stops_at_a_denial() -> None:
    assert learner.certificate(a_csr(), "learner") == ""
    assert learner.certificate(a_csr(conditions=[{"type": "Approved", "status": "True"}]), "learner") == ""
    signed = a_csr(certificate=base64.b64encode(b"CERT").decode(), conditions=[{"type": "Approved", "status": "True"}])
    assert learner.certificate(signed, "learner") == base64.b64encode(b"CERT").decode()
    with pytest.raises(ClusterError, match="CSR edgelab-learner-learner Denied: no"):
        learner.certificate(a_csr(conditions=[{"type": "Denied", "status": "True", "message": "no"}]), "learner")


def test_write_private_is_0600_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "kubeconfig"
    learner._write_private(path, "one")
    learner._write_private(path, "two")
    assert path.read_text() == "two"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["kubeconfig"]
