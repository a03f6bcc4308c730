"""kind clusters with the add-ons every edgelab cluster has.

Creation is an ordered list of named actions (like kind's own create):
each action converges, so running `create` on an existing, healthy cluster
only re-checks it; a failure or Ctrl-C deletes a cluster this call made,
unless `retain` asks to keep it for debugging.
"""

from __future__ import annotations

import copy
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml

from edgelab.base.errors import ClusterError
from edgelab.base.paths import REPO, state_root
from edgelab.base.types import Say
from edgelab.kube.nodes import DockerKind, NodeProvider
from edgelab.kube.proc import run as _run
from edgelab.machine import docker
from edgelab.machine.online import CONTAINERD_PATCH, node_mirror_url, node_registry_config
from edgelab.machine.record import Artifacts

T = TypeVar("T")

MANIFESTS = REPO / "manifests"
KIND_CONFIG = MANIFESTS / "kind" / "cluster.yaml"
ADDONS = MANIFESTS / "addons"


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    workers: int
    node_image: str
    kind: Path
    kubectl: Path
    kubeconfig: Path
    load_images: Sequence[str] = field(default_factory=tuple)
    # A full kind config to use instead of `kind_config(workers)` (stores add
    # audit mounts and hardware reservations to it).
    config: dict | None = None
    # Every image pull of the nodes goes through this registry mirror (online path).
    registry_mirror: str | None = None
    # Where the nodes run (kube/nodes.py); None: kind on Docker, with the `kind` above.
    provider: NodeProvider | None = None


def nodes_of(spec: ClusterSpec) -> NodeProvider:
    """The provider that runs `spec`'s nodes."""
    return spec.provider if spec.provider is not None else DockerKind(spec.kind)


def spec_for(name: str, nodes: int, artifacts: Artifacts, kubeconfig: Path | None = None,
             load_images: Sequence[str] | None = None, config: dict | None = None,
             provider: NodeProvider | None = None) -> ClusterSpec:
    """Cluster `name` of `nodes` nodes made with this machine's set-up (its images, tools, mirror when online).

    A bare cluster loads the python base image and keeps its kubeconfig where `kubeconfig_path` says; a store
    gives its own kubeconfig, images and kind config.
    """
    return ClusterSpec(
        name=name, workers=nodes - 1, node_image=artifacts.node_image, kind=artifacts.kind,
        kubectl=artifacts.kubectl, kubeconfig=kubeconfig or kubeconfig_path(name),
        load_images=tuple(load_images) if load_images is not None else (artifacts.python_base_image,),
        config=config, registry_mirror=None if artifacts.offline else artifacts.registry_mirror, provider=provider,
    )


def kind_config(workers: int) -> dict:
    """The kind config for one control plane and `workers` workers."""
    if not 0 <= workers <= 2:
        raise ClusterError(f"a store has 1 to 3 nodes; {workers + 1} asked")
    config = copy.deepcopy(yaml.safe_load(KIND_CONFIG.read_text()))
    config["nodes"] = [{"role": "control-plane"}] + [{"role": "worker"} for _ in range(workers)]
    return config


