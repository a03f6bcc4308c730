"""Fixtures the unit tests share (tests/conftest.py, above, puts every test in its lane; unit tests use no store,
so they all run in the `light` lane). Helpers they import: unitpaths.py, auditfake.py, benchfake.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelab.base.pins import Pins, load


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stores live under XDG_STATE_HOME: point it at an empty directory so no real store is touched."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def pins() -> Pins:
    """The pinned versions (harness/edgelab/pins.yaml)."""
    return load()
