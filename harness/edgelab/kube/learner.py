"""The learner's identity and what it may do.

The learner is a client certificate signed by the cluster's own CA through
the CertificateSigningRequest API (signer kubernetes.io/kube-apiserver-client):
CN is the user name, O the group. The group, `byteedge:incident-managers`, is
bound to the roles in manifests/rbac/learner.yaml: every command of the
course in the Byte Edge namespaces, nothing of the lab's machinery (see the
manifest's header for the decisions). The audit log records the learner's
requests under that user name.

The key and the CSR are made in-process (`cryptography`) and the CSR is
created, approved and read through the Kubernetes API (CertificatesV1Api):
no `openssl`, no `kubectl` on the way. The roles are still applied with
kubectl (`apply_rbac`), like the rest of the store's manifests.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client, config

from edgelab.base import files
from edgelab.base.errors import ClusterError
from edgelab.base.names import NAMESPACES as STORE_NAMESPACES
from edgelab.base.paths import REPO
from edgelab.kube.cluster import Kubectl, poll
from edgelab_operator import NAMESPACE

RBAC = REPO / "manifests" / "rbac" / "learner.yaml"
SHORTCUTS = REPO / "manifests" / "rbac" / "shortcuts.yaml"  # admission policy: fixes that hide the incident

USER = "learner"
GROUP = "byteedge:incident-managers"
# The namespaces the learner works in (the RoleBindings of RBAC: the store's, base.names), and the
# lab's own one, which it must not read.
LAB_NAMESPACE = NAMESPACE  # edgelab_operator.NAMESPACE: the operator, its Faults, the lab marker
CONTEXT = "store"
SIGNER = "kubernetes.io/kube-apiserver-client"
EXPIRATION = timedelta(days=7)
# The Approved condition edgelab adds (shaped like `kubectl certificate approve`'s, which it replaces).
APPROVE_REASON = "EdgelabApprove"
APPROVE_MESSAGE = "This CSR was approved by edgelab."
REQUEST_TIMEOUT = 300  # seconds for one API request: what one kubectl call was given

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._@-]*$")


def _write_private(path: Path, text: str) -> None:
    """A credential: readable by its owner only, written whole or not at all."""
    files.write_atomic(path, text, mode=0o600)


def csr_name(user: str, role: str = "learner") -> str:
    """The CertificateSigningRequest object issued for `user` as `role` (learner, responder)."""
    return f"edgelab-{role}-" + re.sub(r"[^a-z0-9.-]+", "-", user.lower()).strip("-.")


def apply_rbac(kubectl: Path, admin_kubeconfig: Path) -> None:
    """Apply the learner's roles and bindings (as admin); converges.

    Creates any missing store namespace first: a RoleBinding needs its
    namespace, and the store's own manifests may come later.
    """
    k = Kubectl(kubectl, admin_kubeconfig)
    have = set(k("get", "namespaces", "-o", "name").stdout.split())
    for ns in STORE_NAMESPACES:
        if f"namespace/{ns}" not in have:
            k("create", "namespace", ns, "--save-config")  # so that a later `apply` merges quietly
    k("apply", "-f", str(RBAC))
    k("apply", "-f", str(SHORTCUTS))


def key_and_csr(user: str, group: str) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key (PKCS#8) and a CSR for it with subject CN=user, O=group, signed with SHA-256 (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, csr.public_bytes(serialization.Encoding.PEM)


def csr_manifest(name: str, role: str, csr: bytes, expiration: timedelta = EXPIRATION) -> dict[str, Any]:
    """The CertificateSigningRequest object `name` for PEM request `csr`: a client certificate of the API server's
    signer, for `expiration`, labelled as `role`'s access."""
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "edgelab",
                                              "app.kubernetes.io/component": f"{role}-access"}},
        "spec": {
            "request": base64.b64encode(csr).decode(),
            "signerName": SIGNER,
            "expirationSeconds": int(expiration.total_seconds()),
            "usages": ["client auth"],
        },
    }


def admin_cluster(admin_kubeconfig: Path) -> dict[str, str]:
    """Server and CA (as data) of the admin kubeconfig's current context: what
    `kubectl config view --raw --minify --flatten` shows of its cluster."""
    try:
        view = yaml.safe_load(admin_kubeconfig.read_text()) or {}
        (context,) = [c["context"] for c in view.get("contexts") or [] if c["name"] == view.get("current-context")]
        (cluster,) = [c["cluster"] for c in view.get("clusters") or [] if c["name"] == context["cluster"]]
        ca = cluster.get("certificate-authority-data")
        if ca is None:  # a CA file, relative to the kubeconfig: --flatten inlines it
            ca = base64.b64encode((admin_kubeconfig.parent / cluster["certificate-authority"]).read_bytes()).decode()
        return {"server": cluster["server"], "certificate-authority-data": ca}
    except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError) as err:
        raise ClusterError(f"failed to read the server and CA of {admin_kubeconfig}'s current context: {err!r}") from err


