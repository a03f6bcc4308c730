"""`edgelab doctor`: is this machine ready to run stores, and what to do if not.

It only looks: nothing is installed, started or changed. Every failed check
says the exact command (or setting) that fixes it; kind's known issues
(inotify limits, memory given to Docker) are explained, never fixed silently.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgelab.base import paths
from edgelab.base.pins import load
from edgelab.machine import docker, host, record, tools
from edgelab.store import stores

MIN_FREE_DISK = 15 << 30  # the offline build's caches and images take about 8 GiB; online about 3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def checks() -> list[Check]:
    out: list[Check] = []
    pins = load()
    st = docker.state()
    if not st.answers:
        out.append(Check("docker", False, st.problem, st.fix))
    else:
        needs = sys.platform.startswith("linux") and host.lacks_cap_sys_resource()
        ok = not needs or st.default_runtime == "edgelab-runc"
        out.append(Check("docker", ok, f"engine {st.version} ({st.os}, {st.arch}), {st.cpus} CPUs, "
                         f"{st.memory_bytes >> 20} MiB, default runtime {st.default_runtime}",
                         "" if ok else "this host lacks CAP_SYS_RESOURCE: an admin runs "
                         "`sudo .venv/bin/edgelab setup --offline` once (registers the runc wrapper)"))
    try:
        rec = record.recorded()
    except record.HostError as exc:
        rec = None
        out.append(Check("setup", False, str(exc), "run `edgelab setup`"))
    else:
        if rec is None:
            out.append(Check("setup", False, "not set up yet", "run `edgelab setup` (decides online or offline once)"))
        else:
            out.append(Check("setup", True, f"{rec.mode}: {rec.reason}"
                             + (f"; mirror {rec.registry_mirror}" if rec.registry_mirror else "")))
    for name in ("kind", "kubectl"):
        path = getattr(rec, name) if rec is not None else shutil.which(name)
        version = tools.version_of(name, Path(path)) if path else None
        want = pins.kind if name == "kind" else pins.kubernetes
        ok = version is not None and tools.acceptable(name, version, pins)
        detail = f"{version} at {path}" if version else ("not found" if not path else f"{path} does not run")
        out.append(Check(name, ok, detail, "" if ok else f"run `edgelab setup` (fetches {name} {want} with its "
                                                         "checksum; a wrong version on PATH is not used)"))
    if rec is not None and rec.registry_mirror:
        url = record.mirror_url(rec.registry_mirror)
        ok = record.registry_answers(url)
        out.append(Check("mirror", ok, f"{url} " + ("answers" if ok else "does not answer"),
                         "" if ok else "start the mirror, or `edgelab setup --registry-mirror ''` to pull directly"))
    if rec is not None and st.answers:
        ok = docker.image_exists(rec.node_image)
        out.append(Check("images", ok, f"node image {rec.node_image} " + ("present" if ok else "missing"),
                         "" if ok else "run `edgelab setup`" + (" as root (offline build)" if rec.offline else "")))
    if st.answers:
        prof = stores.profile(None)
        ok = st.memory_bytes >= prof.memory_bytes
        out.append(Check("memory", ok, f"Docker has {st.memory_bytes >> 20} MiB; a node of profile {prof.name} "
                         f"is {prof.memory_bytes >> 20} MiB (a running 1-node store uses about 1.2 GiB)",
                         "" if ok else "give Docker more memory (Docker Desktop / colima: resources settings)"))
    base = paths.cache_dir()
    probe = base if base.exists() else Path.home()
    free_disk = shutil.disk_usage(probe).free
    out.append(Check("disk", free_disk >= MIN_FREE_DISK, f"{free_disk >> 30} GiB free at {probe}",
                     f"free disk: at least {MIN_FREE_DISK >> 30} GiB needed"))
    inst = host.inotify_instances()
    limit = host.INOTIFY["fs.inotify.max_user_instances"]
    if inst is None:
        out.append(Check("inotify", True, "not readable from here (Docker runs in a VM): kind's \"too many open "
                         "files\" issue needs fs.inotify.max_user_instances >= 512 there"))
    else:
        ok = inst >= limit
        out.append(Check("inotify", ok, f"max_user_instances {inst} (several kind nodes need {limit})",
                         "" if ok else f"kind's \"too many open files\": {host.INOTIFY_FIX}"))
    if rec is not None and rec.offline and shutil.which("iptables") and st.answers and host.is_root():
        rules = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True, check=False).stdout
        ok = all(c in rules for c in host.CLUSTER_RANGES)
        out.append(Check("firewall", ok, "cluster ranges kept on this machine" if ok else "cluster ranges may leave",
                         "" if ok else "run `sudo .venv/bin/edgelab setup --offline` (adds DOCKER-USER rules)"))
    return out
