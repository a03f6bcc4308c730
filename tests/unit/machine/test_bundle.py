"""Image bundles without Docker: what `load` refuses, and that a refused bundle changes nothing.

Bundles here are small tar files built in tmp_path: fake kind/kubectl (shell
scripts printing the pinned versions), a few KB standing in for images.tar.
Only `bundle._docker_load` (the one call into Docker) is replaced, and only in
the tests that get that far; what a real bundle does is tests/e2e/test_images_bundle.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from typer.testing import CliRunner

from edgelab.base.pins import load as load_pins
from edgelab.cli import app
from edgelab.machine import bundle, prepare, tools
from edgelab.machine import record as machine
from edgelab.machine.bundle import BundleError

PINS = load_pins()
ID = "sha256:" + "ab" * 32
KIND = f"#!/bin/sh\necho 'kind {PINS.kind} go1.24.6 linux/amd64'\n".encode()
KUBECTL = ("#!/bin/sh\necho '{\"clientVersion\": {\"gitVersion\": \"" + PINS.kubernetes + "\"}}'\n").encode()
IMAGES = bytes(range(256)) * 256  # 64 KiB standing in for `docker save`


def one_line(text: str) -> str:
    """Rich wraps long lines at the console width; the message is one logical line."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def air_gapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's edgelab folders, empty, under tmp_path."""
    for var, sub in (("EDGELAB_CONFIG_DIR", "config"), ("EDGELAB_CACHE", "cache"), ("EDGELAB_SYSTEM_DIR", "system")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def manifest(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": 1, "made_by": "edgelab 0.1.0", "created": "2026-11-29T18:00:00+00:00",
        "kubernetes": PINS.kubernetes, "kind": PINS.kind, "platform": tools.platform_key(), "arch": "amd64",
        "mode": "offline", "node_image": PINS.offline_node_image, "python_base_image": PINS.python_base_image,
        "images": [{"name": PINS.offline_node_image, "id": ID}, {"name": PINS.python_base_image, "id": ID},
                   {"name": "byteedge/pos-backend:2.4.1", "id": ID}],
        "tools": {"kind": PINS.kind, "kubectl": PINS.kubernetes},
        "files": {"bin/kind": entry(KIND), "bin/kubectl": entry(KUBECTL), "images.tar": entry(IMAGES)},
    }
    doc.update(changes)
    return doc


def entry(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def make_bundle(path: Path, doc: dict[str, Any] | None = None,
                members: dict[str, bytes] | None = None) -> Path:
    """A bundle laid out as `save` writes it: binaries, images.tar, bundle.json last."""
    members = members if members is not None else {"bin/kind": KIND, "bin/kubectl": KUBECTL, "images.tar": IMAGES}
    if doc is not None or "bundle.json" not in members:
        members = {**members, "bundle.json": json.dumps(manifest() if doc is None else doc).encode()}
    with open(path, "wb") as out:
        writer = bundle._TarWriter(out, 1_700_000_000)
        for name, data in members.items():
            if name == "bundle.json":
                writer.add_bytes(name, data)
            else:
                writer.add_stream(name, io.BytesIO(data), mode=0o755 if name.startswith("bin/") else 0o644)
        writer.close()
    return path


Loaded = list[tuple[bytes, dict[str, str]]]


@pytest.fixture
def docker_loads(monkeypatch: pytest.MonkeyPatch) -> Loaded:
    """Replace the one call into Docker; record what it was given."""
    calls: Loaded = []

    def fake(path: Path, images: IO[bytes], m: bundle.Manifest) -> None:
        calls.append((images.read(), dict(m.images)))

    monkeypatch.setattr(bundle, "_docker_load", fake)
    return calls


def refused(path: Path) -> str:
    with pytest.raises(BundleError) as info:
        bundle.load(path, say=lambda _: None)
    return str(info.value)


def nothing_installed(root: Path) -> None:
    assert not machine.record_path().exists()
    assert not machine.system_record_path().exists()
    for folder in (tools.default_dir(), machine.system_dir() / "bin"):
        assert not folder.exists() or list(folder.iterdir()) == [], f"left behind in {folder}"


# --- the writer -------------------------------------------------------------------------------------


def test_the_writer_makes_a_tar_that_tar_reads(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b.tar")
    with tarfile.open(path) as tar:
        assert [m.name for m in tar.getmembers()] == ["bin/kind", "bin/kubectl", "images.tar", "bundle.json"]
        f = tar.extractfile("images.tar")
        assert f is not None and f.read() == IMAGES
        assert tar.getmember("bin/kind").mode == 0o755
    listing = subprocess.run(["tar", "-tvf", str(path)], capture_output=True, text=True, check=True).stdout
    assert "images.tar" in listing and "bundle.json" in listing


# --- loading a good bundle ------------------------------------------------------------------------------


@pytest.mark.parametrize("uid", [1000, 0], ids=["user", "root"])
def test_a_good_bundle_installs_the_tools_and_records_an_offline_set_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_loads: Loaded, uid: int) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    path = make_bundle(tmp_path / "edgelab-images.tar")
    artifacts = bundle.load(path, say=lambda _: None)

    assert docker_loads == [(IMAGES, {i["name"]: i["id"] for i in manifest()["images"]})]
    bindir = machine.system_dir() / "bin" if uid == 0 else tools.default_dir()
    assert artifacts.kind == bindir / "kind" and artifacts.kubectl == bindir / "kubectl"
    assert tools.version_of("kind", artifacts.kind) == PINS.kind
    assert sorted(p.name for p in bindir.iterdir()) == ["kind", "kubectl"]  # no temporary files left
    recorded = machine.current()
    assert recorded == artifacts
    assert recorded.offline and recorded.runc_wrapper is None and recorded.registry_mirror is None
    assert recorded.reason == f"loaded from bundle {path} (made 2026-11-29 18:00 UTC)"
    assert (recorded.node_image, recorded.python_base_image) == (PINS.offline_node_image, PINS.python_base_image)
    assert machine.system_record_path().exists() == (uid == 0)
    assert bundle.is_loaded(recorded)
    assert not bundle.is_loaded(machine.Artifacts(True, Path("k"), Path("c"), "n", "p", reason="asked for (--offline)"))


# --- what load refuses ------------------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in refused(tmp_path / "nope.tar")


def test_a_file_that_is_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "b.tar"
    path.write_bytes(b"PK\x03\x04 a zip, say" * 100)
    message = refused(path)
    assert "is not an edgelab image bundle (not a tar file" in message
    assert "edgelab images save" in message


def test_a_tar_that_is_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "b.tar"
    with tarfile.open(path, "w") as tar:
        tar.add(__file__, arcname="notes.txt")
    assert "is not an edgelab image bundle (no bundle.json)" in refused(path)


@pytest.mark.parametrize("cut", [
    pytest.param(lambda size, offsets: offsets["images.tar"] + 1000, id="inside-images"),
    pytest.param(lambda size, offsets: offsets["bundle.json"] - 512, id="before-bundle-json"),
    pytest.param(lambda size, offsets: offsets["bundle.json"] + 10, id="inside-bundle-json"),
    pytest.param(lambda size, offsets: offsets["bin/kubectl"] + 3, id="inside-a-binary"),
])
def test_a_truncated_bundle_is_named_truncated_and_changes_nothing(
        tmp_path: Path, docker_loads: Loaded, cut: Callable[[int, dict[str, int]], int]) -> None:
    path = make_bundle(tmp_path / "b.tar")
    with tarfile.open(path) as tar:
        offsets = {m.name: m.offset_data for m in tar.getmembers()}
    os.truncate(path, cut(path.stat().st_size, offsets))
    message = refused(path)
    assert "truncated" in message and "copy it again" in message, message
    assert docker_loads == []
    nothing_installed(tmp_path)


def test_a_bundle_cut_only_in_its_end_blocks_still_loads(tmp_path: Path, docker_loads: Loaded) -> None:
    path = make_bundle(tmp_path / "b.tar")
    os.truncate(path, path.stat().st_size - 1024)  # the two zero blocks that end a tar
    bundle.load(path, say=lambda _: None)
    assert len(docker_loads) == 1


def test_bundle_json_that_is_not_json(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b.tar", members={"bin/kind": KIND, "bin/kubectl": KUBECTL, "images.tar": IMAGES,
                                                   "bundle.json": b"{format: 1"})
    assert "bundle.json is not valid JSON" in refused(path)


def test_every_malformed_field_is_reported_at_once(tmp_path: Path) -> None:
    doc = manifest(kubernetes=7, created="yesterday",
                   images=[{"name": PINS.offline_node_image, "id": "latest"}, {"id": ID}],
                   files={"bin/kind": {"size": -1, "sha256": "x"}, "images.tar": entry(IMAGES), "x": {}})
    message = refused(make_bundle(tmp_path / "b.tar", doc))
    assert "bundle.json is malformed" in message
    for problem in ("kubernetes: must be a non-empty string (got 7)",
                    "created: must be an ISO 8601 time with its zone (got 'yesterday')",
                    "images[0].id: must be sha256:<64 hex digits> (got 'latest')",
                    "images[1].name: must be a non-empty string (got None)",
                    f"python_base_image: must be one of the images (got '{PINS.python_base_image}')",
                    "files.bin/kind.size: must be a byte count (got -1)",
                    "files.bin/kind.sha256: must be 64 lowercase hex digits (got 'x')",
                    "files.bin/kubectl: missing",
                    "files.x: not a file a bundle holds"):
        assert problem in message, problem
    assert message.endswith("make it again with `edgelab images save FILE` on a set-up machine")


def test_a_bundle_json_without_format(tmp_path: Path) -> None:
    doc = manifest()
    del doc["format"]
    assert "bundle.json: format: must be 1 (got None)" in refused(make_bundle(tmp_path / "b.tar", doc))


def test_a_newer_format_names_the_edgelab_that_made_it(tmp_path: Path) -> None:
    message = refused(make_bundle(tmp_path / "b.tar", manifest(format=2, made_by="edgelab 0.9.0")))
    assert "is bundle format 2, made by edgelab 0.9.0" in message
    assert "reads format 1" in message and "load it with edgelab 0.9.0" in message


def test_a_bundle_for_other_pins_names_both_versions(tmp_path: Path, docker_loads: Loaded) -> None:
    message = refused(make_bundle(tmp_path / "b.tar", manifest(made_by="edgelab 0.3.0", kubernetes="v1.35.1")))
    assert (f"was made by edgelab 0.3.0 for Kubernetes v1.35.1 and kind {PINS.kind}; this edgelab (0.1.0) pins "
            f"Kubernetes {PINS.kubernetes} and kind {PINS.kind}") in message
    assert "load it with edgelab 0.3.0, or make a bundle with this edgelab" in message
    assert docker_loads == []
    nothing_installed(tmp_path)


def test_a_bundle_for_another_platform(tmp_path: Path) -> None:
    message = refused(make_bundle(tmp_path / "b.tar", manifest(platform="darwin-arm64")))
    assert f"is for darwin-arm64; this machine is {tools.platform_key()}" in message


def test_a_damaged_image_archive_is_found_before_docker_sees_it(tmp_path: Path, docker_loads: Loaded) -> None:
    bad = bytearray(IMAGES)
    bad[30_000] ^= 0xFF
    path = make_bundle(tmp_path / "b.tar", manifest(), members={"bin/kind": KIND, "bin/kubectl": KUBECTL,
                                                                 "images.tar": bytes(bad)})
    message = refused(path)
    assert f"images.tar has sha256 {hashlib.sha256(bad).hexdigest()}" in message and "damaged" in message
    assert docker_loads == []
    nothing_installed(tmp_path)


def test_a_member_of_another_size(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b.tar", manifest(), members={"bin/kind": KIND + b"\n", "bin/kubectl": KUBECTL,
                                                                 "images.tar": IMAGES})
    assert f"bin/kind is {len(KIND) + 1} bytes, bundle.json says {len(KIND)}" in refused(path)


