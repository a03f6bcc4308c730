"""The one place versions live: `pins.yaml` beside this module, read into `Pins`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import yaml

PINS_FILE = Path(__file__).with_name("pins.yaml")


@dataclass(frozen=True)
class Pins:
    kubernetes: str
    kubernetes_staging: str
    kind: str
    kind_stock_node_image: str
    etcd: str
    etcd_image_tag: str
    coredns: str
    pause: str
    pause_sandbox: str
    kube_router: str
    metrics_server: str
    local_path_provisioner: str
    cri_tools: str
    debian_suite: str
    debian_mirror: str
    containerd_deb_suite: str
    go_build_date: str
    python_image_packages: tuple[str, ...]
    kind_storage_provisioner_image: str
    kind_storage_helper_image: str
    offline_node_image: str
    python_base_image: str
    fault_operator_image: str


@cache
def load(path: Path = PINS_FILE) -> Pins:
    raw = yaml.safe_load(path.read_text())
    names = {f.name for f in fields(Pins)}
    unknown, missing = set(raw) - names, names - set(raw)
    if unknown or missing:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    # YAML reads `3.10` as the float 3.1: every pin must be a quoted-if-needed string.
    bad = {k: v for k, v in raw.items() if k != "python_image_packages" and not isinstance(v, str)}
    if bad:
        raise ValueError(f"{path}: pins must be strings (quote them): {bad}")
    raw["python_image_packages"] = tuple(str(v) for v in raw["python_image_packages"])
    return Pins(**raw)
