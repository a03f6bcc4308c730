"""A Byte Edge store on demand: one kind cluster per store, sized like its box.

`up` is an ordered list of named steps, each converging: the cluster (with
the audit trail), the node hardware caps, the store's workloads, the
learner's identity, then a real request through the chain. Running it on an
existing store only re-checks; a failed first `up` deletes what it made.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from edgelab.base import files, pins
from edgelab.base.errors import ClusterError
from edgelab.base.names import NAMESPACES
from edgelab.base.paths import REPO
from edgelab.base.types import Say
from edgelab.kube import audit, cluster, faults, learner
from edgelab.kube.nodes import DockerKind, NodeProvider
from edgelab.machine import capacity, docker, host, record
from edgelab.machine.images import store_images
from edgelab.machine.record import Artifacts
from edgelab.store import responders
from edgelab.store.layout import (
    StoreError,
    StorePaths,
    cluster_name,
    control_plane,
    paths,
    state_dir,
    validate_store_id,
)

STORE_MANIFESTS = REPO / "manifests" / "store"
PROFILES = REPO / "manifests" / "profiles.yaml"
# Where a store's API server answers unless `up --listen` says otherwise (kind's own default).
DEFAULT_LISTEN = "127.0.0.1"


@dataclass(frozen=True)
class Profile:
    name: str
    cpus: float
    memory_bytes: int
    description: str = ""


def _bytes(quantity: str) -> int:
    m = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    if not m:
        raise StoreError(f"memory {quantity!r} must look like 3Gi or 512Mi")
    return int(m.group(1)) * (1 << 20 if m.group(2) == "Mi" else 1 << 30)


def profiles() -> tuple[str, dict[str, Profile]]:
    raw = yaml.safe_load(PROFILES.read_text())
    found = {
        name: Profile(name, float(p["cpus"]), _bytes(p["memory"]), p.get("description", ""))
        for name, p in raw["profiles"].items()
    }
    return raw["default"], found


def profile(name: str | None) -> Profile:
    default, found = profiles()
    name = name or default
    if name not in found:
        raise StoreError(f"unknown hardware profile {name!r}; known: {', '.join(sorted(found))}")
    return found[name]


def check_listen(address: str) -> str:
    """The address, normalised, if the API server can answer there; StoreError with the reason otherwise.

    It must be an IP address of this machine (kind binds the API server's
    port there and names it in the serving certificate). Checked by binding
    a socket to it, which works the same on Linux and macOS.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise StoreError(f"--listen {address!r} is not an IP address; give this machine's address on the class "
                         "network (e.g. 192.168.1.20; `ip -br addr` lists them), not a host name") from None
    if ip.is_unspecified or ip.is_multicast:
        raise StoreError(f"--listen {ip} is not one address of this machine; give the one the class network reaches "
                         f"(`ip -br addr` lists them)")
    with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((str(ip), 0))
        except OSError as e:
            raise StoreError(f"--listen {ip}: this machine has no such address ({e.strerror}); give one of its own "
                             f"addresses on the class network (`ip -br addr` lists them)") from None
    return str(ip)


def _store_record(store: str) -> Path:
    return state_dir(store) / "store.json"


def listen_address(store: str) -> str:
    """The address store `store`'s API server answers on, as `up` recorded it (stores made before it: 127.0.0.1)."""
    try:
        return str(json.loads(_store_record(store).read_text()).get("listen") or DEFAULT_LISTEN)
    except FileNotFoundError:
        return DEFAULT_LISTEN


def _record_listen(store: str, address: str) -> None:
    files.write_locked(_store_record(store), json.dumps({"listen": address}) + "\n")


