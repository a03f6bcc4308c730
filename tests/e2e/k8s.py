"""Plain-dict manifest builders and kubectl-like reads shared by the e2e tests.

Every workload here runs the cluster's preloaded test image with
``imagePullPolicy: IfNotPresent`` (no registry is reachable), small requests and a
1 s termination grace period, so that tests start and clean up fast on 2 cores.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client
from waiting import Unmet, wait_for

POD_START_TIMEOUT = 90.0
HTTP_PORT = 8080

# Small enough for 2 cores shared by three nodes; the memory limit leaves room for a
# python3 http.server (about 15 MiB resident).
SMALL_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "10m", "memory": "32Mi"},
    "limits": {"cpu": "250m", "memory": "64Mi"},
}

# Keeps pods off the control plane by rule rather than relying on its taint alone.
NOT_ON_CONTROL_PLANE: dict[str, Any] = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}
            ]
        }
    }
}


class Cluster(Protocol):
    """What the e2e tests use of conftest's session ``cluster`` fixture."""

    @property
    def name(self) -> str: ...
    @property
    def kubeconfig(self) -> Path: ...
    @property
    def control_plane(self) -> str: ...
    @property
    def workers(self) -> list[str]: ...
    @property
    def test_image(self) -> str: ...

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]: ...

    def docker_exec(self, node: str, *cmd: str) -> subprocess.CompletedProcess[str]: ...


def unique(prefix: str) -> str:
    """A resource name with a random suffix, e.g. ``web-3f9a1c``."""
    return f"{prefix}-{secrets.token_hex(3)}"


# --- manifest builders -------------------------------------------------------------


def container(
    image: str,
    command: list[str],
    *,
    name: str = "main",
    pull_policy: str = "IfNotPresent",
    resources: dict[str, dict[str, str]] | None = None,
    env: list[dict[str, Any]] | None = None,
    port: int | None = None,
    readiness_path: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": command,
        "resources": resources if resources is not None else SMALL_RESOURCES,
    }
    if env:
        body["env"] = env
    if port is not None:
        body["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    if readiness_path is not None and port is not None:
        body["readinessProbe"] = {
            "httpGet": {"path": readiness_path, "port": port},
            "periodSeconds": 2,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
    return body


def sleeper(image: str) -> dict[str, Any]:
    """A container that idles, to exec into."""
    return container(image, ["sleep", "infinity"])


def http_server(image: str) -> dict[str, Any]:
    """``python3 -m http.server 8080`` serving ``/who`` = "<pod name> <node name>"."""
    script = (
        'mkdir -p /tmp/www && echo "$POD_NAME $NODE_NAME" > /tmp/www/who'
        f" && exec python3 -m http.server {HTTP_PORT} --directory /tmp/www"
    )
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
    ]
    return container(image, ["sh", "-c", script], env=env, port=HTTP_PORT, readiness_path="/who")


def pod_spec(
    *containers: dict[str, Any],
    restart_policy: str = "Always",
    node_name: str | None = None,
    node_selector: dict[str, str] | None = None,
    affinity: dict[str, Any] | None = None,
    spread: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": list(containers),
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
    }
    if node_name is not None:
        spec["nodeName"] = node_name
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if affinity is not None:
        spec["affinity"] = affinity
    if spread is not None:
        spec["topologySpreadConstraints"] = spread
    return spec


def pod(name: str, spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def deployment(name: str, replicas: int, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def service(name: str, selector: dict[str, str], *, port: int = 80, target_port: int = HTTP_PORT) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}],
        },
    }


def service_url(name: str, namespace: str, path: str = "/who", port: int = 80) -> str:
    return f"http://{name}.{namespace}.svc.cluster.local:{port}{path}"


# --- reads -------------------------------------------------------------------------


def condition(conditions: list[Any] | None, kind: str) -> Any | None:
    """The condition of type ``kind`` (pod, node, ...), or None."""
    return next((c for c in conditions or [] if c.type == kind), None)


def is_pod_ready(p: client.V1Pod) -> bool:
    ready = condition(p.status.conditions, "Ready")
    return p.status.phase == "Running" and ready is not None and ready.status == "True"


def pod_container_state(
    core: client.CoreV1Api, namespace: str, name: str, container_name: str = "main"
) -> client.V1ContainerStatus | None:
    """The container's status as ``kubectl get pod -o yaml`` shows it, or None if not reported."""
    p = core.read_namespaced_pod(name, namespace)
    statuses = p.status.container_statuses or []
    return next((s for s in statuses if s.name == container_name), None)


