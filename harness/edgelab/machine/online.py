"""The online path: stock images, pinned tools, our two images from Dockerfiles. Nothing on the host changes.

What it uses: the user's Docker engine (any user of the `docker` group), the
pinned kind and kubectl (`tools`), stock `kindest/node` and add-on images
(pulled by the nodes), `python_stock_image` pinned by digest as the base of
the edge app and the fault operator. With a registry mirror every one of
those pulls goes through it: the host's pulls by rewritten names, the nodes'
through containerd's `hosts.toml` (see `node_registry_config`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgelab.base import paths
from edgelab.base.paths import REPO
from edgelab.base.pins import Pins
from edgelab.base.types import Report, Say
from edgelab.machine import docker, record, tools
from edgelab.machine.images import store_image_names
from edgelab.machine.offline.pipeline import Pipeline, Step, StepContext
from edgelab.machine.offline.steps import (
    EDGEAPP,
    OPERATOR,
    OPERATOR_BIN,
    build_context,
    wheel_platforms,
)

EDGEAPP_DOCKERFILE = REPO / "harness" / "edgeapp.Dockerfile"
OPERATOR_DOCKERFILE = REPO / "operator" / "Dockerfile"

# Registries whose pulls a mirror serves (the nodes' containerd asks the mirror first).
MIRRORED = ("docker.io", "registry.k8s.io", "ghcr.io", "quay.io")


def node_image_ref(pins: Pins) -> str:
    """The stock node image; `EDGELAB_NODE_IMAGE` overrides (a mirror of rebuilt images cannot match the digest)."""
    return os.environ.get("EDGELAB_NODE_IMAGE") or pins.kind_stock_node_image


def python_image_ref(pins: Pins) -> str:
    """The base of our images; `EDGELAB_PYTHON_IMAGE` overrides, as above."""
    return os.environ.get("EDGELAB_PYTHON_IMAGE") or pins.python_stock_image


def split_registry(ref: str) -> tuple[str, str]:
    """(registry, path) of an image reference, Docker's way: `python:3` → (docker.io, library/python:3)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", ref if rest else f"library/{ref}"


def through_mirror(ref: str, mirror: str | None) -> str:
    """The name to pull `ref` by: unchanged without a mirror, else under the mirror's host."""
    if not mirror:
        return ref
    registry, path = split_registry(ref)
    if registry not in MIRRORED:
        return ref
    return f"{record.mirror_host(mirror)}/{path}"


def node_mirror_url(mirror: str, gateway: str | None) -> str:
    """The mirror as the nodes reach it: a loopback mirror is this host, i.e. the kind network's gateway."""
    url = record.mirror_url(mirror)
    scheme, _, hostport = url.partition("://")
    host, sep, port = hostport.partition(":")
    if host in ("localhost", "::1") or host.startswith("127."):
        if gateway is None:
            raise record.HostError("a loopback registry mirror needs Docker's `kind` network to exist")
        host = gateway
    return f"{scheme}://{host}{sep}{port}"


def node_registry_config(mirror: str, gateway: str | None) -> dict[str, str]:
    """containerd `hosts.toml` files (path under /etc/containerd/certs.d → text) sending pulls to the mirror."""
    url = node_mirror_url(mirror, gateway)
    upstream = {"docker.io": "https://registry-1.docker.io"}
    files = {}
    for registry in MIRRORED:
        server = upstream.get(registry, f"https://{registry}")
        files[f"{registry}/hosts.toml"] = (f'server = "{server}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n')
    return files


CONTAINERD_PATCH = ('[plugins."io.containerd.grpc.v1.cri".registry]\n'
                    '  config_path = "/etc/containerd/certs.d"\n')


def _context(ctx: StepContext, dockerfile: Path, sources: dict[str, Path]) -> Path:
    return build_context(ctx, dockerfile.read_text(), sources)


def buildkit_env() -> dict[str, str]:
    """BuildKit where the Docker client has buildx (Docker Desktop, current Engine); the classic builder otherwise."""
    has_buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False).returncode == 0
    return {} if has_buildx else {"DOCKER_BUILDKIT": "0"}


def _docker_build(ctx: StepContext, context: Path, base: str) -> None:
    ref = f"edgelab-cache/{ctx.step.name}:{ctx.key}"
    ctx.sh(["docker", "build", "--pull=false", "--build-arg", f"BASE={base}",
            "--label", f"org.opencontainers.image.base.name={base}", "-t", ref, str(context)], env=buildkit_env())


def edge_app_step(base: str, tags: tuple[str, ...]) -> Step:
    def run(ctx: StepContext) -> None:
        _docker_build(ctx, _context(ctx, EDGEAPP_DOCKERFILE, {"edgeapp": EDGEAPP}), base)

    return Step("edge-app-docker", "image", run, {"base": base}, files=(EDGEAPP, EDGEAPP_DOCKERFILE), tags=tags)


def operator_step(base: str, packages: tuple[str, ...], arch: str, tag: str) -> Step:
    def run(ctx: StepContext) -> None:
        context = _context(ctx, OPERATOR_DOCKERFILE, {"edgelab_operator": OPERATOR, "bin": OPERATOR_BIN})
        wheels = context / "wheels"
        wheels.mkdir()
        (wheels / "requirements.txt").write_text("\n".join(packages) + "\n")
        platforms = [f"--platform={p}" for p in wheel_platforms(docker.goarch(arch))]
        ctx.sh([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), "--only-binary=:all:",
                "--python-version", "3.11", "--implementation", "cp", *platforms, *packages])
        _docker_build(ctx, context, base)

    return Step("fault-operator-docker", "image", run, {"base": base, "wheels": packages, "arch": docker.goarch(arch)},
                files=(OPERATOR, OPERATOR_BIN, OPERATOR_DOCKERFILE), tags=(tag,))


def own_images(pins: Pins, base: str, arch: str, report: Report) -> None:
    steps = [edge_app_step(base, tuple(store_image_names())),
             operator_step(base, pins.python_image_packages, arch, pins.fault_operator_image)]
    Pipeline(steps, paths.cache_dir()).run([s.name for s in steps], report)


def build(pins: Pins, mirror: str | None, report: Report, say: Say, why: str) -> record.Artifacts:
    st = docker.require()
    if mirror and not record.registry_answers(record.mirror_url(mirror)):
        raise record.HostError(f"the registry mirror {mirror} does not answer at {record.mirror_url(mirror)}/v2/: "
                                "check the address, or run `edgelab setup --registry-mirror ''` to pull directly")
    own = [tools.default_dir(), paths.system_dir() / "bin"]
    kind = tools.resolve("kind", pins, own, say)
    kubectl = tools.resolve("kubectl", pins, own, say)
    node = through_mirror(node_image_ref(pins), mirror)
    base = through_mirror(python_image_ref(pins), mirror)
    for ref in (node, base):
        if not docker.image_exists(ref):
            say(f"pulling {ref}")
            docker.pull(ref)
    own_images(pins, base, st.arch, report)
    return record.Artifacts(False, kind, kubectl, node, base, None, why, mirror)
