"""The pinned `kind` and `kubectl` on users' machines: found, or downloaded and checked, never compiled.

`resolve` looks in edgelab's own tool folders first, then on PATH, and only
then downloads the official binary from the URL in `pins.yaml`'s `tools:`
block, verifying its sha256 before it is made executable. kind must be the
pinned version exactly; kubectl must be the pinned Kubernetes minor (v1.34.x).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from edgelab.base.errors import ToolError
from edgelab.base.paths import cache_dir
from edgelab.base.pins import Pins, ToolPin
from edgelab.machine import docker, record

_OS = {"Linux": "linux", "Darwin": "darwin"}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_VERSION_TIMEOUT = 10.0
_DOWNLOAD_TIMEOUT = 60.0  # per network operation (connect, each read), not the whole download
_CHUNK = 1 << 20


def platform_key(system: str | None = None, machine: str | None = None) -> str:
    """This machine as "<os>-<arch>" ("linux-amd64", "darwin-arm64", ...); ToolError if unsupported."""
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    os_name, arch = _OS.get(system), _ARCH.get(machine.lower())
    if os_name is None or arch is None:
        raise ToolError(
            f"edgelab has no kind/kubectl downloads for {system} {machine}: install them yourself and put them on PATH"
        )
    return f"{os_name}-{arch}"


def default_dir() -> Path:
    """edgelab's own tool folder: `bin` in its cache (`$EDGELAB_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/edgelab`)."""
    return cache_dir() / "bin"


def _pin(name: str, pins: Pins) -> ToolPin:
    try:
        return pins.tools[name]
    except KeyError:
        raise ToolError(f"edgelab pins no tool named {name!r} (it knows {sorted(pins.tools)})") from None


def wanted(name: str, pins: Pins) -> str:
    """What `acceptable` accepts, for messages: "v0.30.0" for kind, "v1.34.x" for kubectl."""
    version = _pin(name, pins).version
    if name == "kubectl":
        major, minor = _major_minor(version) or (0, 0)
        return f"v{major}.{minor}.x"
    return version


def version_of(name: str, path: Path | str, timeout: float = _VERSION_TIMEOUT) -> str | None:
    """The version the binary at `path` reports ("v0.30.0", "v1.34.4"); None if it cannot run or say."""
    if name == "kind":
        argv = [str(path), "version"]  # prints e.g. "kind v0.30.0 go1.24.6 linux/amd64"
    elif name == "kubectl":
        argv = [str(path), "version", "--client", "-o", "json"]
    else:
        raise ToolError(f"edgelab knows no tool named {name!r}")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    if name == "kind":
        match = re.search(r"^kind (v\d+\.\d+\.\d+\S*)", out.stdout.strip())
        return match.group(1) if match else None
    try:
        version = json.loads(out.stdout)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def acceptable(name: str, found_version: str | None, pins: Pins) -> bool:
    """kind: exactly the pinned version. kubectl: the pinned Kubernetes major.minor.

    kubectl's skew policy allows ±1 minor, but learners should use the server's.
    """
    if not found_version:
        return False
    pinned = _pin(name, pins).version
    if name == "kubectl":
        found = _major_minor(found_version)
        return found is not None and found == _major_minor(pinned)
    return found_version == pinned


def resolve(
    name: str,
    pins: Pins,
    own_dirs: list[Path],
    say: Callable[[str], None],
    download: bool = True,
) -> Path:
    """An acceptable `name` binary: from `own_dirs` (in order), else PATH, else downloaded into `own_dirs[0]`."""
    pin = _pin(name, pins)
    want = wanted(name, pins)
    own = [d / name for d in own_dirs]
    for candidate in own:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            version = version_of(name, candidate)
            if acceptable(name, version, pins):
                return candidate
            say(_rejected(name, version, f"at {candidate}", want))

    on_path = shutil.which(name)
    if on_path and Path(on_path).resolve() not in {c.resolve() for c in own if c.exists()}:
        version = version_of(name, on_path)
        if acceptable(name, version, pins):
            return Path(on_path)
        say(_rejected(name, version, f"on PATH ({on_path})", want))

    if not download:
        raise ToolError(
            f"no {name} {want} found in {', '.join(map(str, own_dirs)) or 'edgelab folders'} or on PATH:"
            f" install {name} {want} and put it on PATH, or let edgelab download it"
        )
    if not own_dirs:
        raise ToolError(f"no folder to download {name} {pin.version} into (own_dirs is empty)")
    return _download(name, pin, want, own_dirs[0], say)


def _rejected(name: str, version: str | None, where: str, want: str) -> str:
    if version is None:
        return f"{name} {where} does not run or report its version: not using it"
    return f"{name} {version} {where} is not {want}: not using it"


def _download(name: str, pin: ToolPin, want: str, folder: Path, say: Callable[[str], None],
              plat: str | None = None) -> Path:
    plat = plat or platform_key()
    os_name, arch = plat.split("-")
    url = pin.url.format(version=pin.version, os=os_name, arch=arch)
    expected = pin.sha256.get(plat)
    if not expected:
        raise ToolError(
            f"no checksum pinned for {name} {pin.version} {plat}: install {name} {want} yourself and put it on PATH"
        )
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        say(f"downloading {name} {pin.version} ({plat}) from {url}")
        request = urllib.request.Request(url, headers={"User-Agent": "edgelab"})
        try:
            # urlopen's default opener honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                done, next_mark = 0, 25
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if total and done * 100 >= next_mark * total and done < total:
                        say(f"  {name}: {done * 100 // total}% of {total / 1e6:.1f} MB")
                        next_mark = (done * 100 // total) // 25 * 25 + 25
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise ToolError(
                f"could not download {name} {pin.version} from {url} ({reason}): check the network or HTTPS_PROXY,"
                f" or install {name} {want} yourself and put it on PATH"
            ) from e
        got = digest.hexdigest()
        if got != expected:
            raise ToolError(
                f"{name} {pin.version} from {url} has sha256 {got}, pinned {expected}: not installed;"
                f" try again, and if it persists install {name} {want} yourself and put it on PATH"
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    say(f"{name} {pin.version}: sha256 verified, installed at {dest}")
    return dest


def linux_kubectl(engine_arch: str, pins: Pins, say: Callable[[str], None] = lambda _: None) -> Path:
    """The pinned kubectl for Linux on the Docker engine's architecture (for images), checksum-verified.

    On a Linux host of that architecture it is the one `resolve` found; elsewhere
    (macOS with Docker Desktop) it is downloaded once into the cache.
    """
    plat = f"linux-{docker.goarch(engine_arch)}"
    if platform_key() == plat:
        return record.current().kubectl
    folder = default_dir() / plat
    if version_of("kubectl", folder / "kubectl") == _pin("kubectl", pins).version:
        return folder / "kubectl"
    return _download("kubectl", _pin("kubectl", pins), wanted("kubectl", pins), folder, say, plat)
