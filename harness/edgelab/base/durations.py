"""Durations as people write them: `90s`, `15m`, `2h` (the operator's own format, edgelab_operator.model)."""

from __future__ import annotations

from edgelab_operator import model
from edgelab_operator.catalogue import InvalidFault


def seconds(text: str) -> float:
    """`90s` → 90.0; InvalidFault for anything else."""
    return model.parse_duration(text).total_seconds()


__all__ = ["InvalidFault", "seconds"]
