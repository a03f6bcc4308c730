"""An image bundle: one file that carries a working set-up to a machine without registry or package mirrors.

`save` writes, from this machine's recorded set-up (it builds nothing), one
uncompressed tar file (most of it is image layers, which compress poorly):

    bin/kind, bin/kubectl   the set-up's binaries
    images.tar              `docker save` of the node image, the python base,
                            the store's workload names and the fault operator
    bundle.json             written last, so a cut-off copy has none: format,
                            the pins it was made for, each image's Docker id,
                            each file's size and sha256, when it was made

`load` checks all of it before changing anything (format, pins, platform,
sizes, checksums, that the binaries run and are the pinned versions), then
`docker load`s the images and checks their ids, installs kind and kubectl,
and writes the set-up record last: mode offline, "loaded from bundle …".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from edgelab import __version__
from edgelab.base import paths
from edgelab.base.errors import EdgelabError
from edgelab.base.pins import Pins
from edgelab.base.pins import load as load_pins
from edgelab.base.types import Say
from edgelab.machine import docker, record, tools
from edgelab.machine.images import store_images
from edgelab.machine.record import Artifacts

FORMAT = 1
MANIFEST = "bundle.json"
IMAGES = "images.tar"
BINARIES = ("kind", "kubectl")
FILES = (*(f"bin/{b}" for b in BINARIES), IMAGES)  # every member besides the manifest, in file order
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_MANIFEST_MAX = 1 << 20  # bundle.json is a few KB; anything larger is not ours
_DOCKER_SAVE_TIMEOUT = 3600.0

LOADED = "loaded from bundle "  # how a loaded set-up's reason starts
MAKE_AGAIN = "make it again with `edgelab images save FILE` on a set-up machine"


class BundleError(EdgelabError):
    """An image bundle that cannot be made, or is malformed, truncated, damaged or for another edgelab."""


# --- saving ---------------------------------------------------------------------------------------------


def bundle_images(artifacts: Artifacts) -> list[str]:
    """Every image name a store needs, in a stable order: node image, python base, then the store's."""
    names = [artifacts.node_image, artifacts.python_base_image, *store_images()]
    return list(dict.fromkeys(names))


