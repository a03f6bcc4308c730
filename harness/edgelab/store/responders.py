"""Personal responder identities for instructor drills: one client certificate per person.

Each responder is a certificate through the CSR API (`learner.issue_client`)
with CN = the responder's name and O = `byteedge:responders`, a group that
RBAC grants nothing. Their rights are the learner's roles
(manifests/rbac/learner.yaml) bound to that one user: a ClusterRoleBinding
and a RoleBinding per store namespace, labelled `edgelab.io/responder=NAME`.
A certificate cannot be revoked, so `remove` deletes those bindings and the
person's requests are refused from then on. The group is still what the
admission policy (manifests/rbac/shortcuts.yaml) and the audit policy match,
so a responder meets the learner's refusals and every request is logged
under their own user name, which is how a drill tells them apart.

The registry (`responders.json` in the store's state folder) lists who was
issued what; kubeconfigs live beside it (mode 0600) unless `--out` says where.
The store's default `learner` identity is not a responder and is left alone.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from edgelab.base import files
from edgelab.base.errors import EdgelabError
from edgelab.kube import learner
from edgelab.kube.cluster import Kubectl
from edgelab.machine import record
from edgelab.store import layout

GROUP = "byteedge:responders"  # no RBAC of its own: every right is bound per user
LABEL = "edgelab.io/responder"
COMPONENT = "responder-access"
# Lower-case letters, digits and '-', starting with a letter: nothing a file name, a certificate subject
# (`/`, `=`, `,`), a label value or YAML could read as anything but the name.
NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
RESERVED = ("learner", "admin", "kubernetes-admin")  # the store's own identities


class ResponderError(EdgelabError):
    """A responder name is not acceptable, or the responder does not exist."""


@dataclass(frozen=True)
class Responder:
    name: str
    user: str  # the certificate's CN: what the audit log and `kubectl auth whoami` show
    kubeconfig: Path
    created_at: datetime
    reissued: bool = field(default=False, compare=False)  # set by `add` when the name already existed

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "user": self.user, "kubeconfig": str(self.kubeconfig),
                "created_at": self.created_at.isoformat()}


def check_name(name: str) -> str:
    """`name` if it may be a responder; ResponderError saying the rule otherwise."""
    if not NAME.fullmatch(name):
        raise ResponderError(f"responder name {name!r} must be 1-30 lower-case letters, digits or '-', starting "
                             "with a letter (e.g. alice, ops-2)")
    if name in RESERVED or name.startswith("system"):
        raise ResponderError(f"responder name {name!r} is taken by the store itself; choose another "
                             f"(not {', '.join(RESERVED)} or system…)")
    return name


def registry_path(store: str) -> Path:
    return layout.state_dir(store) / "responders.json"


def default_kubeconfig(store: str, name: str) -> Path:
    return layout.state_dir(store) / "responders" / f"{check_name(name)}.kubeconfig"


def _read(store: str) -> dict[str, Responder]:
    if not layout.state_dir(store).exists():
        raise layout.StoreError(f"store {store} is not up (run `edgelab up --store {store}` first)")
    try:
        raw = json.loads(registry_path(store).read_text())
    except FileNotFoundError:
        return {}
    return {name: Responder(name, r["user"], Path(r["kubeconfig"]), datetime.fromisoformat(r["created_at"]))
            for name, r in raw.items()}


def _record(store: str, name: str, made: Responder | None) -> None:
    """Add (or replace) responder `name` in the registry, or forget them (`made` None): one locked read-change-write,
    so two `responder add` at once both land."""
    def change(raw: dict[str, Any]) -> dict[str, Any]:
        entries = dict(raw)
        if made is None:
            entries.pop(name, None)
        else:
            entries[name] = made.to_json()
        return dict(sorted(entries.items()))

    files.update_json(registry_path(store), change, missing={}, mode=0o600, end="")


def bindings(name: str) -> list[dict[str, Any]]:
    """The learner's roles bound to user `name` alone: cluster-wide reads, and the store role per namespace."""
    user = check_name(name)
    meta: dict[str, Any] = {"name": f"edgelab:responder:{user}",
            "labels": {"app.kubernetes.io/part-of": "edgelab", "app.kubernetes.io/component": COMPONENT, LABEL: user}}
    subject = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]

    def role(name: str) -> dict[str, str]:
        return {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}

    found: list[dict[str, Any]] = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
         "roleRef": role("byteedge:incident-manager:cluster"), "subjects": subject}]
    for ns in learner.STORE_NAMESPACES:
        found.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {**meta, "namespace": ns}, "roleRef": role("byteedge:incident-manager:store"),
                      "subjects": subject})
    return found


def kubeconfig_for(store: str, name: str, out: Path | None, before: Responder | None) -> Path:
    """Where `add` writes responder `name`'s kubeconfig: `out`, else where it was, else the store's state folder."""
    return (out or (before.kubeconfig if before else default_kubeconfig(store, name))).resolve()


def kept_by_the_store(store: str, kubeconfig: Path) -> bool:
    """Whether `remove` deletes this kubeconfig: the store's copies, not one written to `--out` elsewhere."""
    return kubeconfig.resolve().is_relative_to(layout.state_dir(store).resolve())


def _admin(store: str) -> tuple[Path, Path]:
    """(kubectl, admin kubeconfig) of a store that is up; StoreError saying how to bring it up otherwise."""
    admin = layout.paths(store).admin_kubeconfig
    if not admin.exists():
        raise layout.StoreError(f"store {store} is not up (run `edgelab up --store {store}` first)")
    return record.current().kubectl, admin


def add(store: str, name: str, out: Path | None = None) -> Responder:
    """Issue responder `name` of store `store` a certificate and the learner's rights; write their kubeconfig.

    Adding an existing name issues a new certificate (`reissued` is then True;
    the older one keeps the same rights until it expires). The kubeconfig goes
    to `out`, else where it was, else the store's state folder.
    """
    layout.validate_store_id(store)
    check_name(name)
    kubectl, admin = _admin(store)
    found = _read(store)
    before = found.get(name)
    path = kubeconfig_for(store, name, out, before)
    learner.apply_rbac(kubectl, admin)  # the roles the bindings name (converges; `up` applied them already)
    k = Kubectl(kubectl, admin)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "bindings.yaml"
        manifest.write_text(yaml.safe_dump_all(bindings(name), sort_keys=False))
        k("apply", "-f", str(manifest))
    learner.issue_client(admin, path, name, GROUP, role="responder")
    made = Responder(name, name, path, datetime.now(UTC), reissued=before is not None)
    _record(store, name, made)
    return made


def remove(store: str, name: str) -> Responder:
    """Take responder `name`'s access away: delete their bindings and CSR, forget them, delete a kubeconfig
    kept in the state folder (one written to `--out` is left where it is, and no longer grants anything)."""
    layout.validate_store_id(store)
    check_name(name)
    found = _read(store)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ResponderError(f"store {store} has no responder {name!r} (responders: {known}; "
                             f"`edgelab responder list --store {store}`)")
    kubectl, admin = _admin(store)
    k = Kubectl(kubectl, admin)
    k("delete", "clusterrolebindings,rolebindings", "--all-namespaces", "-l", f"{LABEL}={name}",
      "--ignore-not-found")
    learner.delete_client(admin, name, "responder")
    gone = found.pop(name)
    _record(store, name, None)
    if kept_by_the_store(store, gone.kubeconfig):
        gone.kubeconfig.unlink(missing_ok=True)
    return gone


def list_(store: str) -> list[Responder]:
    """The store's responders, by name."""
    return sorted(_read(store).values(), key=lambda r: r.name)