def server_url(store: str) -> str:
    """The API server URL of the store's admin kubeconfig (what every kubeconfig of the store points at); '' if none."""
    try:
        config = yaml.safe_load(paths(store).admin_kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return ""


def host_resources() -> tuple[int, int]:
    """(cpus, memory bytes) of the Docker engine, what kubelets report without help.

    The engine's, not this host's: on macOS the nodes run in Docker's VM.
    """
    st = docker.require()
    return st.cpus or 1, st.memory_bytes


def node_need() -> capacity.NodeNeed:
    """What a node of a new store uses at its peak, as measured (manifests/profiles.yaml `node_use`)."""
    raw = yaml.safe_load(PROFILES.read_text())["node_use"]
    return capacity.NodeNeed(_bytes(raw["one_node"]), _bytes(raw["control_plane"]), _bytes(raw["worker"]),
                             str(raw["measured"]))


def _runs(store: str, running: list[capacity.NodeUse]) -> bool:
    """Whether store `store` is among the `running` kind nodes."""
    return any(n.cluster == cluster_name(store) for n in running)


def check_fits(prof: Profile, nodes: int, store: str | None = None,
               running: list[capacity.NodeUse] | None = None) -> None:
    """Refuse, with the reason and what to do, a store whose box is bigger than what Docker has, or one
    that would not fit beside the kind nodes already running (`running`; read from Docker when None).
    A store that already runs needs nothing more: `up` on it only re-checks."""
    cpus, mem = host_resources()
    if mem and mem < prof.memory_bytes:
        raise StoreError(
            f"Docker has {mem / (1 << 30):.1f} GiB of memory, and one node of profile {prof.name} is "
            f"{prof.memory_bytes / (1 << 30):.1f} GiB: give Docker more memory (Docker Desktop or colima: its "
            "resources settings) or choose a smaller --profile")
    if running is None:
        running = capacity.running_nodes()
    if store is not None and _runs(store, running):
        return
    need = node_need()
    verdict = capacity.fit(running, mem, need.store(nodes, prof.memory_bytes))
    if not verdict.fits:
        what = f"store {store}" if store else "the store"
        smaller = " or with fewer nodes (--nodes 1)" if nodes > 1 else ""
        raise StoreError(
            f"{verdict.reason(f'{what} ({nodes} node(s), {prof.name})')} (per-node figures measured "
            f"{need.measured}). Bring a store down first (`edgelab down --store N`; `edgelab status` lists "
            f"them), run this one later{smaller}, or give Docker more memory.")


def hardware_patch(prof: Profile) -> str:
    """Kubelet reservations so the scheduler sees the box, not the host."""
    cpus, mem = host_resources()
    reserve_cpu_m = max(0, int(cpus * 1000 - prof.cpus * 1000))
    reserve_mem_mi = max(0, (mem - prof.memory_bytes) >> 20)
    return yaml.safe_dump({
        "kind": "KubeletConfiguration",
        "systemReserved": {"cpu": f"{reserve_cpu_m}m", "memory": f"{reserve_mem_mi}Mi"},
    })


def kind_config(store: str, nodes: int, prof: Profile, p: StorePaths, listen: str = DEFAULT_LISTEN) -> dict[str, Any]:
    config = cluster.kind_config(nodes - 1)
    # kind publishes the API server's port on this address and adds it to the serving certificate's SANs
    config["networking"]["apiServerAddress"] = listen
    config.setdefault("kubeadmConfigPatches", []).append(hardware_patch(prof))
    return audit.add_to_kind_config(config, p.audit_dir)


def spec(store: str, nodes: int, prof: Profile, artifacts: Artifacts, listen: str = DEFAULT_LISTEN
         ) -> cluster.ClusterSpec:
    p = paths(store)
    return cluster.spec_for(cluster_name(store), nodes, artifacts, kubeconfig=p.admin_kubeconfig,
                            load_images=store_images(), config=kind_config(store, nodes, prof, p, listen),
                            provider=provider_for(store, artifacts.kind))


def fault_client(store: str) -> faults.Faults:
    """The fault client of store `store`, with the store's admin credentials."""
    validate_store_id(store)
    return faults.Faults(paths(store).admin_kubeconfig)


def provider_for(store: str | None = None, kind: Path | None = None) -> NodeProvider:
    """Where store `store`'s nodes run (every store's, when None): the one place a store's provider is chosen.

    Today kind on the Docker engine, with the `kind` binary given or else the machine's recorded one
    (kube/nodes.py); another provider is chosen here, and stores, labs and drills follow."""
    if store is not None:
        validate_store_id(store)
    return DockerKind(kind)


def _cluster_provider(name: str) -> NodeProvider:
    """The provider of cluster `name`: its store's (`cluster_name`), or every store's for a cluster of no store."""
    store = name.removeprefix("store-")
    return provider_for(store if re.fullmatch(r"[0-9]{1,6}", store) else None)


def node_containers(name: str) -> list[str]:
    """The running nodes of cluster `name` (a store's: `cluster_name`)."""
    return _cluster_provider(name).list_nodes(name)


def audit_events(store: str, since: datetime | None = None,
                 user: str | Collection[str] | None = None) -> list[dict[str, Any]]:
    """The store's audit trail (`audit.read_events`), read from its control-plane node through its provider."""
    return audit.read_node_events(provider_for(store), control_plane(store), since=since, user=user)


def audit_follower(store: str, since: datetime | None = None) -> audit.Follower:
    """The store's audit trail read as it grows (`audit.Follower`): for pages that read it again and again."""
    return audit.Follower(provider_for(store), control_plane(store), since=since)


def cap_nodes(name: str, prof: Profile, say: Say) -> None:
    cpus = min(prof.cpus, float(host_resources()[0]))
    provider = _cluster_provider(name)
    for node in provider.list_nodes(name):
        say(f"capping {node} at {cpus:g} CPU, {prof.memory_bytes >> 20} MiB ({prof.name})")
        provider.set_limits(node, cpus, prof.memory_bytes)


def workload_manifests() -> list[Path]:
    """The store's object files after namespaces.yaml; images.yaml is the build's list, not an object."""
    return [f for f in sorted(STORE_MANIFESTS.glob("*.yaml")) if f.name not in ("namespaces.yaml", "images.yaml")]


STORE_ID_ENV = "STORE_ID"
# What the manifests say: the course's store. A placeholder, so the files stay valid YAML and
# `kubectl apply -f` of them by hand still gives a working store; `render` puts the real id in.
MANIFEST_STORE_ID = "4523"
_POD_OWNERS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def render(docs: list[dict[str, Any]], store: str) -> list[dict[str, Any]]:
    """The objects as store `store` runs them: every container's STORE_ID is the store's id, nothing else changes.

    Done on the parsed objects (not a string replace on the file), so only that env value can change.
    """
    store = validate_store_id(store)
    out = copy.deepcopy(docs)
    for doc in out:
        if doc.get("kind") not in _POD_OWNERS:
            continue
        pod = doc["spec"]["template"]["spec"]
        for c in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            for var in c.get("env", []):
                if var.get("name") == STORE_ID_ENV and "value" in var:
                    var["value"] = store
    return out


def manifest_objects(f: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(f.read_text()) if d]


def rendered_workloads(store: str) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Each object file (namespaces first), as `render` makes it for store `store`: what `up` and `restore` apply."""
    files = [STORE_MANIFESTS / "namespaces.yaml", *workload_manifests()]
    return [(f, render(manifest_objects(f), store)) for f in files]


def apply_workloads(k: cluster.Kubectl, store: str) -> None:
    for f, docs in rendered_workloads(store):
        try:
            k("apply", "-f", "-", input_text=yaml.safe_dump_all(docs, sort_keys=False))
        except ClusterError as e:
            raise ClusterError(f"cannot apply {f.name} for store {store}: {e}") from e


def deploy(k: cluster.Kubectl, store: str, say: Say) -> None:
    say(f"deploying the store (pos, payment, order, observability) as store {store}")
    apply_workloads(k, store)


def baseline() -> dict[str, int]:
    """Each store deployment's replica count as its manifest sets it ("ns/name": n): what a healthy store runs."""
    return {f"{d['metadata']['namespace']}/{d['metadata']['name']}": d["spec"].get("replicas", 1)
            for f in workload_manifests() for d in manifest_objects(f) if d["kind"] == "Deployment"}


def restore(store: str, say: Say = lambda _: None) -> None:
    """Apply the store's manifests again, as `up` did: replicas, pod templates, services and
    config back to the baseline, whatever the learner did within their rights (a scale, a
    rollout undo). Pods a template change replaces roll out afterwards; the caller waits
    (wait_healthy). A `rollout restart`'s annotation is not in the manifests and
    stays: it changes no setting, and removing it would roll every pod again.
    """
    say("putting the store's workloads back to their manifests")
    apply_workloads(cluster.Kubectl(record.current().kubectl, paths(store).admin_kubeconfig), store)


def wait_healthy(store: str, timeout: float = 180, say: Say = lambda _: None) -> StoreStatus:
    """Healthy (`status`) twice in a row, 3 s apart: a revert that restarts pods shows only after a moment.
    StoreError naming what is still wrong after `timeout` seconds."""
    say("waiting for a healthy store")
    last: list[StoreStatus] = []

    def twice() -> bool:
        last.append(status(store))
        return len(last) >= 2 and last[-1].healthy and last[-2].healthy

    try:
        cluster.poll("a healthy store", twice, timeout, interval=3)
    except ClusterError as e:
        raise StoreError(f"store {store} did not get healthy within {timeout:.0f}s: "
                         f"{'; '.join(last[-1].unhealthy)}") from e
    return last[-1]


@dataclass
class StoreStatus:
    store: str
    exists: bool
    nodes: list[dict[str, Any]] = field(default_factory=list)
    deployments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unhealthy: list[str] = field(default_factory=list)
    listen: str = DEFAULT_LISTEN  # the address of this machine the API server answers on
    server: str = ""  # https://ADDRESS:PORT, what the admin's, the learner's and each responder's kubeconfig use
    responders: list[dict[str, Any]] = field(default_factory=list)  # responders.Responder.to_json() of each

    @property
    def healthy(self) -> bool:
        return self.exists and not self.unhealthy


def status(store: str) -> StoreStatus:
    """The store's health, as the CLI, a lab's reset and the tests judge it.

    Healthy: every node Ready; every deployment of the store's manifests present with
    its baseline replica count (a learner's scale is not the store); every deployment
    of the store's namespaces READY n/n with its rollout finished (all replicas
    updated, no extra ones, the controller caught up); and every pod there Running,
    unless it is already on its way out. Read through the API, not kubectl.
    """
    p = paths(store)
    name = cluster_name(store)
    if not node_containers(name) or not p.admin_kubeconfig.exists():
        return StoreStatus(store, False, unhealthy=[f"store {store} is not up (run `edgelab up --store {store}`)"])
    try:
        with k8s_config.new_client_from_config(str(p.admin_kubeconfig)) as api:
            core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)

            def dicts(objs: list[Any]) -> list[dict[str, Any]]:
                return [api.sanitize_for_serialization(o) for o in objs]

            nodes = dicts(core.list_node(_request_timeout=30).items)
            deployments = [d for ns in NAMESPACES
                           for d in dicts(apps.list_namespaced_deployment(ns, _request_timeout=30).items)]
            pods = [o for ns in NAMESPACES
                    for o in dicts(core.list_namespaced_pod(ns, _request_timeout=30).items)]
    except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as e:
        raise ClusterError(f"cannot read store {store}'s state ({type(e).__name__}: {str(e)[:200]}); "
                           f"is it up? `edgelab up --store {store}` brings it back") from e


    st = StoreStatus(store, True, listen=listen_address(store), server=server_url(store),
                     responders=[r.to_json() for r in responders.list_(store)])
    for n in nodes:
        ready = next((c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"), "Unknown")
        st.nodes.append({"name": n["metadata"]["name"], "ready": ready == "True"})
        if ready != "True":
            st.unhealthy.append(f"node {n['metadata']['name']} is NotReady")
    st.deployments = {ns: [] for ns in NAMESPACES}
    base = baseline()
    for d in deployments:
        ns, dname = d["metadata"]["namespace"], d["metadata"]["name"]
        want = d["spec"].get("replicas", 1)
        dst = d.get("status", {})
        ready = dst.get("readyReplicas", 0) or 0
        st.deployments[ns].append({"name": dname, "ready": ready, "replicas": want})
        if f"{ns}/{dname}" in base and want != base[f"{ns}/{dname}"]:
            st.unhealthy.append(f"deployment {ns}/{dname} is scaled to {want}; the store runs "
                                f"{base[f'{ns}/{dname}']}")
        if ready < want:
            st.unhealthy.append(f"deployment {ns}/{dname} READY {ready}/{want}")
        elif (dst.get("updatedReplicas", 0) or 0) < want or (dst.get("replicas", 0) or 0) != want \
                or dst.get("observedGeneration", 0) < d["metadata"].get("generation", 0):
            st.unhealthy.append(f"deployment {ns}/{dname} is still rolling out")
    present = {f"{d['metadata']['namespace']}/{d['metadata']['name']}" for d in deployments}
    st.unhealthy += [f"deployment {ref} is missing" for ref in sorted(set(base) - present)]
    for pod in pods:
        phase = pod.get("status", {}).get("phase")
        if phase != "Running" and not pod["metadata"].get("deletionTimestamp"):
            st.unhealthy.append(f"pod {pod['metadata']['namespace']}/{pod['metadata']['name']} is {phase}")
    return st


def check_chain(store: str, timeout: float = 90) -> str:
    """One real order through pos-frontend → pos-backend → payment and order, run in a pos-frontend pod
    (exec through the API). Returns the order; ClusterError with the last failure after `timeout`."""
    script = ("import urllib.request,sys;"
              "r=urllib.request.urlopen('http://localhost:8080/order',data=b'{}',timeout=20);"
              "sys.stdout.write(r.read().decode())")
    last = [""]

    def order() -> str | None:
        with k8s_config.new_client_from_config(str(paths(store).admin_kubeconfig)) as api:
            core = k8s.CoreV1Api(api)
            listed: list[Any] = core.list_namespaced_pod("pos", label_selector="app=pos-frontend").items
            pods = [p for p in listed if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
            if not pods:
                last[0] = "no running pos-frontend pod"
                return None
            code, out, err = exec_in(core, "pos", pods[0].metadata.name, ["python3", "-c", script], timeout=40)
        if code == 0:
            return out
        last[0] = err.strip() or f"exit code {code}"
        return None

    try:
        return cluster.poll("an order through the chain", order, timeout, interval=2)
    except ClusterError as e:
        raise ClusterError(f"the store is up but an order through the chain fails: {last[0][-500:]}") from e


def exec_in(core: k8s.CoreV1Api, namespace: str, pod: str, command: list[str], timeout: float
            ) -> tuple[int, str, str]:
    """Run `command` in the pod's first container (what `kubectl exec` does): exit code, stdout, stderr."""
    from kubernetes.stream import stream  # its websocket client loads only when a command runs in a pod

    resp = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command, stderr=True, stdin=False,
                  stdout=True, tty=False, _preload_content=False)
    out, err = "", ""
    deadline = time.monotonic() + timeout
    try:
        while resp.is_open() and time.monotonic() < deadline:
            resp.update(timeout=1)
            out += resp.read_stdout() if resp.peek_stdout() else ""
            err += resp.read_stderr() if resp.peek_stderr() else ""
        if resp.is_open():
            return 124, out, err + f"(no answer within {timeout:.0f}s)"
        return int(resp.returncode or 0), out, err
    finally:
        resp.close()


def up(store: str, nodes: int, profile_name: str | None, artifacts: Artifacts, say: Say = lambda _: None,
       retain: bool = False, listen: str | None = None) -> StoreStatus:
    """Bring the store up (or converge it). `listen`: the address of this machine its API server answers on;
    None keeps an existing store's and is 127.0.0.1 for a new one."""
    prof = profile(profile_name)
    if not 1 <= nodes <= 3:
        raise StoreError(f"a store has 1 to 3 nodes; {nodes} asked")
    address = check_listen(listen) if listen is not None else None
    running = capacity.running_nodes()
    check_fits(prof, nodes, store, running)
    if not _runs(store, running) and (
            short := host.inotify_shortfall(len(running) + nodes, host.inotify_instances())):
        say(short)
    p = paths(store)
    p.root.mkdir(parents=True, exist_ok=True)
    audit.prepare_host_dir(p.audit_dir)
    s = spec(store, nodes, prof, artifacts)
    existing = cluster.exists(s)
    if existing:
        have = len(node_containers(s.name))
        if have != nodes:
            raise StoreError(f"store {store} already runs with {have} node(s); `edgelab down --store {store}` first "
                             f"to change it to {nodes}")
        answers_on = listen_address(store)
        if address is not None and address != answers_on:
            raise StoreError(f"store {store} already answers on {answers_on}; its address is fixed when it is made: "
                             f"`edgelab down --store {store}` first to move it to {address} (or run `up` without "
                             "--listen to keep it)")
        address = answers_on
    address = address or DEFAULT_LISTEN
    _record_listen(store, address)
    s = spec(store, nodes, prof, artifacts, address)
    def hardware_and_workloads(k: cluster.Kubectl) -> None:
        cap_nodes(s.name, prof, say)
        deploy(k, store, say)

    made = cluster.create(s, say=say, retain=retain, meanwhile=hardware_and_workloads)
    try:
        k = cluster.Kubectl(artifacts.kubectl, p.admin_kubeconfig)
        faults.install(k, say, image=pins.load().fault_operator_image)
        wait_healthy(store, timeout=300, say=say)
        faults.wait_operator(p.admin_kubeconfig, say)
        say("issuing the learner's identity")
        learner.apply_rbac(artifacts.kubectl, p.admin_kubeconfig)
        learner.issue_learner(p.admin_kubeconfig, p.learner_kubeconfig)
        say("ringing up a test order through the chain")
        check_chain(store)
    except BaseException:
        if made and not retain:
            say(f"set-up failed; deleting the half-made store {store} (keep it with --retain)")
            cluster.delete(s)
        raise
    return status(store)


def down(store: str, artifacts: Artifacts) -> bool:
    """Delete the store's cluster and state; False when there was nothing."""
    p = paths(store)
    name = cluster_name(store)
    provider = provider_for(store, artifacts.kind)
    found = name in provider.list_clusters()
    if found:
        provider.delete_cluster(name)
    if p.root.exists():
        shutil.rmtree(p.root)
        found = True
    return found


def shell_env(store: str, artifacts: Artifacts) -> dict[str, str]:
    """Environment of a shell whose kubectl is the learner's."""
    p = paths(store)
    if not p.learner_kubeconfig.exists():
        raise StoreError(f"store {store} is not up (run `edgelab up --store {store}`)")
    bindir = p.root / "bin"
    bindir.mkdir(exist_ok=True)
    link = bindir / "kubectl"
    if not link.exists():
        link.symlink_to(artifacts.kubectl)
    return {**os.environ, "KUBECONFIG": str(p.learner_kubeconfig), "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
            "PS1": f"store-{store}$ "}


def list_stores(artifacts: Artifacts) -> list[str]:
    return sorted(c.removeprefix("store-") for c in provider_for(None, artifacts.kind).list_clusters()
                  if c.startswith("store-"))


def open_shell(store: str, artifacts: Artifacts) -> int:
    """Run an interactive shell as the learner; return its exit code."""
    env = shell_env(store, artifacts)
    return subprocess.call([os.environ.get("SHELL", "/bin/bash")], env=env)
