"""What every service shares: settings that can change under it, readiness, background
jobs that stop on SIGTERM, a simulated database connection pool, and a cache of rendered
screen frames."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import logs
from .settings import ConfigError, Settings, config_dir_listing
from .web import DownstreamError, call

DOWN_AFTER = 2  # consecutive failed checks before a dependency counts as down
CHECK_TIMEOUT_MS = 2000
FRAME_BYTES = 256 * 1024  # one status-board / kitchen-screen frame, printer/screen raster


@dataclass(frozen=True)
class Dependency:
    """Another service this one calls: its base URL lives in setting `url_key`."""

    url_key: str
    health_path: str = "/healthz"


@dataclass
class _DepState:
    ok: bool = False
    failures: int = 0
    reason: str = "not checked yet"
    last_report: float = 0.0


class App:
    """One running service: its name, live settings, stop signal, threads and readiness."""

    def __init__(self, name: str, settings: Settings, dependencies: dict[str, Dependency]) -> None:
        self.name = name
        self._settings = settings
        self.dependencies = dependencies
        self.stop = threading.Event()
        self.started = False
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self._deps = {n: _DepState() for n in dependencies}
        self._lock = threading.Lock()
        self._on_reload: list[Callable[[list[str]], None]] = []
        self._counters: Counter[str] = Counter()

    def count(self, metric: str, n: int = 1) -> None:
        with self._lock:
            self._counters[metric] += n

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    @property
    def settings(self) -> Settings:
        return self._settings

    # --- background work -------------------------------------------------------------
    def spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def every(
        self,
        name: str,
        interval_ms: Callable[[], int],
        work: Callable[[], None],
        *,
        first_delay_ms: int = 0,
        jitter: float = 0.0,
    ) -> None:
        """Run `work` repeatedly until stop; an interval of 0 runs it back to back."""
        log = logs.get(name)

        def loop() -> None:
            if first_delay_ms and self.stop.wait(first_delay_ms / 1000):
                return
            while not self.stop.is_set():
                try:
                    work()
                except Exception:
                    log.exception("%s run failed", name)
                    if self.stop.wait(1):
                        return
                wait = interval_ms()
                if wait > 0 and self.stop.wait(wait * (1 + random.uniform(-jitter, jitter)) / 1000):
                    return

        self.spawn(name, loop)

    # --- settings that change under us -----------------------------------------------
    def on_reload(self, callback: Callable[[list[str]], None]) -> None:
        self._on_reload.append(callback)

    def reload_settings(self) -> None:
        log = logs.get("config")
        try:
            fresh, changed = self._settings.reload()
        except ConfigError as err:
            for problem in err.problems:
                log.error("%s; keeping the previous settings", problem)
            return
        if not changed:
            return
        self._settings = fresh
        log.info("settings changed in %s: %s", fresh.config_dir, ", ".join(f"{k}={fresh.values[k]}" for k in changed))
        for callback in self._on_reload:
            callback(changed)

    def check_config_keys(self, known: set[str]) -> None:
        for name in config_dir_listing(self._settings):
            if name not in known:
                logs.get("config").warning("ignoring unknown setting %r in %s", name, self._settings.config_dir)

    # --- readiness -----------------------------------------------------------------------
    def check_dependencies(self) -> None:
        for name, dep in self.dependencies.items():
            base = self._settings.text(dep.url_key)
            if not base:
                continue
            try:
                _, _, ms = call("GET", base + dep.health_path, timeout_ms=CHECK_TIMEOUT_MS)
            except DownstreamError as err:
                self._record(name, base, False, err.reason)
            else:
                self._record(name, base, True, f"{ms:.0f} ms")

    def _record(self, name: str, base: str, ok: bool, reason: str) -> None:
        log = logs.get("health")
        required = name in self._settings.names("readiness_requires")
        effect = "; not ready" if required else ""
        with self._lock:
            state = self._deps[name]
            now = time.monotonic()
            if ok:
                if not state.ok and state.failures >= DOWN_AFTER:
                    log.info("%s at %s answers again (%s)", name, base, reason)
                elif not state.ok:
                    log.info("%s at %s answers (%s)", name, base, reason)
                state.ok, state.failures, state.reason = True, 0, reason
                return
            state.failures += 1
            state.reason = reason
            if state.failures == DOWN_AFTER:
                state.ok = False
                state.last_report = now
                log.error("%s at %s is unreachable: %s%s", name, base, reason, effect)
            elif state.failures > DOWN_AFTER and now - state.last_report >= 30:
                state.last_report = now
                log.warning("%s at %s still unreachable after %d checks: %s", name, base, state.failures, reason)
            elif state.failures < DOWN_AFTER and not state.ok:
                log.warning("%s at %s did not answer: %s", name, base, reason)

    def readiness(self) -> tuple[bool, list[str]]:
        if self.stopping:
            return False, ["shutting down"]
        if not self.started:
            return False, ["starting"]
        reasons = []
        with self._lock:
            for name in self._settings.names("readiness_requires"):
                state = self._deps.get(name)
                if state is not None and not state.ok:
                    reasons.append(f"{name}: {state.reason}")
        return not reasons, reasons


@dataclass
class PoolTimeout(Exception):
    waited_ms: float
    size: int
    in_use: int
    waiting: int

    def __str__(self) -> str:
        return (
            f"timed out after {self.waited_ms:.0f} ms waiting for a database connection "
            f"(pool_size={self.size}, in_use={self.in_use}, waiting={self.waiting})"
        )


@dataclass
class DbPool:
    """The service's connections to its local database, sized by `db_pool_size`.

    There is no real database: a query is a short sleep. What is real is the queueing —
    a request waits while every connection is held, as it would in production.
    """

    app: App
    in_use: int = 0
    waiting: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        logs.get("db").info(
            "pool of %d connection(s) to %s", self.app.settings.int("db_pool_size"), self.app.settings.text("database_url")
        )

    @contextlib.contextmanager
    def connection(self, purpose: str) -> Iterator[float]:
        """Hold one connection; yields how long we waited for it (ms)."""
        started = time.monotonic()
        timeout = self.app.settings.int("db_pool_timeout_ms") / 1000
        with self._cond:
            self.waiting += 1
            try:
                while self.in_use >= self.app.settings.int("db_pool_size"):
                    left = timeout - (time.monotonic() - started)
                    if left <= 0 or self.app.stop.is_set():
                        raise PoolTimeout(
                            (time.monotonic() - started) * 1000,
                            self.app.settings.int("db_pool_size"),
                            self.in_use,
                            self.waiting - 1,
                        )
                    self._cond.wait(min(left, 0.5))
            finally:
                self.waiting -= 1
            self.in_use += 1
            waited = (time.monotonic() - started) * 1000
            size, in_use, waiting = self.app.settings.int("db_pool_size"), self.in_use, self.waiting
        if waited >= 250:
            logs.get("db").warning(
                "waited %.0f ms for a connection for %s (pool_size=%d, in_use=%d, waiting=%d)",
                waited,
                purpose,
                size,
                in_use,
                waiting,
            )
        try:
            yield waited
        finally:
            with self._cond:
                self.in_use -= 1
                self._cond.notify()

    def query(self, low_ms: float, high_ms: float) -> float:
        ms = random.uniform(low_ms, high_ms)
        time.sleep(ms / 1000)
        return ms


def raster(text: str, size: int) -> bytes:
    seed = text.encode() or b"\0"
    return (seed * (size // len(seed) + 1))[:size]


class RenderCache:
    """Rendered receipts and screen frames, oldest evicted first, up to setting `limit_key`; a limit of 0 keeps all."""

    def __init__(self, app: App, limit_key: str) -> None:
        self.app = app
        self.limit_key = limit_key
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.evicted = 0
        self._reported_evicted = 0

    def put(self, key: str, data: bytes) -> None:
        limit = self.app.settings.int(self.limit_key)
        with self._lock:
            self._items[key] = data
            self.bytes += len(data)
            while limit and len(self._items) > limit:
                _, old = self._items.popitem(last=False)
                self.bytes -= len(old)
                self.evicted += 1

    def __len__(self) -> int:
        return len(self._items)

    def report(self, logger: str) -> None:
        """The minute's line: entries, size and evictions since the last report (what a leak shows in)."""
        logs.get(logger).info("render cache: %d entries, %.1f MiB, %d evicted in the last minute",
                              len(self), self.bytes / 2**20, self.evicted - self._reported_evicted)
        self._reported_evicted = self.evicted
