"""Hand-made audit events, shaped as the API server writes them at Metadata level (for the unit tests)."""

from __future__ import annotations

from itertools import count
from typing import Any

_ids = count(1)


def event(verb: str, uri: str, at: str, user: dict[str, Any], *, code: int = 200, stage: str = "ResponseComplete",
          audit_id: str | None = None) -> dict[str, Any]:
    """One audit event of `user` received at 2026-11-25T`at`Z; objectRef derived from the URI as the API server does."""
    path, _, _ = uri.partition("?")
    parts = path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    ref: dict[str, Any] = {"apiVersion": parts[1] if parts[0] == "api" else parts[2]}
    if group:
        ref["apiGroup"] = group
    if rest[0] == "namespaces" and len(rest) > 2:
        ref["namespace"], rest = rest[1], rest[2:]
    ref["resource"] = rest[0]
    if len(rest) > 1:
        ref["name"] = rest[1]
    if len(rest) > 2:
        ref["subresource"] = rest[2]
    stamp = f"2026-11-25T{at}.000000Z"
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": audit_id or f"id-{next(_ids)}", "stage": stage, "requestURI": uri, "verb": verb,
            "user": user, "sourceIPs": ["172.18.0.1"], "userAgent": "kubectl/v1.34.4 (linux/amd64) kubernetes/0000000",
            "objectRef": ref, "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": stamp, "stageTimestamp": stamp}