def save(path: Path, artifacts: Artifacts, say: Say) -> dict[str, Any]:
    """Write the bundle for `artifacts` to `path` (via `<path>.partial`, renamed when complete); a summary."""
    started = time.monotonic()
    pins = load_pins()
    path = path.absolute()
    if path.is_dir():
        raise BundleError(f"{path} is a folder: give a file name, e.g. {path / 'edgelab-images.tar'}")
    if not path.parent.is_dir():
        raise BundleError(f"the folder {path.parent} does not exist: create it, or save somewhere else")
    partial = path.with_suffix(".partial")
    if partial == path:
        partial = path.with_name(path.name + ".partial")

    binaries = {name: _checked_binary(name, getattr(artifacts, name), pins) for name in BINARIES}
    state = docker.require()
    names = bundle_images(artifacts)
    ids = {name: docker.image_id(name) for name in names}
    missing = [name for name, image_id in ids.items() if not image_id]
    if missing:
        raise BundleError(f"images missing on this machine: {', '.join(missing)}: run `edgelab setup` "
                          "(it makes them), then save again")
    warnings = []
    if not artifacts.offline:
        warnings.append("this set-up is online: its stock node image pulls the pod network and metrics-server "
                        "images from a registry when a cluster starts, so the bundle alone does not make a store "
                        "where none answers; make the bundle on an offline set-up for that")
        say("warning: " + warnings[0])

    say(f"saving {len(names)} image name(s), kind and kubectl into {path}")
    created = datetime.now(UTC).replace(microsecond=0)
    files: dict[str, dict[str, Any]] = {}
    try:
        with open(partial, "wb") as out:
            writer = _TarWriter(out, created.timestamp())
            for name, (src, _version) in binaries.items():
                with open(src, "rb") as f:
                    files[f"bin/{name}"] = writer.add_stream(f"bin/{name}", f, mode=0o755)
            with _docker_save(names) as images:
                files[IMAGES] = writer.add_stream(IMAGES, images, progress=say)
            manifest = {
                "format": FORMAT,
                "made_by": f"edgelab {__version__}",
                "created": created.isoformat(),
                "kubernetes": pins.kubernetes,
                "kind": pins.kind,
                "platform": tools.platform_key(),
                "arch": docker.goarch(state.arch),
                "mode": artifacts.mode,
                "node_image": artifacts.node_image,
                "python_base_image": artifacts.python_base_image,
                "images": [{"name": name, "id": ids[name]} for name in names],
                "tools": {name: version for name, (_src, version) in binaries.items()},
                "files": files,
            }
            writer.add_bytes(MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        partial.replace(path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BundleError(f"cannot write {path} ({exc.strerror or exc}): free space there or save elsewhere; "
                              "nothing was left behind") from exc
        raise
    size = path.stat().st_size
    say(f"saved {size / 1e9:.2f} GB to {path}")
    return {"path": str(path), "bytes": size, "images": manifest["images"], "created": manifest["created"],
            "kubernetes": pins.kubernetes, "kind": pins.kind, "mode": artifacts.mode, "warnings": warnings,
            "seconds": round(time.monotonic() - started, 1)}


def _checked_binary(name: str, path: Path, pins: Pins) -> tuple[Path, str]:
    """The recorded binary and its version; BundleError when it is gone or not the pinned one."""
    version = tools.version_of(name, path) if path.is_file() else None
    if version is None or not tools.acceptable(name, version, pins):
        found = "is missing" if not path.is_file() else f"reports {version}" if version else "does not run"
        raise BundleError(f"the set-up's {name} at {path} {found} (want {tools.wanted(name, pins)}): "
                          "run `edgelab setup`, then save again")
    return path, version


class _docker_save:  # noqa: N801 - used as a context manager, like open()
    """`docker save NAMES` as a stream; leaving the block checks how it ended."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.err = tempfile.TemporaryFile()

    def __enter__(self) -> IO[bytes]:
        self.proc = subprocess.Popen(["docker", "save", *self.names], stdout=subprocess.PIPE, stderr=self.err)
        assert self.proc.stdout is not None
        return self.proc.stdout

    def __exit__(self, exc_type: object, *_: object) -> None:
        assert self.proc.stdout is not None
        if exc_type is not None:
            self.proc.kill()
        self.proc.stdout.close()
        code = self.proc.wait(timeout=_DOCKER_SAVE_TIMEOUT)
        self.err.seek(0)
        detail = self.err.read().decode(errors="replace").strip()[-500:]
        self.err.close()
        if exc_type is None and code != 0:
            raise BundleError(f"`docker save` failed ({detail or f'exit {code}'}): check `docker info`, then save again")


class _TarWriter:
    """A plain tar written member by member; a streamed member's header is rewritten once its size is known."""

    def __init__(self, out: IO[bytes], mtime: float) -> None:
        self.out = out
        self.mtime = int(mtime)

    def _header(self, name: str, size: int, mode: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, self.mtime
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")

    def add_stream(self, name: str, src: IO[bytes], mode: int = 0o644, progress: Say | None = None) -> dict[str, Any]:
        """Copy `src` to the end of the tar; its size and sha256."""
        at = self.out.tell()
        placeholder = self._header(name, 0, mode)
        self.out.write(placeholder)
        digest, size, mark = hashlib.sha256(), 0, 1 << 30
        while chunk := src.read(_CHUNK):
            self.out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if progress is not None and size >= mark:
                progress(f"  {name}: {size >> 20} MiB so far")
                mark += 1 << 30
        self.out.write(b"\0" * (-size % tarfile.BLOCKSIZE))
        header = self._header(name, size, mode)
        if len(header) != len(placeholder):  # GNU headers are one block at any size: should never happen
            raise BundleError(f"cannot write the tar header of {name} ({size} bytes)")
        end = self.out.tell()
        self.out.seek(at)
        self.out.write(header)
        self.out.seek(end)
        return {"size": size, "sha256": digest.hexdigest()}

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.out.write(self._header(name, len(data), mode))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self.out.write(b"\0" * (2 * tarfile.BLOCKSIZE))


# --- loading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """bundle.json, checked."""

    made_by: str
    created: datetime
    kubernetes: str
    kind: str
    platform: str
    arch: str
    node_image: str
    python_base_image: str
    images: dict[str, str]  # name -> Docker image id
    files: dict[str, tuple[int, str]]  # member -> (size, sha256)


def load(path: Path, say: Say) -> Artifacts:
    """Check the bundle at `path`, load its images, install kind and kubectl, record an offline set-up."""
    path = path.absolute()
    pins = load_pins()
    say(f"checking {path}")
    with _open(path) as tar:
        manifest, members = read_manifest(path, tar)
        check_compatible(path, manifest, pins)
        _verify(path, tar, members, manifest, say)
        root = os.geteuid() == 0
        bindir = paths.system_dir() / "bin" if root else tools.default_dir()
        staged: dict[str, Path] = {}
        try:
            for name in BINARIES:
                staged[name] = _stage_binary(path, tar, members[f"bin/{name}"], manifest, bindir, pins)
            extracted = tar.extractfile(members[IMAGES])
            if extracted is None:
                raise BundleError(f"{path}: {IMAGES} is not a regular file: {MAKE_AGAIN}")
            say(f"loading {len(manifest.images)} image name(s) into Docker ({manifest.files[IMAGES][0] / 1e9:.2f} GB)")
            with extracted as images:
                _docker_load(path, images, manifest)
            installed = {}
            for name, tmp in staged.items():
                installed[name] = bindir / name
                os.replace(tmp, installed[name])
        finally:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
    made = manifest.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    artifacts = Artifacts(
        offline=True, kind=installed["kind"], kubectl=installed["kubectl"], node_image=manifest.node_image,
        python_base_image=manifest.python_base_image, runc_wrapper=None,
        reason=f"{LOADED}{path} (made {made})",
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if root:  # every user of the docker group shares it, as root's offline set-up does
        os.chmod(paths.system_dir(), 0o755)
        record.write_record(record.system_record_path(), artifacts)
        record.system_record_path().chmod(0o644)
    record.write_record(record.record_path(), artifacts)
    say(f"installed kind and kubectl in {bindir}; recorded in {record.record_path()}")
    return artifacts


def is_loaded(artifacts: Artifacts) -> bool:
    """Whether this set-up came from a bundle (`load`), not from a build or a registry."""
    return artifacts.reason.startswith(LOADED)


def check_loaded(artifacts: Artifacts) -> None:
    """A loaded set-up is still whole: every image a store needs is in Docker, kind and kubectl are the pinned ones.

    What `prepare.setup` can do for such a set-up instead of building (nothing
    can be built where `load` was needed).
    """
    pins = load_pins()
    docker.require()
    missing = [name for name in bundle_images(artifacts) if not docker.image_exists(name)]
    bad = [name for name in BINARIES
           if not tools.acceptable(name, tools.version_of(name, getattr(artifacts, name)), pins)]
    if missing or bad:
        what = "; ".join(p for p in (f"images missing: {', '.join(missing)}" if missing else "",
                                     f"not the pinned version or gone: {', '.join(bad)}" if bad else "") if p)
        raise BundleError(f"this machine's set-up was loaded from a bundle and is no longer whole ({what}): "
                          "run `edgelab images load FILE` again (FILE as in `edgelab doctor`'s setup line)")


def _open(path: Path) -> tarfile.TarFile:
    if not path.exists():
        raise BundleError(f"{path} does not exist: give the file `edgelab images save` wrote")
    if not path.is_file():
        raise BundleError(f"{path} is not a file: give the file `edgelab images save` wrote")
    try:
        return tarfile.open(path, "r:")  # uncompressed, seekable: headers are read, contents skipped
    except tarfile.ReadError as exc:
        raise BundleError(f"{path} is not an edgelab image bundle (not a tar file: {exc}): {MAKE_AGAIN}") from exc
    except OSError as exc:
        raise BundleError(f"cannot read {path} ({exc.strerror or exc}): check the file and its permissions") from exc


def _truncated(path: Path, have: int, need: int | None = None) -> BundleError:
    need_text = f"its contents need at least {need}" if need else "it ends inside its contents"
    return BundleError(f"{path} is truncated ({have} bytes, {need_text}): the copy was cut off; copy it again "
                       "from the machine that made it (or save it again there)")


def read_manifest(path: Path, tar: tarfile.TarFile) -> tuple[Manifest, dict[str, tarfile.TarInfo]]:
    """The checked bundle.json and the bundle's members by name; BundleError saying what is wrong."""
    try:
        members = {m.name: m for m in tar.getmembers()}
    except tarfile.ReadError as exc:
        if "unexpected end of data" in str(exc):  # a member's contents run past the end of the file
            raise _truncated(path, path.stat().st_size) from exc
        raise BundleError(f"{path} is not a readable tar file ({exc}): {MAKE_AGAIN}") from exc
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path} is not a readable tar file ({exc}): {MAKE_AGAIN}") from exc
    have = path.stat().st_size
    need = max((m.offset_data + m.size for m in members.values()), default=0)
    if need > have:
        raise _truncated(path, have, need)
    if MANIFEST not in members:
        if set(FILES) & set(members):  # ours, but written up to before its last member
            raise BundleError(f"{path} has no {MANIFEST}: it is truncated (the copy was cut off, or the save was "
                              "interrupted); copy it again from the machine that made it")
        raise BundleError(f"{path} is not an edgelab image bundle (no {MANIFEST}): {MAKE_AGAIN}")
    info = members[MANIFEST]
    if not info.isfile() or info.size > _MANIFEST_MAX:
        raise BundleError(f"{path}: {MANIFEST} is not a small regular file: {MAKE_AGAIN}")
    f = tar.extractfile(info)
    assert f is not None
    try:
        raw = json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON ({exc}): {MAKE_AGAIN}") from exc
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path}: cannot read {MANIFEST} ({exc}): copy the file again") from exc
    manifest = parse_manifest(path, raw)
    wrong = sorted(name for name in set(FILES) if name not in members or not members[name].isfile())
    extra = sorted(set(members) - set(FILES) - {MANIFEST})
    if wrong or extra:
        what = "; ".join(p for p in (f"missing {', '.join(wrong)}" if wrong else "",
                                     f"unexpected {', '.join(extra)}" if extra else "") if p)
        raise BundleError(f"{path} does not hold what its {MANIFEST} lists ({what}): {MAKE_AGAIN}")
    for name in FILES:
        size = manifest.files[name][0]
        if members[name].size != size:
            raise BundleError(f"{path}: {name} is {members[name].size} bytes, {MANIFEST} says {size}: the file is "
                              "damaged; copy it again from the machine that made it")
    return manifest, members


def parse_manifest(path: Path, raw: Any) -> Manifest:
    """bundle.json's fields, every problem reported at once (`field: rule (got value)`)."""
    if not isinstance(raw, dict):
        raise BundleError(f"{path}: {MANIFEST} is not a JSON object: {MAKE_AGAIN}")
    fmt = raw.get("format")
    if fmt != FORMAT:
        made_by = raw.get("made_by") if isinstance(raw.get("made_by"), str) else "an unknown edgelab"
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            raise BundleError(f"{path} is bundle format {fmt}, made by {made_by}; this edgelab ({__version__}) "
                              f"reads format {FORMAT}: load it with {made_by}, or save a bundle with this one")
        raise BundleError(f"{path}: {MANIFEST}: format: must be {FORMAT} (got {fmt!r}): {MAKE_AGAIN}")
    problems: list[str] = []

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f"{key}: must be a non-empty string (got {value!r})")
            return ""
        return value

    made_by, kubernetes, kind = text("made_by"), text("kubernetes"), text("kind")
    platform, arch, node_image, python_base = text("platform"), text("arch"), text("node_image"), text("python_base_image")
    created = datetime.fromtimestamp(0, UTC)
    if stamp := text("created"):
        try:
            created = datetime.fromisoformat(stamp)
            if created.tzinfo is None:
                raise ValueError("no time zone")
        except ValueError:
            problems.append(f"created: must be an ISO 8601 time with its zone (got {stamp!r})")
    images: dict[str, str] = {}
    listed = raw.get("images")
    if not isinstance(listed, list) or not listed:
        problems.append(f"images: must be a non-empty list (got {listed!r:.80})")
    else:
        for i, entry in enumerate(listed):
            name = entry.get("name") if isinstance(entry, dict) else None
            image_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                problems.append(f"images[{i}].name: must be a non-empty string (got {name!r})")
            elif name in images:
                problems.append(f"images[{i}].name: must be unique (got {name!r} twice)")
            if not isinstance(image_id, str) or not _IMAGE_ID.fullmatch(image_id):
                problems.append(f"images[{i}].id: must be sha256:<64 hex digits> (got {image_id!r})")
            if isinstance(name, str) and name and isinstance(image_id, str):
                images.setdefault(name, image_id)
        for key, ref in (("node_image", node_image), ("python_base_image", python_base)):
            if ref and ref not in images:
                problems.append(f"{key}: must be one of the images (got {ref!r})")
    files: dict[str, tuple[int, str]] = {}
    listed_files = raw.get("files")
    if not isinstance(listed_files, dict):
        problems.append(f"files: must be an object naming {', '.join(FILES)} (got {listed_files!r:.80})")
    else:
        for name in FILES:
            entry = listed_files.get(name)
            size = entry.get("size") if isinstance(entry, dict) else None
            digest = entry.get("sha256") if isinstance(entry, dict) else None
            if entry is None:
                problems.append(f"files.{name}: missing")
                continue
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                problems.append(f"files.{name}.size: must be a byte count (got {size!r})")
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                problems.append(f"files.{name}.sha256: must be 64 lowercase hex digits (got {digest!r})")
            if isinstance(size, int) and isinstance(digest, str):
                files[name] = (size, digest)
        for name in sorted(set(listed_files) - set(FILES)):
            problems.append(f"files.{name}: not a file a bundle holds (it holds {', '.join(FILES)})")
    if problems:
        raise BundleError(f"{path}: {MANIFEST} is malformed: {'; '.join(problems)}: {MAKE_AGAIN}")
    return Manifest(made_by, created, kubernetes, kind, platform, arch, node_image, python_base, images, files)


def check_compatible(path: Path, manifest: Manifest, pins: Pins) -> None:
    """The bundle is for this edgelab's pins and this machine's platform."""
    if (manifest.kubernetes, manifest.kind) != (pins.kubernetes, pins.kind):
        raise BundleError(
            f"{path} was made by {manifest.made_by} for Kubernetes {manifest.kubernetes} and kind {manifest.kind}; "
            f"this edgelab ({__version__}) pins Kubernetes {pins.kubernetes} and kind {pins.kind}: load it with "
            f"{manifest.made_by}, or make a bundle with this edgelab (`edgelab images save`)")
    here = tools.platform_key()
    if manifest.platform != here:
        raise BundleError(f"{path} is for {manifest.platform}; this machine is {here}: "
                          f"make the bundle on a {here} machine")


def _verify(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], manifest: Manifest,
            say: Say) -> None:
    """Every member's sha256 as bundle.json says, read to its end (which also finds a cut-off copy)."""
    for name in FILES:
        size, want = manifest.files[name]
        if size > 1 << 30:
            say(f"verifying {name} ({size / 1e9:.2f} GB)")
        got = _sha256(path, tar, members[name])
        if got != want:
            raise BundleError(f"{path}: {name} has sha256 {got}, {MANIFEST} says {want}: the file is damaged; "
                              "copy it again from the machine that made it")


