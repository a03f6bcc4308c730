"""Named points where the operator can be made to die, so tests can prove it carries on from any of them.

`EDGELAB_FAILPOINT=after-inject:0 kopf run ...` ends the process with exit code
86 (no clean-up, no finally blocks, as a kill would) the moment it reaches that
point. The points, in a Fault's life:

    after-select        plan and records (snapshots) written, nothing changed yet
    after-inject:N      record N changed and marked Injected in the status
    after-recover:N     record N put back and marked Recovered in the status

Unset (always, in a store), every point is a no-op.
"""

from __future__ import annotations

import logging
import os

ENV = "EDGELAB_FAILPOINT"
EXIT_CODE = 86
log = logging.getLogger("edgelab.failpoints")


def reached(point: str) -> None:
    if os.environ.get(ENV) == point:
        log.warning("failpoint %s reached: exiting with %d", point, EXIT_CODE)
        logging.shutdown()
        os._exit(EXIT_CODE)
