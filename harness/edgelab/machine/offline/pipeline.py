"""A small cached build pipeline, in the manner of kind's node-image builder.

Each artifact is a named `Step` whose output is cached under a key made of
its inputs (the pins it uses, the files it reads, the keys of the steps it
depends on). A rerun with the same inputs does nothing; bumping one pin
rebuilds exactly the steps whose key changes. Each step logs to its own file
and a failure names the step and that file.

Two kinds of output:
- "files": a directory `<cache>/artifacts/<step>/<key>/`, written to a
  temporary sibling and renamed into place only when complete, so an
  interrupted run leaves nothing that looks finished.
- "image": a Docker image tagged `edgelab-cache/<step>:<key>` (plus any
  extra tags), which exists only once the build succeeded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgelab.base.errors import BuildError
from edgelab.machine.docker import image_exists

Kind = Literal["files", "image"]


@dataclass(frozen=True)
class Step:
    name: str
    kind: Kind
    run: Callable[[StepContext], None]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    deps: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # extra names for an image, e.g. the stock image name
    heavy: bool = False  # CPU-bound (Go builds): run one at a time
    # The step's code is not part of its key: bump `recipe` when a change to
    # how it builds must rebuild it (and what depends on it).
    recipe: int = 0


def hash_paths(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for root in sorted(paths):
        files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if root.is_dir() else [root]
        for f in files:
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


@dataclass
class StepContext:
    step: Step
    key: str
    out: Path  # "files": the directory to fill; "image": a scratch directory
    log_path: Path
    results: Mapping[str, str]  # dep name -> output dir (files) or image ref (image)
    cache_dir: Path
    _log: Any = None

    def dep(self, name: str) -> str:
        return self.results[name]

    def dep_path(self, name: str) -> Path:
        return Path(self.results[name])

    def log(self, message: str) -> None:
        self._log.write(f"# {message}\n")
        self._log.flush()

    def sh(
        self,
        cmd: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdin: Any = None,
        capture: bool = False,
    ) -> str:
        """Run a command, its output appended to the step's log; raise on failure."""
        self.log("$ " + " ".join(cmd))
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=full_env,
            stdin=stdin,
            stdout=subprocess.PIPE if capture else self._log,
            stderr=self._log,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        return proc.stdout if capture else ""


