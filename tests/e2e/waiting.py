"""Polling for a condition: the only way e2e tests wait (never a fixed sleep)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from kubernetes.client.exceptions import ApiException

T = TypeVar("T")


class Unmet:
    """A falsey predicate result that still says what was seen.

    Return ``Unmet(detail)`` from a predicate instead of ``False``/``None`` so that a
    time-out reports the last observed state, not just "False".
    """

    __slots__ = ("detail",)

    def __init__(self, detail: object) -> None:
        self.detail = detail

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Unmet({self.detail!r})"


def wait_for(
    predicate: Callable[[], T | Unmet | None],
    *,
    timeout: float,
    interval: float = 1.0,
    what: str,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    An ``ApiException`` (or a ``subprocess.TimeoutExpired`` from a kubectl call) raised
    by the predicate counts as "not yet" and is kept as the last observation. On
    time-out, raise AssertionError naming ``what`` and the last observation.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = predicate()
        except (ApiException, subprocess.TimeoutExpired) as exc:
            last = exc
        else:
            if result and not isinstance(result, Unmet):
                return result
            last = result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail with a stack if the block (a store's set-up in a fixture) takes longer than `seconds`.

    pytest-timeout times the test bodies only (`timeout_func_only`), each sized to its test; a fixture
    that makes a store is sized here, so a hang there too ends in a named failure, not a CI kill.
    """
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what}: not done after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
