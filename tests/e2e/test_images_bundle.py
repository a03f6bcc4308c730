"""An air-gapped store's set-up: `edgelab images save` here, `edgelab images load` on a machine without it.

Real Docker, no cluster. The "other machine" is this one with edgelab's
folders pointed at empty ones (config, cache, system) and the bundle's image
names untagged, where that only removes a name: every image stays held by
another tag (the build's `edgelab-cache/...`), and every name is put back on
its saved id afterwards, whatever happens. Because the layers stay in
Docker, `load` here is faster than on a really empty machine.

Do not run it while something else runs `edgelab setup` on the same Docker
engine: a build that finds a name missing rebuilds that image. In the suite it
runs first in its lane, and the other lanes' stores wait for it
(tests/e2e/prepared.py, the images gate).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prepared
import pytest
from typer.testing import CliRunner

from edgelab.base.pins import load as load_pins
from edgelab.cli import app
from edgelab.machine import bundle
from edgelab.machine import docker as engine
from edgelab.machine import record as machine
from edgelab.machine.prepare import setup

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # loading every image a store needs

PINS = load_pins()
runner = CliRunner()


def _note(message: str) -> None:
    print(f"[bundle] {message}", file=sys.__stderr__, flush=True)


def one_line(text: str) -> str:
    """Rich wraps long lines at the console width; the message is one logical line."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Saved:
    path: Path
    summary: dict[str, Any]
    ids: dict[str, str]  # image name -> Docker id, as saved


@pytest.fixture(scope="module", autouse=True)
def images_gate() -> Iterator[None]:
    """The other lanes make their stores once every name is back (in `untagged`'s clean-up), pass or fail."""
    try:
        yield
    finally:
        prepared.images_released()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    setup()  # this machine's real set-up (cached: nothing is built when it is there)
    path = tmp_path_factory.mktemp("bundle") / "edgelab-images.tar"
    result = runner.invoke(app, ["images", "save", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["path"] == str(path) and summary["bytes"] == path.stat().st_size
    assert not path.with_suffix(".partial").exists()
    _note(f"saved {summary['bytes'] / 1e9:.2f} GB, {len(summary['images'])} image names (times: bench/bundle_times.py)")
    return Saved(path, summary, {i["name"]: i["id"] for i in summary["images"]})


@pytest.fixture
def air_gapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """edgelab's folders on "the other machine": empty."""
    for var, sub in (("EDGELAB_CONFIG_DIR", "config"), ("EDGELAB_CACHE", "cache"), ("EDGELAB_SYSTEM_DIR", "system")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


def _tags_of_image(ref: str) -> list[str]:
    proc = _docker("image", "inspect", "--format", "{{json .RepoTags}}", ref)
    return json.loads(proc.stdout) if proc.returncode == 0 else []


@pytest.fixture
def untagged(saved: Saved) -> Iterator[list[str]]:
    """The bundle's names that are only a name (another tag outside the bundle holds the image), untagged.

    Afterwards every name that is missing is put back on its saved id. A name
    that points elsewhere by then was moved by someone else (a build on the
    same engine) and is left alone.
    """
    gone: list[str] = []
    try:
        for name, image_id in saved.ids.items():
            holders = [t for t in _tags_of_image(name) if t not in saved.ids]
            if engine.image_id(name) != image_id or not holders:
                continue  # not safely removable: leave it
            proc = _docker("rmi", name)
            assert proc.returncode == 0 and "Deleted:" not in proc.stdout, proc.stdout + proc.stderr
            gone.append(name)
        yield gone
    finally:
        for name, image_id in saved.ids.items():
            if not engine.image_exists(name):
                _docker("tag", image_id, name)
        assert all(engine.image_exists(n) for n in saved.ids), "a name was not put back"


def _checks(doctor_stdout: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(doctor_stdout)}


def test_load_sets_up_a_machine_without_registry_or_build(saved: Saved, air_gapped: Path,
                                                          untagged: list[str]) -> None:
    assert untagged, "no image name could be untagged safely (each needs another tag holding its image)"
    assert all(not engine.image_exists(n) for n in untagged)
    assert machine.recorded() is None

    result = runner.invoke(app, ["images", "load", str(saved.path), "--json"])
    assert result.exit_code == 0, result.output

    # every name back, on the image it was saved from
    assert {n: engine.image_id(n) for n in saved.ids} == saved.ids

    # the record: offline, from the bundle, the bundle's images, no runc wrapper
    record = json.loads(machine.record_path().read_text())
    assert record["mode"] == "offline" and record["offline"] is True
    assert record["reason"].startswith(f"loaded from bundle {saved.path} (made ")
    assert record["node_image"] == saved.summary["images"][0]["name"]
    assert record["runc_wrapper"] is None
    assert json.loads(result.stdout) == record

    # kind and kubectl, in the new folders, run and are the pinned versions
    assert Path(record["kind"]).parent in (machine.system_dir() / "bin", air_gapped / "cache" / "bin")
    kind = subprocess.run([record["kind"], "version"], capture_output=True, text=True, check=True).stdout
    assert kind.startswith(f"kind {PINS.kind} ")
    kubectl = subprocess.run([record["kubectl"], "version", "--client", "-o", "json"], capture_output=True,
                             text=True, check=True).stdout
    assert json.loads(kubectl)["clientVersion"]["gitVersion"] == PINS.kubernetes

    doctor = runner.invoke(app, ["doctor", "--json"])
    checks = _checks(doctor.stdout)
    for name in ("setup", "kind", "kubectl", "images"):
        assert checks[name]["ok"], checks[name]
    assert "loaded from bundle" in checks["setup"]["detail"]
    loaded = machine.current()
    assert bundle.is_loaded(loaded)
    bundle.check_loaded(loaded)  # what `setup` can check instead of building

    # `setup` (and so `make up`) on the loaded machine takes the bundle's set-up: nothing is built
    again = runner.invoke(app, ["setup", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["reason"] == loaded.reason
    assert machine.current() == loaded
    assert not (air_gapped / "cache" / "artifacts").exists()  # no pipeline ran


def test_a_truncated_bundle_fails_in_one_line_and_changes_nothing(saved: Saved, air_gapped: Path) -> None:
    with tarfile.open(saved.path) as tar:
        cut_at = tar.getmember("images.tar").offset_data + (8 << 20)
    cut = air_gapped / "cut-off.tar"
    with open(saved.path, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(cut_at))

    result = runner.invoke(app, ["images", "load", str(cut)])

    assert result.exit_code == 1
    message = one_line(result.stderr)  # progress ("checking FILE"), then the one error
    assert message.count("error:") == 1, message
    assert message[message.index("error:"):].startswith(f"error: {cut} is truncated"), message
    assert "copy it again" in message and "Traceback" not in result.output
    assert not machine.record_path().exists() and not machine.system_record_path().exists()
    assert not (machine.system_dir() / "bin" / "kind").exists()
    assert not (air_gapped / "cache" / "bin" / "kind").exists()
    assert {n: engine.image_id(n) for n in saved.ids} == saved.ids
