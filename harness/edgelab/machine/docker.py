"""The Docker engine as edgelab sees it: answers or not (and why), its CPUs, memory, architecture.

Box sizes and CPU counts come from here, not from this host's /proc: on macOS
(Docker Desktop, colima) the engine runs in a VM with its own size.
Nothing here changes the engine or the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from edgelab.base.errors import HostError


@dataclass(frozen=True)
class EngineState:
    answers: bool
    problem: str = ""  # why not, in words, when it does not answer
    fix: str = ""  # what to do about it
    cpus: int = 0
    memory_bytes: int = 0
    arch: str = ""  # the engine's architecture, e.g. x86_64, aarch64
    os: str = ""  # e.g. "Docker Desktop", "Debian GNU/Linux 12 (bookworm)"
    version: str = ""
    default_runtime: str = ""
    mirrors: list[str] = field(default_factory=list)


def _docker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def explain(stderr: str) -> tuple[str, str]:
    """(what is wrong, what to do) for a `docker info` that failed."""
    s = stderr.lower()
    if "permission denied" in s:
        return ("no permission to use the Docker socket",
                "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again)")
    if "cannot connect" in s or "is the docker daemon running" in s or "no such file" in s:
        return ("Docker is not running",
                "start Docker (Docker Desktop or colima on macOS; `sudo systemctl start docker` on Linux)")
    return (f"Docker does not answer: {stderr.strip()[-300:]}", "check that `docker info` works, then run again")


def state() -> EngineState:
    if not shutil.which("docker"):
        return EngineState(False, "the docker command is not installed",
                           "install Docker (https://docs.docker.com/engine/install/, or Docker Desktop on macOS)")
    try:
        proc = _docker("info", "--format", "{{json .}}", timeout=20)
    except subprocess.TimeoutExpired:
        return EngineState(False, "Docker did not answer within 20 s", "check that `docker info` works, then run again")
    if proc.returncode != 0:
        problem, fix = explain(proc.stderr)
        return EngineState(False, problem, fix)
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        return EngineState(False, "`docker info` printed something unexpected", "check that `docker info` works")
    if info.get("ServerErrors") and not info.get("ServerVersion"):
        problem, fix = explain(" ".join(info["ServerErrors"]))
        return EngineState(False, problem, fix)
    return EngineState(
        True, cpus=int(info.get("NCPU") or 0), memory_bytes=int(info.get("MemTotal") or 0),
        arch=str(info.get("Architecture") or ""), os=str(info.get("OperatingSystem") or ""),
        version=str(info.get("ServerVersion") or ""), default_runtime=str(info.get("DefaultRuntime") or ""),
        mirrors=[str(m) for m in ((info.get("RegistryConfig") or {}).get("Mirrors") or [])],
    )


def require() -> EngineState:
    """The engine's state; HostError saying what to do when it does not answer."""
    st = state()
    if not st.answers:
        raise HostError(f"{st.problem}: {st.fix}")
    return st


def image_exists(ref: str) -> bool:
    return _docker("image", "inspect", "--format", "{{.Id}}", ref).returncode == 0


def image_id(ref: str) -> str:
    proc = _docker("image", "inspect", "--format", "{{.Id}}", ref)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def pull(ref: str, timeout: float = 1800) -> None:
    proc = _docker("pull", "--quiet", ref, timeout=timeout)
    if proc.returncode != 0:
        raise HostError(f"cannot pull {ref}: {proc.stderr.strip()[-500:]} (is the registry or mirror reachable? "
                        "`edgelab doctor` checks)")


def goarch(arch: str) -> str:
    """Docker's `Architecture` (x86_64, aarch64) as Go and image platforms say it (amd64, arm64)."""
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(arch, arch)


def is_root_linux() -> bool:
    """Where edgelab may prepare the host itself (the offline path)."""
    return sys.platform.startswith("linux") and os.geteuid() == 0


def kind_network_gateway() -> str | None:
    """The IPv4 gateway of Docker's `kind` network: this host, as kind's nodes reach it."""
    proc = _docker("network", "inspect", "kind", "--format", "{{json .IPAM.Config}}")
    if proc.returncode != 0:
        return None
    try:
        configs = json.loads(proc.stdout) or []
    except ValueError:
        return None
    for c in configs:
        gw = str(c.get("Gateway") or "")
        if gw and ":" not in gw:
            return gw
    return None
