"""The learner's identity and what it may do.

The learner is a client certificate signed by the cluster's own CA through
the CertificateSigningRequest API (signer kubernetes.io/kube-apiserver-client):
CN is the user name, O the group. The group, `byteedge:incident-managers`, is
bound to the roles in manifests/rbac/learner.yaml: every command of the
course in the Byte Edge namespaces, nothing of the lab's machinery (see the
manifest's header for the decisions). The audit log records the learner's
requests under that user name.

Keys and CSRs are made with the `openssl` CLI (the `cryptography` package is
not a dependency of edgelab); the cluster is driven with kubectl, like the
rest of the harness.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

import yaml

from edgelab.base import files
from edgelab.base.errors import ClusterError
from edgelab.base.names import NAMESPACES as STORE_NAMESPACES
from edgelab.base.paths import REPO
from edgelab.kube.cluster import Kubectl
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


def _openssl(*args: str, cwd: Path) -> None:
    try:
        proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError as err:
        raise ClusterError("failed to make the learner's key: `openssl` is not installed (apt-get install openssl)") from err
    if proc.returncode != 0:
        raise ClusterError(f"failed to make the learner's key: `openssl {' '.join(args)}`: {proc.stderr.strip()[-800:]}")


def _key_and_csr(user: str, group: str, workdir: Path) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key and a CSR with CN=user, O=group (PEM)."""
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem", cwd=workdir)
    _openssl("req", "-new", "-key", "key.pem", "-subj", f"/CN={user}/O={group}", "-out", "csr.pem", cwd=workdir)
    return (workdir / "key.pem").read_bytes(), (workdir / "csr.pem").read_bytes()


def _admin_cluster(k: Kubectl) -> dict:
    """Server and CA of the admin kubeconfig's current context."""
    view = json.loads(k("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
    cluster = view["clusters"][0]["cluster"]
    return {"server": cluster["server"], "certificate-authority-data": cluster["certificate-authority-data"]}


def issue_learner(kubectl: Path, admin_kubeconfig: Path, out_kubeconfig: Path, user: str = USER,
                  group: str = GROUP, *, expiration: timedelta = EXPIRATION, timeout: float = 60) -> Path:
    """Issue a client certificate for `user` in `group`; write its kubeconfig; return its path.

    The kubeconfig (mode 0600) points at the admin kubeconfig's server and CA,
    with one context, `store`, and no default namespace. Re-running replaces
    the previous CSR and certificate (an older kubeconfig keeps working until
    its certificate expires). The roles come from `apply_rbac`.
    """
    return issue_client(kubectl, admin_kubeconfig, out_kubeconfig, user, group, role="learner",
                        expiration=expiration, timeout=timeout)


def issue_client(kubectl: Path, admin_kubeconfig: Path, out_kubeconfig: Path, user: str, group: str, *,
                 role: str = "learner", expiration: timedelta = EXPIRATION, timeout: float = 60) -> Path:
    """A client certificate for `user` (CN) in `group` (O) through the CSR API, as a kubeconfig; return its path.

    `role` names the CSR (`edgelab-<role>-<user>`) and labels it
    (`app.kubernetes.io/component: <role>-access`): the learner and each
    responder (responders.py) have their own. Rights come from bindings made
    elsewhere; a certificate cannot be revoked, only its bindings removed.
    """
    for value, what in ((user, "user"), (group, "group")):
        if not _NAME.match(value):
            raise ClusterError(f"failed to issue the {role}: {what} {value!r} must match {_NAME.pattern}")
    k = Kubectl(kubectl, admin_kubeconfig)
    name = csr_name(user, role)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        key, csr = _key_and_csr(user, group, workdir)
        manifest = {
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
        (workdir / "csr.yaml").write_text(yaml.safe_dump(manifest))
        k("delete", "certificatesigningrequest", name, "--ignore-not-found", "--wait=true")
        k("create", "-f", str(workdir / "csr.yaml"))
    k("certificate", "approve", name)

    cert = ""

    def signed() -> bool:
        nonlocal cert
        got = json.loads(k("get", "certificatesigningrequest", name, "-o", "json").stdout)
        for cond in got.get("status", {}).get("conditions") or []:
            if cond.get("type") in ("Denied", "Failed") and cond.get("status") == "True":
                raise ClusterError(f"failed to issue the {role}: CSR {name} {cond['type']}: {cond.get('message', '')}")
        cert = got.get("status", {}).get("certificate", "")
        return bool(cert)

    k.poll(f"the {role}'s certificate (CSR {name})", signed, timeout)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": _admin_cluster(k)}],
        "users": [{"name": user, "user": {"client-certificate-data": cert,
                                          "client-key-data": base64.b64encode(key).decode()}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    _write_private(out_kubeconfig, yaml.safe_dump(config, sort_keys=False))
    return out_kubeconfig
