"""`edgelab setup`: decide the machine's mode once (online or offline), make its artifacts, record them."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from edgelab.base.errors import HostError
from edgelab.base.paths import system_dir
from edgelab.base.pins import Pins, load
from edgelab.base.types import Report
from edgelab.machine import bundle, docker, online, record
from edgelab.machine.offline.make import build, own_images
from edgelab.machine.record import (
    Artifacts,
    mirror_url,
    record_path,
    recorded,
    system_record_path,
)


def decide(offline: bool | None, mirror: str | None, engine_mirrors: list[str]) -> tuple[bool, str]:
    """(offline?, why). `offline` forces; else the first registry that answers makes it online.

    Asked, in order: the mirror given; the Docker engine's own `registry-mirrors`;
    Docker Hub. `EDGELAB_OFFLINE=1|0` forces too (for tests and scripts).
    """
    forced = os.environ.get("EDGELAB_OFFLINE")
    if offline is None and forced in ("0", "1"):
        offline, why = forced == "1", f"EDGELAB_OFFLINE={forced}"
        return offline, why
    if offline is not None:
        return offline, "asked for (--offline)" if offline else "asked for (--online)"
    tried: list[str] = []
    candidates = ([mirror_url(mirror)] if mirror else []) + [mirror_url(m) for m in engine_mirrors]
    candidates.append("https://registry-1.docker.io")
    for url in candidates:
        if record.registry_answers(url):
            return False, f"the registry at {url} answers"
        tried.append(url)
    return True, f"no container registry answers (tried {', '.join(tried)})"


# --- making sure ------------------------------------------------------------------


def setup(offline: bool | None = None, mirror: str | None = None, report: Report = lambda *_: None,
          pins: Pins | None = None, redecide: bool = False) -> Artifacts:
    """Decide the mode once (or take the recorded one), make sure its artifacts exist, record them.

    A flag overrides the record; without flags the recorded mode and mirror
    are kept (no registry is probed again). Online changes nothing on the host.
    """
    pins = pins or load()
    before = recorded()

    def say(message: str) -> None:
        report("host", message, 0.0)

    if before is not None and not redecide and offline is None and mirror is None:
        if bundle.is_loaded(before):  # nothing can be built where a bundle was needed: check it is whole
            bundle.check_loaded(before)
            say(f"mode offline ({before.reason})")
            return before
        is_offline, why, mirror = before.offline, before.reason, before.registry_mirror
        say(f"mode {before.mode} (recorded: {why})")
    else:
        if mirror is not None:
            mirror = mirror or None  # --registry-mirror "" removes it
        elif before is not None:
            mirror = before.registry_mirror
        state = docker.state()
        engine_mirrors = state.mirrors if state.answers else []
        is_offline, why = decide(offline, mirror, engine_mirrors)
        say(f"mode {'offline' if is_offline else 'online'}: {why}")
    if is_offline:
        artifacts = _offline(pins, report, say, why)
    else:
        artifacts = online.build(pins, mirror, report, say, why)
    stamp = before.decided_at if before is not None and before.mode == artifacts.mode and before.reason == why \
        else datetime.now(UTC).isoformat(timespec="seconds")
    artifacts = replace(artifacts, decided_at=stamp)
    record.write_record(record_path(), artifacts)
    if artifacts.offline and os.geteuid() == 0:
        _share_with_the_docker_group(artifacts)
    return artifacts


def _offline(pins: Pins, report: Report, say: Callable[[str], None], why: str) -> Artifacts:
    """Root builds; any other user takes what an admin prepared, or is told how to get it."""
    if docker.is_root_linux():
        return replace(build(report=report, pins=pins), reason=why)
    prepared = record.read_record(system_record_path())
    if prepared is None or not prepared.offline:
        builds_here = "an admin runs `sudo .venv/bin/edgelab setup --offline` once (docs/offline.md), " \
            if sys.platform.startswith("linux") else "offline builds need Linux and root; "
        raise HostError(
            f"{why}, and this machine is not prepared for offline use: {builds_here}or load a bundle made "
            "elsewhere with `edgelab images load FILE`, or give a registry that answers with "
            "`edgelab setup --registry-mirror HOST:PORT`")
    docker.require()
    missing = [ref for ref in (prepared.node_image,) if not docker.image_exists(ref)]
    if missing:
        raise HostError(f"this machine's offline images are gone ({', '.join(missing)}): an admin runs "
                        "`sudo .venv/bin/edgelab setup --offline` again")
    own_images(pins, report)  # docker builds only, no root (rebuilt when the edge app changed)
    say(f"using the offline set-up an admin made ({system_record_path()})")
    return replace(prepared, reason=why)


def _share_with_the_docker_group(artifacts: Artifacts) -> None:
    """Root's offline set-up, readable by every user: tools under the system folder, a record."""
    bindir = system_dir() / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    os.chmod(system_dir(), 0o755)
    shared: dict[str, Path] = {}
    for name in ("kind", "kubectl"):
        src: Path = getattr(artifacts, name)
        dst = bindir / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            tmp = dst.with_suffix(".tmp")
            shutil.copyfile(src, tmp)
            tmp.chmod(0o755)
            tmp.replace(dst)
        shared[name] = dst
    record.write_record(system_record_path(), replace(artifacts, kind=shared["kind"], kubectl=shared["kubectl"]))
    system_record_path().chmod(0o644)
