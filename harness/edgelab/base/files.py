"""State files written whole or not at all, one writer at a time.

Every state file of edgelab (the set-up record, a store's record and its responder registry, a lab's
attempt, a drill's state) goes through here: the new content goes to a temporary file beside the target,
then `os.replace` puts it in place, so a reader sees the old file or the new one, never half of one. A
read-change-write (`update_json`) holds an exclusive `flock` on a lock file beside the target for its
whole length, so two processes adding to one registry at once both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _new_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0666 less this process's umask."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def locked(path: Path, lock_file: Path | None = None) -> Iterator[None]:
    """Hold the exclusive lock of `path` (`lock_file`, else a `.<name>.lock` beside it) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file or path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Replace `path` with `text` in one step; `mode` sets the file's permissions (else a new file's, by umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(name, _new_file_mode() if mode is None else mode)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_locked(path: Path, text: str, mode: int | None = None, lock_file: Path | None = None) -> None:
    """`write_atomic` while holding `path`'s lock: never between another writer's read and write."""
    with locked(path, lock_file):
        write_atomic(path, text, mode)


def update_json(path: Path, change: Callable[[Any], Any], missing: Any = None, mode: int | None = None,
                indent: int | None = 2, end: str = "\n") -> Any:
    """Read `path` (JSON; `missing` when absent), write `change(data)` back, all under `path`'s lock; the new data."""
    with locked(path):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            data = missing
        new = change(data)
        write_atomic(path, json.dumps(new, indent=indent) + end, mode)
        return new
