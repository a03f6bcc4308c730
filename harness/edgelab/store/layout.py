"""Where a store lives: its id, its state folder, its cluster's and node's names, its namespaces.

Plain names and paths, no cluster client: every layer above the machine may ask where a store is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgelab.base.errors import EdgelabError
from edgelab.base.paths import state_root


class StoreError(EdgelabError):
    """A store does not exist, or its id or profile is not valid."""


def validate_store_id(store: str) -> str:
    if not re.fullmatch(r"[0-9]{1,6}", store):
        raise StoreError(f"store id {store!r} must be the store number, 1 to 6 digits (e.g. 4523)")
    return store


def state_dir(store: str) -> Path:
    return state_root() / "stores" / validate_store_id(store)


def cluster_name(store: str) -> str:
    return f"store-{validate_store_id(store)}"


def control_plane(store: str) -> str:
    """The control-plane node container of the store (where its audit log lives)."""
    return f"{cluster_name(store)}-control-plane"


@dataclass(frozen=True)
class StorePaths:
    root: Path
    admin_kubeconfig: Path
    learner_kubeconfig: Path
    audit_dir: Path



def paths(store: str) -> StorePaths:
    root = state_dir(store)
    return StorePaths(root, root / "admin.kubeconfig", root / "learner.kubeconfig", root / "audit")
