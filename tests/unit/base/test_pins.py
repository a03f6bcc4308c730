"""pins.yaml is the one place versions live; `load` rejects a file that drifts from `Pins`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from edgelab.base.pins import PINS_FILE, Pins, load


def test_shipped_pins_load() -> None:
    pins = load()
    assert isinstance(pins, Pins)
    assert pins.kubernetes == "v1.34.4"
    assert pins.kind == "v0.30.0"
    # quoted in the YAML: must stay strings, not floats like 3.1
    assert (pins.pause, pins.pause_sandbox) == ("3.10.1", "3.10")
    assert isinstance(pins.python_image_packages, tuple)
    assert all(isinstance(getattr(pins, f.name), str) for f in fields(Pins) if f.name not in ("python_image_packages", "tools"))


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "pins.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_key_is_named(tmp_path: Path) -> None:
    raw = yaml.safe_load(PINS_FILE.read_text())
    raw["kubernetes_nightly"] = "v1.35.0"
    with pytest.raises(ValueError, match="kubernetes_nightly"):
        load.__wrapped__(_write(tmp_path, raw))


def test_missing_key_is_named(tmp_path: Path) -> None:
    raw = yaml.safe_load(PINS_FILE.read_text())
    del raw["etcd_image_tag"]
    with pytest.raises(ValueError, match="missing keys.*etcd_image_tag"):
        load.__wrapped__(_write(tmp_path, raw))


def test_load_of_a_tmp_copy_matches_default(tmp_path: Path) -> None:
    copy = tmp_path / "pins.yaml"
    copy.write_text(PINS_FILE.read_text())
    assert load.__wrapped__(copy) == load()


def test_every_problem_of_the_file_is_reported_at_once(tmp_path: Path) -> None:
    raw = yaml.safe_load(PINS_FILE.read_text())
    raw["kind"] = 0.3                                   # a float, not a string
    del raw["etcd_image_tag"]                           # missing
    raw["tools"]["kubectl"]["sha256"]["linux-amd64"] = "XYZ"  # not hex
    with pytest.raises(ValueError) as e:
        load.__wrapped__(_write(tmp_path, raw))
    lines = str(e.value).splitlines()
    assert any("missing keys ['etcd_image_tag']" in line for line in lines), lines
    assert any("kind: pins must be strings" in line and "0.3" in line for line in lines), lines
    assert any("tools.kubectl.sha256.linux-amd64" in line and "'XYZ'" in line for line in lines), lines
