"""State files (edgelab.base.files): whole or not at all, and two writers at once both land."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

from edgelab.base import files

ADDS = 150  # per process: enough for unlocked read-change-writes to lose entries nearly every run


def _add_many(path: str, who: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait()
    for i in range(ADDS):
        files.update_json(Path(path), lambda raw, key=f"{who}-{i}": {**raw, key: True}, missing={}, mode=0o600)


def test_two_processes_adding_to_one_registry_lose_nothing(tmp_path: Path) -> None:
    registry = tmp_path / "responders.json"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_add_many, args=(str(registry), who, start)) for who in ("a", "b")]
    for w in workers:
        w.start()
    start.set()  # both at once
    for w in workers:
        w.join(timeout=50)
        assert w.exitcode == 0
    entries = json.loads(registry.read_text())
    assert sorted(entries) == sorted(f"{who}-{i}" for who in ("a", "b") for i in range(ADDS))
    assert registry.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".responders.json.lock", "responders.json"]  # no temp left


def test_a_write_that_fails_leaves_the_old_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    files.write_atomic(state, '{"old": 1}')

    def broken(raw: Any) -> Any:
        raise RuntimeError("half-way")

    try:
        files.update_json(state, broken)
    except RuntimeError:
        pass
    files.write_locked(tmp_path / "other", "x")
    assert state.read_text() == '{"old": 1}'
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
