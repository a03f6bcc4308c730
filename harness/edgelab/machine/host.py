"""The offline path's host preparation (Linux, root): a Docker engine, kernel limits, a firewall.

Only `offline.build` calls the functions that change the host; the online
path never does (it runs as a non-root user and only checks, in `doctor`).
On our registry-less machines (see docs/offline.md) a fresh VM has
only the docker client: `ensure_host()` installs Debian's docker.io, registers
the runc wrapper when processes lack CAP_SYS_RESOURCE, starts dockerd
detached, raises inotify limits and keeps cluster-internal ranges from
leaving the machine. Every step checks before it acts, so running it again
changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edgelab.base.errors import HostError
from edgelab.base.types import Say
from edgelab.machine import docker

CAP_SYS_RESOURCE = 24
WRAPPER_PATH = Path("/usr/local/bin/edgelab-runc")
DAEMON_JSON = Path("/etc/docker/daemon.json")
DOCKERD_LOG = Path("/var/log/edgelab-dockerd.log")
# Service and pod ranges of every kind cluster edgelab makes (kind's defaults).
CLUSTER_RANGES = ("10.96.0.0/12", "10.244.0.0/16")
INOTIFY = {"fs.inotify.max_user_instances": 512, "fs.inotify.max_user_watches": 524288}
# inotify instances one running kind node holds (kubelet, containerd, systemd, the pods' processes), counted on a
# 1-node store on 2026-12-07: every fd of the node container's processes that is an inotify instance.
INOTIFY_PER_NODE = 28
INOTIFY_FIX = ("`sudo sysctl -w fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288` "
               "(edgelab never changes it for you)")


def _quiet(cmd: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lacks_cap_sys_resource() -> bool:
    """True where `docker run --privileged` fails without the runc wrapper (Linux only; False elsewhere)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return not (int(line.split()[1], 16) >> CAP_SYS_RESOURCE) & 1
    return False


def docker_answers() -> bool:
    return docker.state().answers


def docker_default_runtime() -> str:
    return docker.state().default_runtime


def _apt_install(packages: list[str], say: Say) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise HostError(
            f"{', '.join(packages)} missing and cannot be installed automatically here "
            "(needs root and apt-get). Install Docker Engine (https://docs.docker.com/engine/install/) "
            "and run again."
        )
    say(f"installing {' '.join(packages)} from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise HostError(f"`{' '.join(cmd)}` failed:\n{proc.stderr[-2000:]}")


def _write_daemon_json(need_wrapper: bool) -> bool:
    """Merge our keys into dockerd's config; return True when it changed."""
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    before = json.dumps(config, sort_keys=True)
    config["live-restore"] = True  # node containers survive a dockerd restart
    if need_wrapper:
        config.setdefault("runtimes", {})["edgelab-runc"] = {"path": str(WRAPPER_PATH)}
        config["default-runtime"] = "edgelab-runc"
    if json.dumps(config, sort_keys=True) == before:
        return False
    DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(json.dumps(config, indent=2) + "\n")
    return True


def _start_dockerd(say: Say) -> None:
    say(f"starting dockerd (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        # setsid: dockerd must outlive the command that started it.
        subprocess.Popen(
            ["dockerd"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if docker_answers():
            return
        time.sleep(0.5)
    raise HostError(f"dockerd did not answer within 90 s; see {DOCKERD_LOG}")


def _stop_dockerd() -> None:
    _quiet(["pkill", "-TERM", "-x", "dockerd"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _quiet(["pgrep", "-x", "dockerd"]).returncode == 0:
        time.sleep(0.3)


def ensure_docker(wrapper_binary: Path | None, say: Say = lambda _: None) -> None:
    """Docker answers, with the runc wrapper as default runtime where it is needed."""
    need_wrapper = lacks_cap_sys_resource()
    if need_wrapper:
        if wrapper_binary is None:
            raise HostError("this host lacks CAP_SYS_RESOURCE and the runc wrapper is not built yet")
        if not WRAPPER_PATH.exists() or WRAPPER_PATH.read_bytes() != wrapper_binary.read_bytes():
            tmp = WRAPPER_PATH.with_suffix(".tmp")
            shutil.copyfile(wrapper_binary, tmp)
            tmp.chmod(0o755)
            tmp.replace(WRAPPER_PATH)
    if docker_answers():
        if not need_wrapper or docker_default_runtime() == "edgelab-runc":
            return
        if _quiet(["pgrep", "-x", "dockerd"]).returncode != 0:
            raise HostError(
                "Docker answers but not from a dockerd on this machine, and this host needs the "
                "runc wrapper (no CAP_SYS_RESOURCE): configure that daemon with "
                f"default-runtime {WRAPPER_PATH} (see docs/offline.md)."
            )
    if not shutil.which("dockerd"):
        _apt_install(["docker.io"], say)
    changed = _write_daemon_json(need_wrapper)
    if docker_answers() and changed:
        say("restarting dockerd to use the runc wrapper")
        _stop_dockerd()
    if not docker_answers():
        _start_dockerd(say)
    if need_wrapper and docker_default_runtime() != "edgelab-runc":
        raise HostError(f"dockerd did not take the runc wrapper from {DAEMON_JSON}; see {DOCKERD_LOG}")


def ensure_tools(say: Say = lambda _: None) -> None:
    """Host packages the offline build uses."""
    missing = [p for p, exe in (("debootstrap", "debootstrap"), ("iptables", "iptables"),
                                ("libcap2-bin", "setcap")) if not shutil.which(exe)]
    if missing:
        _apt_install(missing, say)


def inotify_instances() -> int | None:
    """fs.inotify.max_user_instances where kind's nodes run: this Linux host, else unknown (Docker in a VM)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except (OSError, ValueError):
        return None


def inotify_shortfall(nodes: int, instances: int | None) -> str | None:
    """What to tell a user whose limit is below what `nodes` kind nodes on this machine hold; None when it fits
    or cannot be known. kind's known issue: past the limit, nodes fail with "too many open files"."""
    if instances is None or nodes * INOTIFY_PER_NODE <= instances:
        return None
    return (f"fs.inotify.max_user_instances is {instances}, and {nodes} kind node(s) on this machine hold about "
            f"{nodes * INOTIFY_PER_NODE} ({INOTIFY_PER_NODE} each): past it kind's nodes fail with \"too many open "
            f"files\". The fix: {INOTIFY_FIX}")


def raise_inotify_limits() -> None:
    """kind's "too many open files": several nodes exhaust the default 128 instances."""
    for key, want in INOTIFY.items():
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            if int(path.read_text()) < want:
                path.write_text(str(want))
        except OSError as exc:
            raise HostError(f"cannot raise {key} to {want} ({exc}); run `sysctl -w {key}={want}` as root") from exc


def uplink_interface() -> str | None:
    if not shutil.which("ip"):
        return None
    out = _quiet(["ip", "-j", "route", "show", "default"])
    try:
        routes = json.loads(out.stdout or "[]")
    except json.JSONDecodeError:
        return None
    return routes[0].get("dev") if routes else None


def keep_cluster_ranges_local() -> list[str]:
    """Reject service and pod ranges on their way out through the uplink.

    Matching `-o <uplink>` matters: bridged node-to-node traffic also passes
    DOCKER-USER (bridge-nf-call-iptables), and must not be cut.
    Returns the rules in force.
    """
    dev = uplink_interface()
    if dev is None or not shutil.which("iptables"):
        return []
    rules = []
    for cidr in CLUSTER_RANGES:
        rule = ["DOCKER-USER", "-o", dev, "-d", cidr, "-j", "REJECT"]
        if _quiet(["iptables", "-C", *rule]).returncode != 0:
            proc = _quiet(["iptables", "-I", *rule])
            if proc.returncode != 0:
                raise HostError(f"cannot add firewall rule {' '.join(rule)}: {proc.stderr.strip()}")
        rules.append(" ".join(rule))
    return rules