def test_a_missing_or_extra_member(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b.tar", manifest(), members={"bin/kind": KIND, "images.tar": IMAGES,
                                                                 "evil/../../x": b""})
    message = refused(path)
    assert "does not hold what its bundle.json lists (missing bin/kubectl; unexpected evil/../../x)" in message


def test_a_binary_that_is_not_the_pinned_version_installs_nothing(tmp_path: Path, docker_loads: Loaded) -> None:
    old = b"#!/bin/sh\necho 'kind v0.20.0 go1.21 linux/amd64'\n"
    path = make_bundle(tmp_path / "b.tar", manifest(files={"bin/kind": entry(old), "bin/kubectl": entry(KUBECTL),
                                                           "images.tar": entry(IMAGES)}),
                       members={"bin/kind": old, "bin/kubectl": KUBECTL, "images.tar": IMAGES})
    message = refused(path)
    assert f"its kind reports v0.20.0 (want {PINS.kind})" in message
    assert docker_loads == []
    nothing_installed(tmp_path)


def test_a_failed_docker_load_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(path: Path, images: IO[bytes], m: bundle.Manifest) -> None:
        raise BundleError("`docker load` failed (no space left on device)")

    monkeypatch.setattr(bundle, "_docker_load", fails)
    assert "no space left" in refused(make_bundle(tmp_path / "b.tar"))
    nothing_installed(tmp_path)