def write_kind_config(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Kubectl:
    """kubectl bound to one kubeconfig."""

    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary, self.kubeconfig = binary, kubeconfig

    def __call__(self, *args: str, timeout: float = 300, check: bool = True, input_text: str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        return _run([self.binary, *args], timeout=timeout, env={"KUBECONFIG": str(self.kubeconfig)}, check=check,
                    input_text=input_text)

    def poll(self, what: str, fn: Callable[[], bool], timeout: float) -> None:
        poll(what, fn, timeout)


def poll(what: str, fn: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """Call `fn` every `interval` seconds until it returns something true; return that.

    The project's one waiting loop. ClusterError("timed out ... waiting for <what>")
    after `timeout` seconds (`fn` is always called at least once).
    """
    deadline = time.monotonic() + timeout
    while True:
        if result := fn():
            return result
        if time.monotonic() >= deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def exists(spec: ClusterSpec) -> bool:
    return spec.name in nodes_of(spec).list_clusters()


def api_answers(spec: ClusterSpec) -> bool:
    k = Kubectl(spec.kubectl, spec.kubeconfig)
    return spec.kubeconfig.exists() and k("get", "--raw", "/readyz", timeout=20, check=False).returncode == 0


def delete(spec: ClusterSpec) -> None:
    """Delete the cluster's nodes; its entry in its kubeconfig goes too."""
    nodes_of(spec).delete_cluster(spec.name, spec.kubeconfig)


def create_kind_cluster(spec: ClusterSpec, say: Say) -> None:
    say(f"creating kind cluster {spec.name} ({spec.workers + 1} node(s), image {spec.node_image})")
    spec.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(spec.config or kind_config(spec.workers))
    if spec.registry_mirror:
        patches = config.setdefault("containerdConfigPatches", [])
        if CONTAINERD_PATCH not in patches:
            patches.append(CONTAINERD_PATCH)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_kind_config(config, Path(tmp) / "kind.yaml")
        nodes_of(spec).provision(spec.name, spec.node_image, path, spec.kubeconfig)


def configure_mirror(spec: ClusterSpec, say: Say) -> None:
    """Point every node's containerd at the registry mirror (kind's documented `certs.d` way).

    Written after creation (containerd reads `hosts.toml` at each pull), before
    anything is pulled: the pod network is applied after this.
    """
    if not spec.registry_mirror:
        return
    gateway = docker.kind_network_gateway()
    say(f"sending the nodes' image pulls through {node_mirror_url(spec.registry_mirror, gateway)}")
    files = node_registry_config(spec.registry_mirror, gateway)
    provider = nodes_of(spec)
    for node in provider.list_nodes(spec.name):
        for rel, text in files.items():
            target = f"/etc/containerd/certs.d/{rel}"
            provider.exec(node, ["sh", "-c", f"mkdir -p $(dirname {target}) && cat > {target}"], input_text=text,
                          timeout=30)


def install_network(k: Kubectl, say: Say) -> None:
    say("installing the pod network (kube-router) and metrics-server")
    k("apply", "-f", str(ADDONS / "kube-router.yaml"))
    # metrics-server's Deployment and Service start with the network; its
    # APIService is registered later, in finish_metrics.
    k("apply", "-f", str(ADDONS / "metrics-server.yaml"))
    k("-n", "kube-system", "rollout", "status", "daemonset/kube-router", "--timeout=240s", timeout=260)
    k("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=240s", timeout=260)


def finish_metrics(k: Kubectl, say: Say) -> None:
    say("waiting for metrics-server (kubectl top)")
    k("-n", "kube-system", "rollout", "status", "deployment/metrics-server", "--timeout=240s", timeout=260)

    def endpoints() -> bool:
        out = k("-n", "kube-system", "get", "endpointslices", "-l", "kubernetes.io/service-name=metrics-server",
                "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}", check=False)
        return bool(out.stdout.strip())

    # Only register the API once its Service has a backend: an aggregator that
    # dials the ClusterIP too early can stick to a bad connection.
    k.poll("metrics-server endpoints", endpoints, 120)
    k("apply", "-f", str(ADDONS / "metrics-apiservice.yaml"))
    wait_condition(k, "apiservice/v1beta1.metrics.k8s.io", "Available", 200)


def wait_condition(k: Kubectl, ref: str, condition: str, timeout: float) -> None:
    """Until `ref` reports `condition` True. Not `kubectl wait --for=condition=…`: run before the object has
    any status (a CRD or APIService just applied, on a busy machine), it fails at once with "status.conditions
    accessor error: <nil>" instead of waiting."""
    def met() -> bool:
        got = k("get", ref, "-o", f"jsonpath={{.status.conditions[?(@.type=='{condition}')].status}}",
                check=False, timeout=30)
        return got.returncode == 0 and got.stdout.strip() == "True"

    poll(f"{ref} to be {condition}", met, timeout)


def wait_system(k: Kubectl, say: Say) -> None:
    say("waiting for kube-system")
    for obj in ("deployment/coredns", "daemonset/kube-proxy", "deployment/metrics-server"):
        k("-n", "kube-system", "rollout", "status", obj, "--timeout=240s", timeout=260)


def load_images(spec: ClusterSpec, say: Say) -> None:
    if spec.load_images:
        # one call: images sharing layers (the store's names are one image) go in once
        say(f"loading {len(spec.load_images)} image name(s) into the nodes")
        nodes_of(spec).load_images(spec.name, spec.load_images)


def finish(spec: ClusterSpec, say: Say = lambda _: None, meanwhile: Callable[[Kubectl], None] | None = None) -> None:
    """Everything after `kind create cluster`; each step converges.

    `meanwhile` runs once the network is up and images are loaded, while
    metrics-server is still starting (a store deploys its workloads there).
    """
    k = Kubectl(spec.kubectl, spec.kubeconfig)
    configure_mirror(spec, say)
    install_network(k, say)
    load_images(spec, say)
    if meanwhile is not None:
        meanwhile(k)
    finish_metrics(k, say)
    wait_system(k, say)


def create(spec: ClusterSpec, say: Say = lambda _: None, retain: bool = False,
           meanwhile: Callable[[Kubectl], None] | None = None) -> bool:
    """Create or converge the cluster; return True when it was made by this call."""
    made = False
    if exists(spec) and not api_answers(spec):
        say(f"cluster {spec.name} exists but does not answer (an interrupted create?): recreating it")
        delete(spec)
    try:
        if not exists(spec):
            made = True
            create_kind_cluster(spec, say)
        elif not spec.kubeconfig.exists():
            nodes_of(spec).export_kubeconfig(spec.name, spec.kubeconfig)
        finish(spec, say, meanwhile)
    except BaseException:
        if made and not retain:
            say(f"set-up failed; deleting the half-made cluster {spec.name} (keep it with --retain)")
            delete(spec)
        raise
    return made


def kubeconfig_path(name: str) -> Path:
    """Where edgelab keeps a cluster's admin kubeconfig."""
    return state_root() / "clusters" / name / "kubeconfig"
