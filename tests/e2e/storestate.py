"""The tests' own picture of a store's objects, to judge "restored exactly" without the operator's help.

Every object of the kinds a fault can change (Deployments, ConfigMaps,
Secrets, Services, NetworkPolicies) in the store's namespaces, as the API
returns it, minus what the API server and controllers own (resourceVersion,
uid, timestamps, managedFields, status, the Deployment controller's revision
annotation). Written here, apart from the operator's `clean`, so that a bug
in the operator cannot hide itself; and taken of the whole store, so that a
fault that touched something it did not record shows too.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client

from edgelab.base.names import NAMESPACES

SERVER_OWNED = {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"}
CONTROLLER_ANNOTATIONS = {"deployment.kubernetes.io/revision"}


def _normal(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_OWNED}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in CONTROLLER_ANNOTATIONS}
    meta["annotations"] = annotations
    meta["labels"] = meta.get("labels") or {}
    return {**{k: v for k, v in obj.items() if k not in ("status", "metadata")}, "metadata": meta}


def take(api: client.ApiClient) -> dict[str, dict[str, Any]]:
    """kind/namespace/name -> the object as its owner wrote it."""
    apps, core, net = client.AppsV1Api(api), client.CoreV1Api(api), client.NetworkingV1Api(api)
    out: dict[str, dict[str, Any]] = {}
    for ns in NAMESPACES:
        lists: dict[str, Any] = {
            "Deployment": apps.list_namespaced_deployment(ns), "ConfigMap": core.list_namespaced_config_map(ns),
            "Secret": core.list_namespaced_secret(ns), "Service": core.list_namespaced_service(ns),
            "NetworkPolicy": net.list_namespaced_network_policy(ns)}
        for kind, listed in lists.items():
            for item in listed.items:
                obj = api.sanitize_for_serialization(item)
                out[f"{kind}/{ns}/{obj['metadata']['name']}"] = _normal(obj)
    return out


def changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
    """What differs between two pictures: objects gone, new or changed (with the first differing field)."""
    out = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            out.append(f"{key}: gone")
        elif key not in before:
            out.append(f"{key}: new")
        elif before[key] != after[key]:
            fields = sorted(f for f in set(before[key]) | set(after[key]) if before[key].get(f) != after[key].get(f))
            out.append(f"{key}: {', '.join(fields)} differ")
    return out
