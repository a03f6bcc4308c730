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
import ssl
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from edgelab.base import files
from edgelab.base.errors import HostError
from edgelab.base.paths import config_dir, system_dir


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


def record_path() -> Path:
    return config_dir() / "setup.json"


def system_record_path() -> Path:
    return system_dir() / "setup.json"


def read_record(path: Path) -> Artifacts | None:
    try:
        return Artifacts.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HostError(f"edgelab's set-up record {path} is unreadable ({exc}): run `edgelab setup` again") from exc


def recorded() -> Artifacts | None:
    """This user's record, else the machine's (made by an admin); None when neither exists."""
    return read_record(record_path()) or read_record(system_record_path())


def write_record(path: Path, artifacts: Artifacts) -> None:
    """Atomically, and safe beside another edgelab writing it too."""
    files.write_locked(path, json.dumps(artifacts.to_json(), indent=2) + "\n", mode=0o644)


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