def client_kubeconfig(cluster: dict[str, str], user: str, certificate: str, key: bytes) -> dict[str, Any]:
    """A kubeconfig with one context, `store`, on `cluster` as `user` (certificate: base64 PEM; key: PEM)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user, "user": {"client-certificate-data": certificate,
                                          "client-key-data": base64.b64encode(key).decode()}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def approved(csr: client.V1CertificateSigningRequest, now: datetime) -> client.V1CertificateSigningRequest:
    """`csr` with an Approved condition appended, as `kubectl certificate approve` does (for the /approval
    subresource)."""
    status = csr.status or client.V1CertificateSigningRequestStatus()
    status.conditions = [*(status.conditions or []), client.V1CertificateSigningRequestCondition(
        type="Approved", status="True", reason=APPROVE_REASON, message=APPROVE_MESSAGE,
        last_update_time=now.replace(microsecond=0))]
    csr.status = status
    return csr


def certificate(csr: client.V1CertificateSigningRequest, role: str) -> str:
    """The signed certificate (base64 PEM) of `csr`, "" while it has none; ClusterError once it was denied or failed."""
    status = csr.status or client.V1CertificateSigningRequestStatus()
    for cond in status.conditions or []:
        if cond.type in ("Denied", "Failed") and cond.status == "True":
            raise ClusterError(f"failed to issue the {role}: CSR {csr.metadata and csr.metadata.name} "
                               f"{cond.type}: {cond.message or ''}")
    return str(status.certificate or "")


def _api_error(role: str, doing: str, e: client.ApiException) -> ClusterError:
    try:
        why = str(json.loads(e.body or "").get("message", e))
    except (TypeError, ValueError, AttributeError):
        why = str(e)
    return ClusterError(f"failed to issue the {role}: {doing}: {e.status} {why}")


def _delete_csr(api: client.CertificatesV1Api, name: str, role: str, timeout: float) -> None:
    """Delete CSR `name` if there is one and wait until it is gone (`kubectl delete --ignore-not-found`)."""
    try:
        api.delete_certificate_signing_request(name, _request_timeout=REQUEST_TIMEOUT)
    except client.ApiException as e:
        if e.status == 404:
            return
        raise _api_error(role, f"deleting CSR {name}", e) from e

    def gone() -> bool:
        try:
            api.read_certificate_signing_request(name, _request_timeout=REQUEST_TIMEOUT)
        except client.ApiException as e:
            if e.status == 404:
                return True
            raise _api_error(role, f"reading CSR {name}", e) from e
        return False

    poll(f"CSR {name} to be deleted", gone, timeout)


def delete_client(admin_kubeconfig: Path, user: str, role: str = "learner", timeout: float = 60) -> None:
    """Delete the CSR issued for `user` as `role`, if any (its certificate stays valid until it expires)."""
    with config.new_client_from_config(str(admin_kubeconfig)) as api:
        _delete_csr(client.CertificatesV1Api(api), csr_name(user, role), role, timeout)


def issue_learner(admin_kubeconfig: Path, out_kubeconfig: Path, user: str = USER, group: str = GROUP, *,
                  expiration: timedelta = EXPIRATION, timeout: float = 60) -> Path:
    """Issue a client certificate for `user` in `group`; write its kubeconfig; return its path.

    The kubeconfig (mode 0600) points at the admin kubeconfig's server and CA,
    with one context, `store`, and no default namespace. Re-running replaces
    the previous CSR and certificate (an older kubeconfig keeps working until
    its certificate expires). The roles come from `apply_rbac`.
    """
    return issue_client(admin_kubeconfig, out_kubeconfig, user, group, role="learner",
                        expiration=expiration, timeout=timeout)


def issue_client(admin_kubeconfig: Path, out_kubeconfig: Path, user: str, group: str, *,
                 role: str = "learner", expiration: timedelta = EXPIRATION, timeout: float = 60) -> Path:
    """A client certificate for `user` (CN) in `group` (O) through the CSR API, as a kubeconfig; return its path.

    `role` names the CSR (`edgelab-<role>-<user>`) and labels it
    (`app.kubernetes.io/component: <role>-access`): the learner and each
    responder (responders.py) have their own. Rights come from bindings made
    elsewhere; a certificate cannot be revoked, only its bindings removed.
    The CSR is kept once signed; the next issue for the same name replaces it.
    """
    for value, what in ((user, "user"), (group, "group")):
        if not _NAME.match(value):
            raise ClusterError(f"failed to issue the {role}: {what} {value!r} must match {_NAME.pattern}")
    name = csr_name(user, role)
    key, csr = key_and_csr(user, group)
    with config.new_client_from_config(str(admin_kubeconfig)) as api:
        certs = client.CertificatesV1Api(api)
        _delete_csr(certs, name, role, timeout)
        try:
            body = client.V1CertificateSigningRequest.from_dict(csr_manifest(name, role, csr, expiration))
            assert body is not None
            certs.create_certificate_signing_request(body, _request_timeout=REQUEST_TIMEOUT)
        except client.ApiException as e:
            raise _api_error(role, f"creating CSR {name}", e) from e
        try:
            made = certs.read_certificate_signing_request(name, _request_timeout=REQUEST_TIMEOUT)
            certs.replace_certificate_signing_request_approval(name, approved(made, datetime.now(UTC)),
                                                               _request_timeout=REQUEST_TIMEOUT)
        except client.ApiException as e:
            raise _api_error(role, f"approving CSR {name}", e) from e

        def signed() -> str:
            try:
                got = certs.read_certificate_signing_request(name, _request_timeout=REQUEST_TIMEOUT)
            except client.ApiException as e:
                raise _api_error(role, f"reading CSR {name}", e) from e
            return certificate(got, role)

        cert = poll(f"the {role}'s certificate (CSR {name})", signed, timeout)
    config_ = client_kubeconfig(admin_cluster(admin_kubeconfig), user, cert, key)
    _write_private(out_kubeconfig, yaml.safe_dump(config_, sort_keys=False))
    return out_kubeconfig
