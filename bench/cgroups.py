"""A Docker container's CPU time as the host's cgroup counts it, for the bench scripts (idle_store.py, suite_cpu.py).

Not a script: they import it (`python bench/X.py` puts bench/ first on the import path).
"""

from __future__ import annotations

import re
from pathlib import Path


def container_cpu(container_id: str) -> float | None:
    """CPU seconds the container (full ID) has used so far, all its processes, from cgroup v1 cpuacct or v2 cpu.stat;
    None where its cgroup is not there or cannot be read."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    try:
        if v1.exists():
            return int(v1.read_text()) / 1e9
        for v2 in (Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),
                   Path(f"/sys/fs/cgroup/docker/{container_id}/cpu.stat")):
            if v2.exists():
                usage = re.search(r"usage_usec (\d+)", v2.read_text())
                return int(usage.group(1)) / 1e6 if usage else None
    except OSError:
        return None
    return None
