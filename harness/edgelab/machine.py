"""This machine's edgelab set-up: decided once by `edgelab setup`, recorded, then only read.

Two modes (docs/where.md):

- **online**: a container registry answers (Docker Hub, or the mirror given
  with `--registry-mirror`, or one in the Docker engine's own settings).
  Stock `kindest/node` and add-on images, our two images built from
  Dockerfiles, pinned kind and kubectl fetched with checksums. Nothing on the
  host is changed: it runs as any user of the `docker` group.
- **offline**: no registry answers. Everything is built from Debian packages
  and Go modules (Linux, root; `offline/`), the host is prepared (Docker
  engine, runc wrapper, inotify limits, firewall rules). Root also writes a
  machine-wide record and the tools under `/var/lib/edgelab`, so every user
  of the `docker` group can then run stores without root or a rebuild.

`setup()` decides (or takes the recorded decision), makes sure the artifacts
exist and records them; `current()` only reads the record, for the commands
that must not change the host (status, shell, down, lab …, fault status).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import engine
from .errors import HostError
from .pins import Pins, load

Report = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Artifacts:
    """What clusters are made with on this machine, as `setup` recorded it."""

    offline: bool
    kind: Path
    kubectl: Path
    node_image: str
    python_base_image: str
    runc_wrapper: Path | None = None
    reason: str = ""  # why this mode: what answered, or what did not
    registry_mirror: str | None = None  # HOST[:PORT] or http(s)://HOST[:PORT] every pull goes through
    decided_at: str = ""

    @property
    def mode(self) -> str:
        return "offline" if self.offline else "online"

    def to_json(self) -> dict[str, Any]:
        d = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        d["mode"] = self.mode
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Artifacts:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("kind", "kubectl"):
            kw[k] = Path(kw[k])
        if kw.get("runc_wrapper"):
            kw["runc_wrapper"] = Path(kw["runc_wrapper"])
        return cls(**kw)


# --- where the record lives ------------------------------------------------------


def config_dir() -> Path:
    """This user's edgelab settings: `$EDGELAB_CONFIG_DIR`, else `$XDG_CONFIG_HOME/edgelab`."""
    if d := os.environ.get("EDGELAB_CONFIG_DIR"):
        return Path(d)
    return Path(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")) / "edgelab"


def cache_dir() -> Path:
    """edgelab's cache (builds, logs, its own tools): `$EDGELAB_CACHE`, else `$XDG_CACHE_HOME/edgelab`."""
    base = os.environ.get("EDGELAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgelab"
    )
    return Path(base)


def state_root() -> Path:
    """edgelab's state (stores, clusters, drills, runs, progress): `$XDG_STATE_HOME/edgelab`, else
    `~/.local/state/edgelab`."""
    return Path(os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")) / "edgelab"


def system_dir() -> Path:
    """The machine-wide set-up an admin made (`$EDGELAB_SYSTEM_DIR`, else /var/lib/edgelab)."""
    return Path(os.environ.get("EDGELAB_SYSTEM_DIR") or "/var/lib/edgelab")


def record_path() -> Path:
    return config_dir() / "setup.json"


def system_record_path() -> Path:
    return system_dir() / "setup.json"


def _read(path: Path) -> Artifacts | None:
    try:
        return Artifacts.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HostError(f"edgelab's set-up record {path} is unreadable ({exc}): run `edgelab setup` again") from exc


def recorded() -> Artifacts | None:
    """This user's record, else the machine's (made by an admin); None when neither exists."""
    return _read(record_path()) or _read(system_record_path())


def _write(path: Path, artifacts: Artifacts) -> None:
    """Atomically, and safe beside another edgelab writing it too (a temporary file of its own each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(artifacts.to_json(), indent=2) + "\n")
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def current() -> Artifacts:
    """The recorded set-up, for commands that must not install, start or build anything."""
    found = recorded()
    if found is None:
        raise HostError("edgelab is not set up on this machine yet: run `edgelab setup` (or `make up`)")
    return found


# --- deciding ---------------------------------------------------------------------


def mirror_url(mirror: str) -> str:
    """`HOST[:PORT]` → its base URL: http for loopback (as Docker does), https otherwise."""
    if "://" in mirror:
        return mirror.rstrip("/")
    host = mirror.split(":")[0]
    scheme = "http" if host in ("localhost", "::1") or host.startswith("127.") else "https"
    return f"{scheme}://{mirror}"


def mirror_host(mirror: str) -> str:
    """`HOST[:PORT]` of a mirror, as image references and Docker want it."""
    return mirror.split("://", 1)[-1].rstrip("/")


def registry_answers(base_url: str, timeout: float = 5.0) -> bool:
    """A registry answers `GET /v2/` with a `Docker-Distribution-Api-Version` header.

    (A captive or transparent proxy that answers everything does not send it.)
    """
    try:
        with urllib.request.urlopen(f"{base_url}/v2/", timeout=timeout, context=ssl.create_default_context()) as r:
            return r.headers.get("Docker-Distribution-Api-Version", "").startswith("registry/2")
    except urllib.error.HTTPError as err:
        return err.headers.get("Docker-Distribution-Api-Version", "").startswith("registry/2")
    except (OSError, ValueError):
        return False


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
        if registry_answers(url):
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
        from . import bundle

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
        state = engine.state()
        engine_mirrors = state.mirrors if state.answers else []
        is_offline, why = decide(offline, mirror, engine_mirrors)
        say(f"mode {'offline' if is_offline else 'online'}: {why}")
    if is_offline:
        artifacts = _offline(pins, report, say, why)
    else:
        from . import online

        artifacts = online.build(pins, mirror, report, say, why)
    stamp = before.decided_at if before is not None and before.mode == artifacts.mode and before.reason == why \
        else datetime.now(UTC).isoformat(timespec="seconds")
    artifacts = replace(artifacts, decided_at=stamp)
    _write(record_path(), artifacts)
    if artifacts.offline and os.geteuid() == 0:
        _share_with_the_docker_group(artifacts)
    return artifacts


def _offline(pins: Pins, report: Report, say: Callable[[str], None], why: str) -> Artifacts:
    """Root builds; any other user takes what an admin prepared, or is told how to get it."""
    from .offline import build

    if engine.is_root_linux():
        return replace(build(report=report, pins=pins), reason=why)
    prepared = _read(system_record_path())
    if prepared is None or not prepared.offline:
        builds_here = "an admin runs `sudo .venv/bin/edgelab setup --offline` once (docs/offline.md), " \
            if sys.platform.startswith("linux") else "offline builds need Linux and root; "
        raise HostError(
            f"{why}, and this machine is not prepared for offline use: {builds_here}or load a bundle made "
            "elsewhere with `edgelab images load FILE`, or give a registry that answers with "
            "`edgelab setup --registry-mirror HOST:PORT`")
    engine.require()
    missing = [ref for ref in (prepared.node_image,) if not engine.image_exists(ref)]
    if missing:
        raise HostError(f"this machine's offline images are gone ({', '.join(missing)}): an admin runs "
                        "`sudo .venv/bin/edgelab setup --offline` again")
    from .offline._build import own_images

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
    _write(system_record_path(), replace(artifacts, kind=shared["kind"], kubectl=shared["kubectl"]))
    system_record_path().chmod(0o644)
