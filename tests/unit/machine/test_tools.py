"""Pinned kind/kubectl: platform names, version checks, resolve order, checked downloads (local server only)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from edgelab.base.errors import ToolError
from edgelab.base.pins import PINS_FILE, TOOL_PLATFORMS, Pins, ToolPin, load
from edgelab.machine import tools


def fake(folder: Path, name: str, version: str) -> Path:
    """A `kind` or `kubectl` shell script reporting `version` the way the real one does."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "kind":
        body = f'echo "kind {version} go1.24.6 linux/amd64"'
    else:
        body = f"echo '{json.dumps({'clientVersion': {'gitVersion': version}})}'"
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("system", "machine", "key"),
    [
        ("Linux", "x86_64", "linux-amd64"),
        ("Linux", "AMD64", "linux-amd64"),
        ("Linux", "aarch64", "linux-arm64"),
        ("Linux", "arm64", "linux-arm64"),
        ("Darwin", "x86_64", "darwin-amd64"),
        ("Darwin", "arm64", "darwin-arm64"),
    ],
)
def test_platform_key(system: str, machine: str, key: str) -> None:
    assert tools.platform_key(system, machine) == key


@pytest.mark.parametrize(("system", "machine"), [("Windows", "AMD64"), ("Linux", "riscv64"), ("FreeBSD", "amd64")])
def test_platform_key_unsupported(system: str, machine: str) -> None:
    with pytest.raises(ToolError, match="PATH"):
        tools.platform_key(system, machine)


def test_platform_key_reads_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(tools.platform, "machine", lambda: "arm64")
    assert tools.platform_key() == "darwin-arm64"


def test_shipped_tool_pins(pins: Pins) -> None:
    assert pins.tools["kind"].version == pins.kind
    assert pins.tools["kubectl"].version == pins.kubernetes
    assert pins.tools["kubectl"].url.format(version="v1.34.4", os="linux", arch="amd64") == (
        "https://dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubectl"
    )
    assert pins.tools["kind"].url.format(version="v0.30.0", os="darwin", arch="arm64") == (
        "https://github.com/kubernetes-sigs/kind/releases/download/v0.30.0/kind-darwin-arm64"
    )
    assert all(set(p.sha256) == set(TOOL_PLATFORMS) for p in pins.tools.values())


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["kubectl"].update(version="v1.33.0"), "tools.kubectl.version"),
        (lambda t: t["kind"]["sha256"].update({"linux-amd64": "abc"}), "64 lowercase hex"),
        (lambda t: t["kind"]["sha256"].pop("darwin-arm64"), "must name exactly"),
    ],
)
def test_load_checks_the_tools_block(tmp_path: Path, edit: Callable[[dict[str, Any]], object], message: str) -> None:
    raw = yaml.safe_load(PINS_FILE.read_text())
    edit(raw["tools"])
    path = tmp_path / "pins.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        load.__wrapped__(path)


def test_acceptable(pins: Pins) -> None:
    assert tools.acceptable("kind", "v0.30.0", pins)
    for other in ("v0.30.1", "v0.29.0", "0.30.0", "", None):
        assert not tools.acceptable("kind", other, pins)
    for same_minor in ("v1.34.0", "v1.34.4", "v1.34.12"):
        assert tools.acceptable("kubectl", same_minor, pins)
    for other in ("v1.33.9", "v1.35.0", "v2.34.0", "garbage", None):
        assert not tools.acceptable("kubectl", other, pins)
    assert tools.wanted("kubectl", pins) == "v1.34.x"
    assert tools.wanted("kind", pins) == "v0.30.0"


def test_version_of(tmp_path: Path) -> None:
    assert tools.version_of("kind", fake(tmp_path / "a", "kind", "v0.30.0")) == "v0.30.0"
    assert tools.version_of("kubectl", fake(tmp_path / "b", "kubectl", "v1.34.4")) == "v1.34.4"
    assert tools.version_of("kind", tmp_path / "missing") is None
    broken = tmp_path / "c" / "kubectl"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'not json'\n")
    broken.chmod(0o755)
    assert tools.version_of("kubectl", broken) is None
    failing = tmp_path / "d" / "kind"
    failing.parent.mkdir()
    failing.write_text("#!/bin/sh\necho 'kind v0.30.0'\nexit 1\n")
    failing.chmod(0o755)
    assert tools.version_of("kind", failing) is None
    slow = tmp_path / "e" / "kind"
    slow.parent.mkdir()
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    assert tools.version_of("kind", slow, timeout=0.2) is None


def test_resolve_prefers_own_dirs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pins: Pins) -> None:
    monkeypatch.setenv("PATH", str(fake(tmp_path / "path", "kind", "v0.30.0").parent))
    second = fake(tmp_path / "own2", "kind", "v0.30.0")
    said: list[str] = []
    assert tools.resolve("kind", pins, [tmp_path / "own1", second.parent], said.append) == second
    first = fake(tmp_path / "own1", "kind", "v0.30.0")
    assert tools.resolve("kind", pins, [first.parent, second.parent], said.append) == first
    assert said == []