def _sha256(path: Path, tar: tarfile.TarFile, info: tarfile.TarInfo, out: IO[bytes] | None = None) -> str:
    f = tar.extractfile(info)
    assert f is not None
    digest = hashlib.sha256()
    try:
        with f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
    except tarfile.ReadError as exc:  # "unexpected end of data"
        raise _truncated(path, path.stat().st_size, info.offset_data + info.size) from exc
    return digest.hexdigest()


def _stage_binary(path: Path, tar: tarfile.TarFile, info: tarfile.TarInfo, manifest: Manifest, bindir: Path,
                  pins: Pins) -> Path:
    """The binary copied beside its final place (a temporary name), checked to run as the pinned version."""
    name = info.name.removeprefix("bin/")
    try:
        bindir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=bindir)
    except OSError as exc:
        raise BundleError(f"cannot write to {bindir} ({exc.strerror or exc}): check its permissions, or run as "
                          "root to install for every user") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            got = _sha256(path, tar, info, out)
        if got != manifest.files[info.name][1]:
            raise BundleError(f"{path}: {info.name} changed while it was read: copy the file again")
        tmp.chmod(0o755)
        version = tools.version_of(name, tmp)
        if not tools.acceptable(name, version, pins):
            found = f"reports {version}" if version else "does not run here"
            raise BundleError(f"{path}: its {name} {found} (want {tools.wanted(name, pins)}): {MAKE_AGAIN}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _docker_load(path: Path, images: IO[bytes], manifest: Manifest) -> None:
    """`docker load` the stream, then check every name is the image id the bundle recorded."""
    st = docker.require()
    if docker.goarch(st.arch) != manifest.arch:
        raise BundleError(f"{path} holds {manifest.arch} images; this Docker engine is "
                          f"{docker.goarch(st.arch)}: make the bundle on a {docker.goarch(st.arch)} machine")
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(["docker", "load"], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        assert proc.stdin is not None
        try:
            with proc.stdin:
                shutil.copyfileobj(images, proc.stdin, _CHUNK)
        except BrokenPipeError:
            pass  # docker stopped reading: its exit code and output say why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        log.seek(0)
        output = log.read().decode(errors="replace").strip()
    if code != 0:
        raise BundleError(f"`docker load` of {path} failed ({output[-500:] or f'exit {code}'}): free disk space "
                          "for Docker or check `docker info`, then load again")
    wrong = [f"{name} is {docker.image_id(name) or 'missing'}, the bundle says {image_id}"
             for name, image_id in manifest.images.items() if docker.image_id(name) != image_id]
    if wrong:
        raise BundleError(f"after loading {path}: {'; '.join(wrong)}: load it again; if it persists, make the "
                          "bundle again")
