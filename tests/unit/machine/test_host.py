"""Host probing that reads only /proc."""

from __future__ import annotations

import re
from pathlib import Path

from edgelab.machine.host import lacks_cap_sys_resource


def test_lacks_cap_sys_resource_matches_capbnd_bit_24() -> None:
    status = Path("/proc/self/status").read_text()
    bounding = int(re.search(r"^CapBnd:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
    has_it = bool(bounding & (1 << 24))  # CAP_SYS_RESOURCE is capability 24
    assert lacks_cap_sys_resource() is (not has_it)