def waiting_reason(status: client.V1ContainerStatus | None) -> str | None:
    if status is None or status.state is None or status.state.waiting is None:
        return None
    reason: str | None = status.state.waiting.reason
    return reason


def wait_pod_ready(
    core: client.CoreV1Api, namespace: str, name: str, timeout: float = POD_START_TIMEOUT
) -> client.V1Pod:
    def ready() -> client.V1Pod | Unmet:
        p = core.read_namespaced_pod(name, namespace)
        if is_pod_ready(p):
            return p
        statuses = [(s.name, s.state) for s in p.status.container_statuses or []]
        return Unmet({"phase": p.status.phase, "containers": statuses})

    return wait_for(ready, timeout=timeout, what=f"pod {namespace}/{name} Ready")


def wait_deployment_ready(
    apps: client.AppsV1Api, namespace: str, name: str, replicas: int, timeout: float = 120
) -> client.V1Deployment:
    def ready() -> client.V1Deployment | Unmet:
        d = apps.read_namespaced_deployment(name, namespace)
        s = d.status
        done = (
            (s.observed_generation or 0) >= (d.metadata.generation or 0)
            and s.ready_replicas == replicas
            and s.available_replicas == replicas
            and s.updated_replicas == replicas
            and (s.replicas or 0) == replicas
        )
        if done:
            return d
        return Unmet({"ready": s.ready_replicas, "available": s.available_replicas, "total": s.replicas})

    return wait_for(ready, timeout=timeout, what=f"deployment {namespace}/{name} {replicas}/{replicas} Ready")


def events_for(core: client.CoreV1Api, namespace: str, name: str) -> list[client.CoreV1Event]:
    """Events about the object ``name``, as ``kubectl describe`` lists them."""
    items: list[client.CoreV1Event] = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return items


def wait_for_event(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    *,
    reason: str,
    message_contains: str,
    event_type: str = "Warning",
    timeout: float = 60,
) -> client.CoreV1Event:
    def found() -> client.CoreV1Event | Unmet:
        events = events_for(core, namespace, name)
        for e in events:
            if e.type == event_type and e.reason == reason and message_contains in (e.message or ""):
                return e
        return Unmet([(e.type, e.reason, e.message) for e in events])

    what = f"{event_type} event {reason!r} containing {message_contains!r}"
    return wait_for(found, timeout=timeout, what=f"{what} for {namespace}/{name}")


# --- HTTP from inside a pod ----------------------------------------------------------

# Run with `python3 -c` in a client pod (the test image has no curl/wget). Prints one
# line "<outcome> <detail>"; outcome is ok, timeout, refused, unreachable or error.
_HTTP_GET = """
import errno, socket, sys, urllib.error, urllib.request
url, timeout = sys.argv[1], float(sys.argv[2])
def kind(exc):
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"
try:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        print("ok", r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print("error", "HTTP", e.code)
    sys.exit(2)
except urllib.error.URLError as e:
    print(kind(e.reason), repr(e.reason))
    sys.exit(2)
except OSError as e:
    print(kind(e), repr(e))
    sys.exit(2)
"""

BLOCKED = frozenset({"timeout", "refused", "unreachable"})


@dataclass(frozen=True)
class HttpOutcome:
    outcome: str  # ok, timeout, refused, unreachable, error, or exec-failed
    status: int | None
    body: str
    raw: str

    @property
    def ok(self) -> bool:
        return self.outcome == "ok" and self.status == 200

    @property
    def blocked(self) -> bool:
        """The request died at the network layer (what a NetworkPolicy does)."""
        return self.outcome in BLOCKED

    def __bool__(self) -> bool:  # so a poll for success reads naturally
        return self.ok


def http_get_from_pod(cluster: Cluster, namespace: str, pod_name: str, url: str, *, timeout: float = 5) -> HttpOutcome:
    """GET ``url`` from inside ``pod_name`` (its network namespace, its policies)."""
    proc = cluster.kubectl(
        "exec",
        "-n",
        namespace,
        pod_name,
        "--",
        "python3",
        "-c",
        _HTTP_GET,
        url,
        str(timeout),
        check=False,
        timeout=timeout + 30,
    )
    lines = proc.stdout.strip().splitlines()
    raw = f"rc={proc.returncode} stdout={proc.stdout.strip()!r} stderr={proc.stderr.strip()!r}"
    if not lines:
        return HttpOutcome("exec-failed", None, "", raw)
    words = lines[-1].split(" ", 2)
    if words[0] == "ok" and len(words) >= 2:
        return HttpOutcome("ok", int(words[1]), words[2] if len(words) > 2 else "", raw)
    return HttpOutcome(words[0], None, "", raw)
