"""Where the unit tests find things: the repository, and the recorded data and snapshots they share."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parent  # tests/unit
REPO = UNIT.parents[1]
DATA = UNIT / "data"
SNAPSHOTS = UNIT / "snapshots"