class Pipeline:
    def __init__(self, steps: list[Step], cache_dir: Path, jobs: int = 3) -> None:
        self.steps = {s.name: s for s in steps}
        self.cache_dir = cache_dir
        self.jobs = jobs
        self._keys: dict[str, str] = {}
        self._heavy = threading.Lock()

    # --- keys ---------------------------------------------------------------
    def key(self, name: str) -> str:
        if name not in self._keys:
            step = self.steps[name]
            doc: dict[str, Any] = {
                "name": name,
                "kind": step.kind,
                "inputs": step.inputs,
                "files": hash_paths(step.files) if step.files else "",
                "deps": {d: self.key(d) for d in step.deps},
                "tags": list(step.tags),
            }
            if step.recipe:  # absent at 0, so existing caches keep their keys
                doc["recipe"] = step.recipe
            blob = json.dumps(doc, sort_keys=True, default=str).encode()
            self._keys[name] = hashlib.sha256(blob).hexdigest()[:16]
        return self._keys[name]

    def output(self, name: str) -> str:
        step = self.steps[name]
        if step.kind == "files":
            return str(self.cache_dir / "artifacts" / name / self.key(name))
        return f"edgelab-cache/{name}:{self.key(name)}"

    def is_done(self, name: str) -> bool:
        step = self.steps[name]
        if step.kind == "files":
            return (Path(self.output(name)) / ".done").exists()
        return image_exists(self.output(name)) and all(image_exists(t) for t in step.tags)

    def _retag(self, name: str) -> None:
        """Point a cached image's extra names back at it (another build may have taken a name)."""
        step = self.steps[name]
        if step.kind != "image" or not step.tags:
            return
        refs = [self.output(name), *step.tags]
        proc = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", *refs],
                              capture_output=True, text=True, check=False)
        ids = proc.stdout.split()
        if proc.returncode == 0 and len(ids) == len(refs) and len(set(ids)) == 1:
            return
        for tag in step.tags:
            subprocess.run(["docker", "tag", refs[0], tag], capture_output=True, check=True)

    def closure(self, targets: Iterable[str]) -> list[str]:
        order: list[str] = []

        def visit(n: str) -> None:
            if n in order:
                return
            for d in self.steps[n].deps:
                visit(d)
            order.append(n)

        for t in targets:
            visit(t)
        return order

    # --- running ------------------------------------------------------------
    def run(
        self,
        targets: Iterable[str],
        report: Callable[[str, str, float], None] = lambda *_: None,
    ) -> dict[str, str]:
        """Build `targets` and their dependencies; return every step's output.

        `report(step, state, seconds)` is called with state "cached", "start",
        "done" or "failed".
        """
        order = self.closure(targets)
        results: dict[str, str] = {}
        pending = [n for n in order]
        running: dict[Future[None], str] = {}
        failure: BaseException | None = None
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            while pending or running:
                for n in list(pending):
                    if failure is not None:
                        break
                    if all(d in results for d in self.steps[n].deps):
                        pending.remove(n)
                        if self.is_done(n):
                            results[n] = self.output(n)
                            self._retag(n)
                            report(n, "cached", 0.0)
                            continue
                        if len(running) >= self.jobs:
                            pending.insert(0, n)
                            break
                        running[pool.submit(self._build, n, dict(results), report)] = n
                if not running:
                    if failure is not None or not pending:
                        break
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    n = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        results[n] = self.output(n)
                    elif failure is None:
                        failure = exc
                if failure is not None:
                    pending.clear()
        if failure is not None:
            raise failure
        return results

    def _build(self, name: str, results: dict[str, str], report: Callable[[str, str, float], None]) -> None:
        step = self.steps[name]
        key = self.key(name)
        logs = self.cache_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        final = Path(self.output(name)) if step.kind == "files" else None
        scratch_root = self.cache_dir / "tmp"
        scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = scratch_root / f"{name}-{key}-{os.getpid()}"
        _remove_tree(scratch)
        scratch.mkdir(parents=True)
        lock = self._heavy if step.heavy else _NullLock()
        with lock, log_path.open("w") as log:
            start = time.monotonic()
            report(name, "start", 0.0)
            ctx = StepContext(step, key, scratch, log_path, results, self.cache_dir, log)
            ctx.log(f"step {name} key {key}")
            try:
                step.run(ctx)
                if step.kind == "files":
                    assert final is not None
                    (scratch / ".done").write_text(key + "\n")
                    final.parent.mkdir(parents=True, exist_ok=True)
                    _remove_tree(final)
                    scratch.rename(final)
                else:
                    for tag in step.tags:
                        ctx.sh(["docker", "tag", self.output(name), tag])
            except BaseException as exc:
                report(name, "failed", time.monotonic() - start)
                detail = exc.__class__.__name__ + ": " + str(exc)
                raise BuildError(name, log_path, detail + "\n" + _tail(log_path)) from exc
            finally:
                _remove_tree(scratch)
            report(name, "done", time.monotonic() - start)


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _chmod_and_retry(func: Callable[[str], object], path: str, _exc: object) -> None:
    """debootstrap trees hold read-only folders: make writable, then retry."""
    os.chmod(path, 0o700)
    func(path)


def _unmount_below(path: Path) -> None:
    """Detach anything still mounted inside `path` (a chroot's proc after Ctrl-C)."""
    prefix = str(path.resolve()) + "/"
    try:
        with open("/proc/mounts") as f:  # Linux; elsewhere (macOS, online builds) nothing is ever mounted here
            targets = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    except OSError:
        return
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        _unmount_below(path)
        shutil.rmtree(path, onerror=_chmod_and_retry)
    elif path.exists() or path.is_symlink():
        path.unlink()
