"""Ctrl-C half-way through `edgelab up` leaves nothing half-made, and the next `up` works.

A real SIGINT to the real CLI, while it deploys the store onto a 1-node
cluster that already exists; then a plain `up` of the same store, which must
bring it up healthy, and `down`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from waiting import Unmet, wait_for

from edgelab import store as storelib
from edgelab.machine import setup

STORE = "9302"
EDGELAB = str(Path(sys.executable).with_name("edgelab"))
HALF_WAY = "deploying the store"  # the cluster exists, the workloads are on their way


def edgelab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDGELAB, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_ctrl_c_half_way_through_up_then_up_again() -> None:
    artifacts = setup()
    storelib.down(STORE, artifacts)  # a store left by an earlier interrupted test run
    proc = subprocess.Popen([EDGELAB, "up", "--store", STORE, "--nodes", "1"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if HALF_WAY in line:
                proc.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail(f"`up` ended before {HALF_WAY!r}: {''.join(seen)[-2000:]}")
        rest, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    seen.append(rest)
    assert proc.returncode != 0, "an interrupted `up` must not claim success"
    assert STORE not in storelib.list_stores(artifacts), \
        f"the half-made store was left behind:\n{''.join(seen)[-2000:]}"
    try:
        again = edgelab("up", "--store", STORE, "--nodes", "1")
        assert again.returncode == 0, f"`up` after Ctrl-C failed:\n{again.stdout[-3000:]}\n{again.stderr[-3000:]}"
        def healthy() -> Any:
            status = edgelab("status", "--store", STORE, "--json", timeout=120)
            return True if json.loads(status.stdout)[0]["healthy"] else Unmet(status.stdout)

        wait_for(healthy, timeout=180, interval=3, what=f"store {STORE} healthy after the second `up`")
    finally:
        down = edgelab("down", "--store", STORE, timeout=300)
    assert down.returncode == 0, down.stderr
