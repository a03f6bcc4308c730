"""Running a command of the kube layer (kubectl, kind, the node provider's): one way, one error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from edgelab.base.errors import ClusterError


def run(cmd: Sequence[str | os.PathLike[str]], *, timeout: float = 300, env: dict[str, str] | None = None,
        check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `cmd` (text, output captured); with `check`, ClusterError naming the command and its last output when it
    fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False, input=input_text)
    if check and proc.returncode != 0:
        raise ClusterError(f"`{' '.join(str(c) for c in cmd)}` failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc
