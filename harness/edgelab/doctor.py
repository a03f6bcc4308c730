"""`edgelab doctor`: is this machine ready to run stores, and what to do if not."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import host
from .offline._build import cache_dir, pipeline, pulls_possible

MIN_FREE_MEMORY = 4 << 30  # a 3-node store uses about 1.2 GiB; the build more
MIN_FREE_DISK = 15 << 30  # the offline build's caches and images take about 8 GiB


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def checks() -> list[Check]:
    out: list[Check] = []
    if host.docker_answers():
        runtime = host.docker_default_runtime()
        needs = host.lacks_cap_sys_resource()
        ok = not needs or runtime == "edgelab-runc"
        out.append(Check("docker", ok, f"engine answers, default runtime {runtime}",
                         "" if ok else "run `edgelab setup`: this host lacks CAP_SYS_RESOURCE and needs the runc wrapper"))
    elif shutil.which("dockerd"):
        out.append(Check("docker", False, "dockerd installed but not answering", "run `edgelab setup` (starts it) or start Docker"))
    else:
        out.append(Check("docker", False, "no Docker engine", "run `edgelab setup` (installs Debian's docker.io) or install Docker"))
    pipe = pipeline()
    tools = pipe.is_done("tools")
    out.append(Check("kind+kubectl", tools or bool(shutil.which("kind")),
                     "built (pinned versions)" if tools else ("kind on PATH" if shutil.which("kind") else "not built"),
                     "" if tools else "run `edgelab setup`"))
    offline = not pulls_possible()
    if offline:
        node = pipe.is_done("node-image") if host.docker_answers() else False
        out.append(Check("images", node, "no registry reachable: offline images " + ("built" if node else "not built"),
                         "" if node else "run `edgelab setup` (about 14 minutes the first time)"))
    else:
        out.append(Check("images", True, "a registry answers: stock images will be pulled"))
    free_mem = host.meminfo("MemAvailable")
    out.append(Check("memory", free_mem >= MIN_FREE_MEMORY, f"{free_mem >> 20} MiB available",
                     f"free memory: at least {MIN_FREE_MEMORY >> 30} GiB needed (stop other stores: `edgelab down`)"))
    base = cache_dir()
    probe = base if base.exists() else Path.home()
    free_disk = shutil.disk_usage(probe).free
    out.append(Check("disk", free_disk >= MIN_FREE_DISK, f"{free_disk >> 30} GiB free at {probe}",
                     f"free disk: at least {MIN_FREE_DISK >> 30} GiB needed"))
    try:
        inst = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    except OSError:
        inst = 0
    ok = inst >= host.INOTIFY["fs.inotify.max_user_instances"]
    out.append(Check("inotify", ok, f"max_user_instances {inst}", "" if ok else "run `edgelab setup` (raises it to 512)"))
    if shutil.which("iptables") and host.docker_answers():
        rules = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True, check=False).stdout
        ok = all(c in rules for c in host.CLUSTER_RANGES)
        out.append(Check("firewall", ok, "cluster ranges kept on this machine" if ok else "cluster ranges may leave",
                         "" if ok else "run `edgelab setup` (adds DOCKER-USER rules)"))
    return out
