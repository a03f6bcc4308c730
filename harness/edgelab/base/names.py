"""Names every layer shares: a store's own namespaces, where its workloads run."""

from __future__ import annotations

NAMESPACES = ("pos", "payment", "order", "observability")
