"""The store's manifests (manifests/store/): the course's architecture, sane resources, one
image list, settings the program understands, and nothing a learner reads that gives a
fault away."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from unitpaths import REPO

from edgelab.edgeapp import SERVICES
from edgelab.edgeapp.settings import ConfigError, Settings

ROOT = REPO
STORE = ROOT / "manifests" / "store"
FILES = ("namespaces.yaml", "pos.yaml", "payment.yaml", "order.yaml", "observability.yaml")
# Course, "Byte Edge K8s Architecture" (plus the collector the observability namespace runs).
REPLICAS = {
    ("pos", "pos-backend"): 3,
    ("pos", "pos-frontend"): 2,
    ("payment", "payment-processor"): 2,
    ("order", "order-service"): 2,
    ("observability", "hyperdx"): 1,
    ("observability", "clickhouse"): 1,
    ("observability", "otel-collector"): 1,
}
SERVICES_BY_NAME = {
    ("pos", "pos-backend-service"): "pos-backend",
    ("pos", "pos-frontend"): "pos-frontend",
    ("payment", "payment-service"): "payment-processor",
    ("order", "order-service"): "order-service",
    ("observability", "hyperdx-service"): "hyperdx",
    ("observability", "clickhouse"): "clickhouse",
    ("observability", "otel-collector"): "otel-collector",
}
# What the one-node store offers (~1.5 CPU, 3 GiB allocatable) minus room for kube-system.
MAX_REQUESTS = (1.0, 2 * 1024)  # CPU cores, MiB


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((STORE / name).read_text()) if d]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [d for f in FILES for d in load(f)]


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    return yaml.safe_load((STORE / "images.yaml").read_text())


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects if o["kind"] == kind}


def containers(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for deploy in of_kind(objects, "Deployment").values():
        for container in deploy["spec"]["template"]["spec"]["containers"]:
            yield deploy, container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def quantity(value: str) -> float:
    """CPU in cores or memory in MiB."""
    units = {"m": 1 / 1000, "Mi": 1, "Gi": 1024, "Ki": 1 / 1024}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


# --- shape -------------------------------------------------------------------------------------


def test_every_manifest_parses_into_named_objects() -> None:
    for name in (*FILES, "images.yaml"):
        docs = list(yaml.safe_load_all((STORE / name).read_text()))
        assert docs, name
    for obj in (d for f in FILES for d in load(f)):
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
        assert obj["metadata"].get("name"), obj


def test_namespaces_and_workloads_follow_the_course(objects: list[dict[str, Any]]) -> None:
    namespaces = {name for _, name in of_kind(objects, "Namespace")}
    assert namespaces == {"pos", "payment", "order", "observability"}
    assert all(o["metadata"]["namespace"] in namespaces for o in objects if o["kind"] != "Namespace")
    deployments = of_kind(objects, "Deployment")
    assert {k: d["spec"]["replicas"] for k, d in deployments.items()} == REPLICAS
    assert set(of_kind(objects, "Service")) == set(SERVICES_BY_NAME)
    assert set(of_kind(objects, "ConfigMap")) >= {("pos", "pos-config")}
    assert set(of_kind(objects, "Secret")) == {("payment", "payment-secret"), ("order", "order-secret")}


def test_pos_backend_service_maps_80_to_8080(objects: list[dict[str, Any]]) -> None:
    (port,) = of_kind(objects, "Service")[("pos", "pos-backend-service")]["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, 8080)


def test_services_select_pods_that_exist_on_a_port_they_listen_on(objects: list[dict[str, Any]]) -> None:
    deployments = of_kind(objects, "Deployment")
    for (ns, name), svc in of_kind(objects, "Service").items():
        selector = svc["spec"]["selector"]
        matches = [
            d
            for (dns, _), d in deployments.items()
            if dns == ns and selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert [d["metadata"]["name"] for d in matches] == [SERVICES_BY_NAME[(ns, name)]], (ns, name)
        ports = {p["containerPort"] for c in matches[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert all(p["targetPort"] in ports for p in svc["spec"]["ports"]), (ns, name)


def test_deployments_select_their_own_pods(objects: list[dict[str, Any]]) -> None:
    for (_, name), deploy in of_kind(objects, "Deployment").items():
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert deploy["spec"]["selector"] == {"matchLabels": {"app": name}}
        assert labels["app"] == name
        assert deploy["metadata"]["labels"]["app"] == name
        assert labels["app.kubernetes.io/part-of"] == "byteedge-store"
        assert "tier" in labels
        spec = deploy["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] <= 5
        assert spec["topologySpreadConstraints"] == [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app": name}},
            }
        ]


# --- containers --------------------------------------------------------------------------------


def test_images_come_from_images_yaml(objects: list[dict[str, Any]], images: dict[str, str]) -> None:
    assert set(images) == set(SERVICES)
    assert all(re.fullmatch(r"byteedge/[a-z-]+:\d+\.\d+\.\d+", image) for image in images.values()), images
    used = {}
    for deploy, container in containers(objects):
        service = env_of(container)["SERVICE_NAME"]
        assert service == deploy["metadata"]["name"] == container["name"]
        assert container["image"] == images[service], service
        assert container["imagePullPolicy"] == "IfNotPresent", service
        used[service] = container["image"]
    assert used == images


def test_every_container_has_requests_limits_and_probes(objects: list[dict[str, Any]]) -> None:
    cpu = mem = 0.0
    for deploy, container in containers(objects):
        name = container["name"]
        resources = container["resources"]
        for part in ("requests", "limits"):
            assert set(resources[part]) == {"cpu", "memory"}, (name, part)
        assert quantity(resources["requests"]["cpu"]) <= quantity(resources["limits"]["cpu"]), name
        assert quantity(resources["requests"]["memory"]) <= quantity(resources["limits"]["memory"]), name
        assert quantity(resources["limits"]["memory"]) >= 96, f"{name}: the program needs ~40 MiB"
        cpu += quantity(resources["requests"]["cpu"]) * deploy["spec"]["replicas"]
        mem += quantity(resources["requests"]["memory"]) * deploy["spec"]["replicas"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/ping"), name
    assert cpu <= MAX_REQUESTS[0] and mem <= MAX_REQUESTS[1], f"the store requests {cpu} CPU and {mem} MiB"


def _settings_for(
    container: dict[str, Any], spec: dict[str, Any], objects: list[dict[str, Any]], namespace: str, tmp: Path
) -> dict[str, str]:
    """The container's env, with its mounted ConfigMap/Secret written out as files."""
    env = env_of(container)
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    folders = {"/etc/byteedge/config": "CONFIG_DIR", "/etc/byteedge/secrets": "SECRETS_DIR"}
    for volume in spec.get("volumes", []):
        path = mounts[volume["name"]]
        folder = tmp / volume["name"]
        folder.mkdir()
        env[folders[path]] = str(folder)
        if "configMap" in volume:
            data = of_kind(objects, "ConfigMap")[(namespace, volume["configMap"]["name"])]["data"]
        else:
            raw = of_kind(objects, "Secret")[(namespace, volume["secret"]["secretName"])]["data"]
            data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
        for key, value in data.items():
            (folder / key).write_text(value)
    for key in folders.values():
        env.setdefault(key, str(tmp / "absent"))
    return env


