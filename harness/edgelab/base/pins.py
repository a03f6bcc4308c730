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

from edgelab.base.paths import PACKAGE

PINS_FILE = PACKAGE / "pins.yaml"  # package data, beside the package

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
    """The pins, checked; ValueError lists every problem of the file at once (`<file>: <key>: <rule> (got ...)`)."""
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a mapping of pins (got {raw!r})")
    problems: list[str] = []
    names = {f.name for f in fields(Pins)}
    unknown, missing = set(raw) - names, names - set(raw)
    if unknown or missing:
        problems.append(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    # YAML reads `3.10` as the float 3.1: every pin must be a quoted-if-needed string.
    for k, v in raw.items():
        if k not in ("python_image_packages", "tools") and not isinstance(v, str):
            problems.append(f"{path}: {k}: pins must be strings (quote them) (got {v!r})")
    packages = raw.get("python_image_packages")
    if not isinstance(packages, list) or not all(isinstance(v, str) for v in packages):
        problems.append(f"{path}: python_image_packages: a list of `name==version` strings (got {packages!r})")
    tools, found = _tools(path, raw.get("tools"), raw)
    problems += found
    if problems:
        raise ValueError("\n".join(problems))
    return Pins(**{**raw, "python_image_packages": tuple(raw["python_image_packages"]), "tools": tools})


def _tools(path: Path, block: Any, raw: dict[str, Any]) -> tuple[Mapping[str, ToolPin], list[str]]:
    """The `tools:` block, checked: every tool and platform named, sums hex or null, versions as pinned."""
    if not isinstance(block, dict) or set(block) != set(TOOL_VERSION_PIN):
        return {}, [f"{path}: tools: must name exactly {sorted(TOOL_VERSION_PIN)} (got {block!r})"]
    out: dict[str, ToolPin] = {}
    problems: list[str] = []
    for name, entry in block.items():
        if not isinstance(entry, dict) or set(entry) != {"version", "url", "sha256"}:
            problems.append(f"{path}: tools.{name}: needs exactly the keys version, url, sha256 (got {entry!r})")
            continue
        version, url, sums = entry["version"], entry["url"], entry["sha256"]
        wanted = raw.get(TOOL_VERSION_PIN[name])
        if version != wanted:
            problems.append(f"{path}: tools.{name}.version {version!r} is not {TOOL_VERSION_PIN[name]} {wanted!r}:"
                            " bump it together with its sha256 sums")
        if not isinstance(url, str) or "{version}" not in url:
            problems.append(f"{path}: tools.{name}.url must be a string containing {{version}} (got {url!r})")
        if not isinstance(sums, dict) or set(sums) != set(TOOL_PLATFORMS):
            problems.append(f"{path}: tools.{name}.sha256 must name exactly {list(TOOL_PLATFORMS)} (got {sums!r})")
            continue
        for platform, digest in sums.items():
            if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
                problems.append(f"{path}: tools.{name}.sha256.{platform} must be 64 lowercase hex digits or null "
                                f"(got {digest!r})")
        out[name] = ToolPin(version=version, url=url, sha256=MappingProxyType(dict(sums)))
    return MappingProxyType(out), problems
