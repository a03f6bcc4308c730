"""What every store needs (kind, kubectl, the node image, our images), prepared once per run.

`make test` runs `edgelab setup` before pytest, so the tests read its record (`machine.current()`):
no worker, module or fixture builds or re-checks anything. Run without it (a bare `pytest`), the first
caller in each process sets the machine up.
"""

from __future__ import annotations

import functools
import sys

from edgelab import machine
from edgelab.errors import HostError


def _progress(step: str, state: str, seconds: float) -> None:
    if state in ("start", "cached"):
        return
    print(f"[edgelab] {step}: {state}" + (f" ({seconds:.0f}s)" if seconds else ""), file=sys.__stderr__, flush=True)


@functools.cache
def artifacts() -> machine.Artifacts:
    try:
        return machine.current()
    except HostError:
        return machine.setup(report=_progress)
