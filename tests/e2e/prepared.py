"""What every store needs (kind, kubectl, the node image, our images), prepared once per run.

`make test` runs `edgelab setup` before pytest, so the tests read its record (`machine.current()`):
no worker, module or fixture builds or re-checks anything. Run without it (a bare `pytest`), the first
caller in each process sets the machine up.

One test changes the machine's images under everyone's feet: test_images_bundle.py untags the image
names a store is made from (then `images load` must put them back). When it is in the run, the root
conftest names a gate folder (IMAGES_GATE) and the bundle module leaves `done` there when every name is
back; `artifacts()`, which every store-making fixture calls first, waits for it. The bundle test runs first
in its lane, so the other lanes wait about a minute, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from edgelab.base.errors import HostError
from edgelab.kube.cluster import poll
from edgelab.machine import prepare
from edgelab.machine import record as machine


def _progress(step: str, state: str, seconds: float) -> None:
    if state in ("start", "cached"):
        return
    print(f"[edgelab] {step}: {state}" + (f" ({seconds:.0f}s)" if seconds else ""), file=sys.__stderr__, flush=True)


IMAGES_GATE = "EDGELAB_TEST_IMAGES_GATE"
GATE_WAIT_S = 1200


def images_settled() -> None:
    """Until the bundle test (if this run has it) has put every image name back."""
    gate = os.environ.get(IMAGES_GATE)
    if not gate:
        return
    done = Path(gate) / "done"
    poll(f"test_images_bundle.py to leave {done} (if it never does, its lane died or hangs, and the image names "
         "it untags may be missing)", done.exists, GATE_WAIT_S, interval=2)


def images_released() -> None:
    """The bundle test's side of the gate: the image names are back (or it failed and put them back)."""
    gate = os.environ.get(IMAGES_GATE)
    if gate:
        (Path(gate) / "done").touch()


@functools.cache
def artifacts() -> machine.Artifacts:
    images_settled()
    try:
        return machine.current()
    except HostError:
        return prepare.setup(report=_progress)


STORE_SLOTS = int(os.environ.get("EDGELAB_TEST_STORE_SLOTS", "3"))
SLOT_WAIT_S = 3600  # every other lane's store made first, each within its own limit


@contextlib.contextmanager
def store_slot(what: str) -> Iterator[None]:
    """At most STORE_SLOTS stores made at once by the suite's lanes (a lock file per slot, released when the
    holder ends, even killed): making a store is CPU work, and on 2 cores seven at once take each past
    kubeadm's own time limits, while three at a time keep every core busy."""
    folder = Path(tempfile.gettempdir()) / "edgelab-tests-store-slots"
    folder.mkdir(exist_ok=True)
    files = [open(folder / f"{i}.lock", "w") for i in range(STORE_SLOTS)]  # noqa: SIM115

    def free_slot() -> IO[str] | None:
        for f in files:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except BlockingIOError:
                continue
        return None

    try:
        slot = poll(f"a free slot to make {what}", free_slot, SLOT_WAIT_S, interval=1)
        print(f"[edgelab] {what}: making it", file=sys.__stderr__, flush=True)
        try:
            yield
        finally:
            fcntl.flock(slot, fcntl.LOCK_UN)
    finally:
        for f in files:
            f.close()


# --- a lane's stores go when the lane is done --------------------------------------------------------

T = TypeVar("T")
_until_lane_ends: dict[str, contextlib.ExitStack] = {}


def held_until_lane_ends(fixture: str, make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The body of session fixture `fixture` (a generator `make`), torn down when the last test of its lane is
    done (the root conftest calls `lane_done`) rather than when the worker ends: under `-n`, a worker goes on
    with another lane, and a store left standing idle would cost that lane a sixth of a core for nothing."""
    with contextlib.ExitStack() as stack:  # at the session's end, if the lane did not close it first
        _until_lane_ends[fixture] = stack
        yield stack.enter_context(contextlib.contextmanager(make)())


def lane_done(fixtures: Iterable[str]) -> None:
    """Tear down the lane's store fixtures that are up (their own checks of `down` run here, and fail here)."""
    for fixture in sorted(fixtures):
        stack = _until_lane_ends.pop(fixture, None)
        if stack is not None:
            stack.close()