def test_config_and_secrets_are_settings_the_program_accepts(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    for deploy, container in containers(objects):
        service = SERVICES[container["name"]]
        folder = tmp_path / container["name"]
        folder.mkdir()
        env = _settings_for(
            container, deploy["spec"]["template"]["spec"], objects, deploy["metadata"]["namespace"], folder
        )
        known = {s.key for s in service.all_settings()}
        for path in (Path(env["CONFIG_DIR"]), Path(env["SECRETS_DIR"])):
            unknown = {p.name for p in path.glob("*")} - known if path.exists() else set()
            assert not unknown, f"{container['name']}: {unknown} are not settings of the program"
        try:
            Settings.load(service.all_settings(), env)
        except ConfigError as err:
            pytest.fail(f"{container['name']}: {err}")


def test_downstream_urls_name_real_services(objects: list[dict[str, Any]]) -> None:
    services = of_kind(objects, "Service")
    values = [v for _, c in containers(objects) for v in env_of(c).values()]
    values += [v for cm in of_kind(objects, "ConfigMap").values() for v in cm["data"].values()]
    urls = [urlsplit(v) for v in values if v.startswith("http")]
    assert len(urls) >= 5
    for url in urls:
        name, namespace, *rest = (url.hostname or "").split(".")
        assert rest == ["svc", "cluster", "local"], url.geturl()
        ports = {p["port"] for p in services[(namespace, name)]["spec"]["ports"]}
        assert (url.port or 80) in ports, url.geturl()


def test_pos_config_and_payment_secret_hold_what_the_course_shows(objects: list[dict[str, Any]]) -> None:
    pos_config = of_kind(objects, "ConfigMap")[("pos", "pos-config")]["data"]
    assert {"api_endpoint", "log_level"} <= pos_config.keys()
    assert pos_config["api_endpoint"] == "http://payment-service.payment.svc.cluster.local"
    secret = of_kind(objects, "Secret")[("payment", "payment-secret")]
    assert set(secret["data"]) == {"api_key"}


@pytest.mark.timeout(60)
def test_each_workload_starts_with_its_manifest_settings(objects: list[dict[str, Any]], tmp_path: Path) -> None:
    """Run every container's program with its manifest's env and mounts (port 0): it must start cleanly."""
    for deploy, container in containers(objects):
        name = container["name"]
        folder = tmp_path / name
        folder.mkdir()
        env = _settings_for(
            container, deploy["spec"]["template"]["spec"], objects, deploy["metadata"]["namespace"], folder
        )
        env |= {
            "PORT": "0",
            "BIND_ADDRESS": "127.0.0.1",
            "PYTHONPATH": str(ROOT / "harness" / "edgelab"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeapp"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if f"main: {name} started" in line or "cannot start" in line:
                break
        proc.terminate()
        rest, _ = proc.communicate(timeout=10)
        log = "".join(lines) + rest
        assert f"main: {name} started" in log, log
        assert proc.returncode == 0, log
        assert "WARN  config:" not in log and "ERROR" not in log, log


# --- nothing gives the fault away --------------------------------------------------------------

_SPOILER = re.compile(r"^(fault|chaos|inject|crash|oom|leak)|^(break|breaks|breaking|breakage|broke|broken)$|labs?$")
_TOKENS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def spoilers(text: str) -> list[str]:
    """Words in `text` that name a fault or the exercise (camelCase, snake_case, kebab-case split)."""
    return [t for t in _TOKENS.findall(text) if _SPOILER.search(t.lower())]


def test_the_spoiler_check_catches_what_it_should() -> None:
    for text in (
        "FAULT=crash",
        "edgelab",
        "chaos-mesh",
        "OOMKilled",
        "memoryLeak",
        "inject_latency",
        "break-glass",
        "lab",
        "byteedge-labs",
        "broken",
    ):
        assert spoilers(text), text
    for text in (
        "breakfast",
        "available",
        "mushroom",
        "labels",
        "app.kubernetes.io/part-of",
        "collaboration",
        "payment-processor",
        "receipt_cache_max_entries",
        "byteedge-store",
        "tier",
        "tax_recalc_interval_ms",
    ):
        assert not spoilers(text), text


def _readable(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """Every string a learner can read through the API: names, labels, annotations, env, config, secrets."""

    def meta(where: str, metadata: dict[str, Any]) -> Iterator[tuple[str, str]]:
        yield where, metadata["name"]
        for part in ("labels", "annotations"):
            for key, value in (metadata.get(part) or {}).items():
                yield f"{where} {part}", f"{key}={value}"

    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        yield from meta(where, obj["metadata"])
        template = obj.get("spec", {}).get("template")
        if template:
            yield from meta(f"{where} template", {"name": "", **template["metadata"]})
            for c in template["spec"]["containers"]:
                yield f"{where} container", c["name"]
                yield f"{where} image", c["image"]
                for arg in (*c.get("command", []), *c.get("args", [])):
                    yield f"{where} command", arg
                for e in c.get("env", []):
                    yield f"{where} env", f"{e['name']}={e.get('value', '')}"
                for m in c.get("volumeMounts", []):
                    yield f"{where} mount", f"{m['name']}={m['mountPath']}"
            for v in template["spec"].get("volumes", []):
                yield f"{where} volume", v["name"]
        for key, value in (obj.get("data") or {}).items():
            if obj["kind"] == "Secret":
                value = base64.b64decode(value).decode()
            yield f"{where} data", f"{key}={value}"
        if obj["kind"] == "Service":
            for port in obj["spec"]["ports"]:
                yield f"{where} port", str(port.get("name", ""))


def test_nothing_a_learner_reads_names_a_fault(objects: list[dict[str, Any]], images: dict[str, str]) -> None:
    found = [(where, text, words) for where, text in _readable(objects) if (words := spoilers(text))]
    found += [("images.yaml", image, words) for image in images.values() if (words := spoilers(image))]
    assert not found, found


# --- headroom: the course's remediations fit on every box -------------------------------------

ADDONS = ROOT / "manifests" / "addons"
OPERATOR = ROOT / "manifests" / "operator" / "operator.yaml"
# What the kind node's own pods request, not from a manifest of ours (kubeadm v1.34 static pods
# and its CoreDNS Deployment; measured with `kubectl describe node` on a 1-node store; the
# control-plane node only). kube-proxy and local-path-provisioner request nothing.
KUBEADM_REQUESTS = {  # pod: (CPU cores, memory MiB)
    "kube-apiserver": (0.25, 0),
    "kube-controller-manager": (0.2, 0),
    "kube-scheduler": (0.1, 0),
    "etcd": (0.1, 100),
    "coredns-1": (0.1, 70),
    "coredns-2": (0.1, 70),
}


def pod_requests(template: dict[str, Any]) -> tuple[float, float]:
    """(CPU cores, memory MiB) one pod of the template asks for."""
    cpu = mem = 0.0
    for c in template["spec"]["containers"]:
        requests = c.get("resources", {}).get("requests", {})
        cpu += quantity(requests.get("cpu", "0"))
        mem += quantity(requests.get("memory", "0"))
    return cpu, mem


def surge_pods(deploy: dict[str, Any]) -> int:
    """Extra pods a rollout of the deployment creates at most (the Deployment controller's rule)."""
    strategy = deploy["spec"].get("strategy", {})
    if strategy.get("type") == "Recreate":
        return 0
    value = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
    replicas = deploy["spec"].get("replicas", 1)
    if isinstance(value, str) and value.endswith("%"):
        return -(-replicas * int(value[:-1]) // 100)  # rounded up, as the controller does
    return int(value)


def box_load(nodes: int, store_objects: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """What each node must hold in the worst case: (node, CPU, MiB).

    Every pod that may move (store workloads, their rollouts' surge pods all at once,
    metrics-server, the fleet agent) is counted on the control-plane node, which also runs
    the kubeadm pods: that is where they all land on a 1-node store, or on a larger one
    whose workers failed. Workers hold only their DaemonSet pods (kube-router, node agent).
    """
    ours = [d for f in [*sorted(ADDONS.glob("*.yaml")), OPERATOR] for d in yaml.safe_load_all(f.read_text()) if d]
    per_node = [pod_requests(d["spec"]["template"]) for d in ours if d["kind"] == "DaemonSet"]
    movable = [(pod_requests(d["spec"]["template"]), d["spec"].get("replicas", 1) + surge)
               for d, surge in [(d, 0) for d in ours if d["kind"] == "Deployment"]
               + [(d, surge_pods(d)) for d in store_objects if d["kind"] == "Deployment"]]
    daemon = (sum(c for c, _ in per_node), sum(m for _, m in per_node))
    cp_cpu = sum(c for c, _ in KUBEADM_REQUESTS.values()) + daemon[0] + sum(c * n for (c, _), n in movable)
    cp_mem = sum(m for _, m in KUBEADM_REQUESTS.values()) + daemon[1] + sum(m * n for (_, m), n in movable)
    return [("control-plane", cp_cpu, cp_mem)] + [(f"worker{i}", *daemon) for i in range(1, nodes)]


@pytest.mark.parametrize("nodes", [1, 2, 3])
@pytest.mark.parametrize("profile", ["edge-small", "edge-standard"])
def test_every_rollout_at_once_fits_the_box(objects: list[dict[str, Any]], nodes: int, profile: str) -> None:
    """A rollout restart/undo of every store deployment at once, with the store at its baseline,
    leaves no pod Pending: requests plus every surge pod fit the box's allocatable
    (kubelet systemReserved = host − box, so allocatable is the box; docs/store.md)."""
    from edgelab.store import stores as store

    box = store.profile(profile)
    for node, cpu, mem in box_load(nodes, objects):
        assert cpu <= box.cpus, f"{profile}, {nodes} node(s): {node} needs {cpu * 1000:.0f}m CPU of {box.cpus * 1000:.0f}m"
        assert mem <= box.memory_bytes >> 20, f"{profile}, {nodes} node(s): {node} needs {mem:.0f}Mi of the box"


def test_the_headroom_check_counts_surge_pods(objects: list[dict[str, Any]]) -> None:
    """The count is the peak measured on a 1-node store while every store deployment restarted
    at once (`kubectl describe node`: 1395m, docs/store.md), and a strategy change shows in it."""
    ((_, cpu, mem),) = box_load(1, objects)
    assert (round(cpu * 1000), round(mem)) == (1395, 1746)
    backend = next(d for d in objects if d["kind"] == "Deployment" and d["metadata"]["name"] == "pos-backend")
    assert surge_pods(backend) == 0
    assert surge_pods({"spec": {"replicas": 3}}) == 1 and surge_pods({"spec": {"replicas": 2}}) == 1
    surging = [{**d, "spec": {**d["spec"], "strategy": {}}} if d is backend else d for d in objects]
    ((_, more, _),) = box_load(1, surging)
    assert round((more - cpu) * 1000) == 20


def test_the_baseline_a_healthy_store_runs_is_the_manifests() -> None:
    """store.status judges replicas against store.baseline(); lab start/reset/stop re-apply these files."""
    from edgelab.store import stores as store

    assert store.baseline() == {f"{ns}/{name}": n for (ns, name), n in REPLICAS.items()}
    assert [f.name for f in store.workload_manifests()] == sorted(set(FILES) - {"namespaces.yaml"})
