"""Where edgelab's files are: the repository, the package, and this user's settings, cache and state."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # harness/edgelab
REPO = PACKAGE.parents[1]  # the checkout: labs/, manifests/, operator/, hack/ live here


def config_dir() -> Path:
    """This user's edgelab settings: `$EDGELAB_CONFIG_DIR`, else `$XDG_CONFIG_HOME/edgelab`."""
    if d := os.environ.get("EDGELAB_CONFIG_DIR"):
        return Path(d)
    return Path(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")) / "edgelab"


def cache_dir() -> Path:
    """edgelab's cache (builds, logs, its own tools): `$EDGELAB_CACHE`, else `$XDG_CACHE_HOME/edgelab`."""
    base = os.environ.get("EDGELAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgelab"
    )
    return Path(base)


def state_root() -> Path:
    """edgelab's state (stores, clusters, drills, runs, progress): `$XDG_STATE_HOME/edgelab`, else
    `~/.local/state/edgelab`."""
    return Path(os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")) / "edgelab"


def system_dir() -> Path:
    """The machine-wide set-up an admin made (`$EDGELAB_SYSTEM_DIR`, else /var/lib/edgelab)."""
    return Path(os.environ.get("EDGELAB_SYSTEM_DIR") or "/var/lib/edgelab")