def test_resolve_skips_wrong_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pins: Pins) -> None:
    on_path = fake(tmp_path / "path", "kind", "v0.30.0")
    monkeypatch.setenv("PATH", str(on_path.parent))
    old = fake(tmp_path / "own", "kind", "v0.29.0")
    said: list[str] = []
    assert tools.resolve("kind", pins, [old.parent], said.append) == on_path
    assert said == [f"kind v0.29.0 at {old} is not v0.30.0: not using it"]


def test_resolve_uses_path_when_right(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pins: Pins) -> None:
    on_path = fake(tmp_path / "path", "kubectl", "v1.34.2")
    monkeypatch.setenv("PATH", str(on_path.parent))
    said: list[str] = []
    assert tools.resolve("kubectl", pins, [tmp_path / "own"], said.append, download=False) == on_path
    assert said == []


def test_resolve_reports_and_skips_wrong_path_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pins: Pins
) -> None:
    on_path = fake(tmp_path / "path", "kubectl", "v1.32.3")
    monkeypatch.setenv("PATH", str(on_path.parent))
    said: list[str] = []
    with pytest.raises(ToolError, match=r"no kubectl v1\.34\.x found"):
        tools.resolve("kubectl", pins, [tmp_path / "own"], said.append, download=False)
    assert said == [f"kubectl v1.32.3 on PATH ({on_path}) is not v1.34.x: not using it"]


# --- downloads, from a server on 127.0.0.1 only ----------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves); no proxy in the way."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _served_kind(root: Path, version: str = "v0.30.0") -> bytes:
    """Serve a fake kind at <root>/<version>/kind-linux-amd64; its bytes."""
    return fake(root / version, "kind", version).rename(root / version / "kind-linux-amd64").read_bytes()


def _with_kind_pin(pins: Pins, url: str, digest: str | None) -> Pins:
    pin = ToolPin(version=pins.kind, url=url, sha256=MappingProxyType(dict.fromkeys(TOOL_PLATFORMS, digest)))
    return dataclasses.replace(pins, tools=MappingProxyType({**pins.tools, "kind": pin}))


@pytest.fixture
def no_kind_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(tools, "platform_key", lambda: "linux-amd64")
    return tmp_path / "own"


def test_download_good_checksum_installs(server: tuple[str, Path], no_kind_anywhere: Path, pins: Pins) -> None:
    base, root = server
    payload = _served_kind(root)
    test_pins = _with_kind_pin(pins, base + "/{version}/kind-{os}-{arch}", hashlib.sha256(payload).hexdigest())
    said: list[str] = []
    got = tools.resolve("kind", test_pins, [no_kind_anywhere], said.append)
    assert got == no_kind_anywhere / "kind"
    assert got.read_bytes() == payload
    assert stat.S_IMODE(got.stat().st_mode) == 0o755 and os.access(got, os.X_OK)
    assert os.listdir(no_kind_anywhere) == ["kind"]  # no temp file left
    assert tools.version_of("kind", got) == "v0.30.0"
    assert said[0] == f"downloading kind v0.30.0 (linux-amd64) from {base}/v0.30.0/kind-linux-amd64"
    assert "sha256 verified" in said[-1]
    # Found next time, not downloaded again.
    assert tools.resolve("kind", test_pins, [no_kind_anywhere], said.append, download=False) == got


def test_download_bad_checksum_leaves_nothing(server: tuple[str, Path], no_kind_anywhere: Path, pins: Pins) -> None:
    base, root = server
    _served_kind(root)
    test_pins = _with_kind_pin(pins, base + "/{version}/kind-{os}-{arch}", "0" * 64)
    with pytest.raises(
        ToolError, match=r"kind v0\.30\.0 from http://127\.0\.0\.1:\d+/v0\.30\.0/kind-linux-amd64 has sha256"
    ):
        tools.resolve("kind", test_pins, [no_kind_anywhere], lambda _: None)
    assert os.listdir(no_kind_anywhere) == []


def test_download_http_error_names_url(server: tuple[str, Path], no_kind_anywhere: Path, pins: Pins) -> None:
    base, _ = server
    test_pins = _with_kind_pin(pins, base + "/missing/{version}/kind-{os}-{arch}", "0" * 64)
    with pytest.raises(ToolError, match=r"could not download kind v0\.30\.0 from http://127\.0\.0\.1:\d+/missing/"):
        tools.resolve("kind", test_pins, [no_kind_anywhere], lambda _: None)
    assert os.listdir(no_kind_anywhere) == []


def test_no_checksum_refuses_download(no_kind_anywhere: Path, pins: Pins) -> None:
    test_pins = _with_kind_pin(pins, "http://127.0.0.1:9/{version}/kind-{os}-{arch}", None)
    with pytest.raises(ToolError) as e:
        tools.resolve("kind", test_pins, [no_kind_anywhere], lambda _: None)
    assert str(e.value) == (
        "no checksum pinned for kind v0.30.0 linux-amd64: install kind v0.30.0 yourself and put it on PATH"
    )
    assert not no_kind_anywhere.exists() or os.listdir(no_kind_anywhere) == []


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EDGELAB_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tools.default_dir() == tmp_path / "home" / ".cache" / "edgelab" / "bin"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tools.default_dir() == tmp_path / "xdg" / "edgelab" / "bin"
    monkeypatch.setenv("EDGELAB_CACHE", str(tmp_path / "cache"))
    assert tools.default_dir() == tmp_path / "cache" / "bin"
