"""Host probing that reads only /proc."""

from __future__ import annotations

import re
from pathlib import Path

from edgelab.machine import host
from edgelab.machine.host import lacks_cap_sys_resource


def test_lacks_cap_sys_resource_matches_capbnd_bit_24() -> None:
    status = Path("/proc/self/status").read_text()
    bounding = int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    has_it = bool(bounding & (1 << 24))  # CAP_SYS_RESOURCE is capability 24
    assert lacks_cap_sys_resource() is (not has_it)


def test_inotify_shortfall_names_the_limit_the_nodes_and_the_fix() -> None:
    """kind's known issue: 128 instances (a stock Linux) hold about four nodes; 512 (what the fix sets) many."""
    assert host.inotify_shortfall(4, 128) is None
    short = host.inotify_shortfall(5, 128)
    assert short is not None and "is 128" in short and "5 kind node(s)" in short
    assert "sudo sysctl -w fs.inotify.max_user_instances=512" in short and "never changes it" in short
    assert host.inotify_shortfall(18, 512) is None
    assert host.inotify_shortfall(50, None) is None  # Docker in a VM: not readable, nothing claimed
