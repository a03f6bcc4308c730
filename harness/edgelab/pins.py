"""The one place versions live: `pins.yaml` beside this module, read into `Pins`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

PINS_FILE = Path(__file__).with_name("pins.yaml")

# The platforms edgelab downloads kind and kubectl for, as "<os>-<arch>".
TOOL_PLATFORMS = ("linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64")
# Each tool and the pin its version must equal.
TOOL_VERSION_PIN = {"kind": "kind", "kubectl": "kubernetes"}


@dataclass(frozen=True)
class ToolPin:
    """A downloadable binary: its version, URL template ({version}, {os}, {arch}), sha256 per platform."""

    version: str
    url: str
    sha256: Mapping[str, str | None] = field(hash=False)  # None: no checksum pinned for that platform


@dataclass(frozen=True)
class Pins:
    kubernetes: str
    kubernetes_staging: str
    kind: str
    kind_stock_node_image: str
    python_stock_image: str
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
    tools: Mapping[str, ToolPin] = field(hash=False)  # "kind", "kubectl"


@cache
def load(path: Path = PINS_FILE) -> Pins:
    raw = yaml.safe_load(path.read_text())
    names = {f.name for f in fields(Pins)}
    unknown, missing = set(raw) - names, names - set(raw)
    if unknown or missing:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    # YAML reads `3.10` as the float 3.1: every pin must be a quoted-if-needed string.
    bad = {k: v for k, v in raw.items() if k not in ("python_image_packages", "tools") and not isinstance(v, str)}
    if bad:
        raise ValueError(f"{path}: pins must be strings (quote them): {bad}")
    raw["python_image_packages"] = tuple(str(v) for v in raw["python_image_packages"])
    raw["tools"] = _tools(path, raw["tools"], raw)
    return Pins(**raw)


def _tools(path: Path, block: Any, raw: dict[str, Any]) -> Mapping[str, ToolPin]:
    """The `tools:` block, checked: every tool and platform named, sums hex or null, versions as pinned."""
    if not isinstance(block, dict) or set(block) != set(TOOL_VERSION_PIN):
        raise ValueError(f"{path}: `tools` must name exactly {sorted(TOOL_VERSION_PIN)}")
    out: dict[str, ToolPin] = {}
    for name, entry in block.items():
        if not isinstance(entry, dict) or set(entry) != {"version", "url", "sha256"}:
            raise ValueError(f"{path}: tools.{name} needs exactly the keys version, url, sha256")
        version, url, sums = entry["version"], entry["url"], entry["sha256"]
        wanted = raw.get(TOOL_VERSION_PIN[name])
        if version != wanted:
            raise ValueError(
                f"{path}: tools.{name}.version {version!r} is not {TOOL_VERSION_PIN[name]} {wanted!r}:"
                " bump it together with its sha256 sums"
            )
        if not isinstance(url, str) or "{version}" not in url:
            raise ValueError(f"{path}: tools.{name}.url must be a string containing {{version}}")
        if not isinstance(sums, dict) or set(sums) != set(TOOL_PLATFORMS):
            raise ValueError(f"{path}: tools.{name}.sha256 must name exactly {list(TOOL_PLATFORMS)}")
        for platform, digest in sums.items():
            if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
                raise ValueError(f"{path}: tools.{name}.sha256.{platform} must be 64 lowercase hex digits or null")
        out[name] = ToolPin(version=version, url=url, sha256=MappingProxyType(dict(sums)))
    return MappingProxyType(out)