# --- save's checks before Docker ----------------------------------------------------------------------


def _artifacts(tmp_path: Path) -> machine.Artifacts:
    return machine.Artifacts(True, tmp_path / "gone" / "kind", tmp_path / "gone" / "kubectl",
                             PINS.offline_node_image, PINS.python_base_image)


def test_save_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="the folder .* does not exist"):
        bundle.save(tmp_path / "no" / "b.tar", _artifacts(tmp_path), say=lambda _: None)


def test_save_refuses_a_set_up_whose_tools_are_gone(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="the set-up's kind at .* is missing .*run `edgelab setup`"):
        bundle.save(tmp_path / "b.tar", _artifacts(tmp_path), say=lambda _: None)
    assert list(tmp_path.glob("b.*")) == []


# --- the commands -------------------------------------------------------------------------------------


def test_images_help_teaches_both_commands() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["images", "--help"])
    assert top.exit_code == 0 and "save" in top.stdout and "load" in top.stdout
    for command in ("save", "load"):
        result = runner.invoke(app, ["images", command, "--help"])
        assert result.exit_code == 0
        assert "Example: " in result.stdout and "--json" in result.stdout


def test_images_load_of_a_bad_file_prints_one_error(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b.tar")
    os.truncate(path, 3000)
    result = CliRunner().invoke(app, ["images", "load", str(path), "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    message = one_line(result.stderr)
    assert message.startswith("error: ") and message.count("error:") == 1 and "truncated" in message
    assert "Traceback" not in result.output


def test_images_save_reads_the_record_and_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_run(*_: object, **__: object) -> None:
        raise AssertionError("images save ran setup")

    monkeypatch.setattr(prepare, "setup", must_not_run)
    result = CliRunner().invoke(app, ["images", "save", "x.tar"])
    assert result.exit_code == 1
    assert "edgelab is not set up on this machine yet" in one_line(result.stderr)
