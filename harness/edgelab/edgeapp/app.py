"""Which service this process plays, the settings each needs, and the process life cycle."""

from __future__ import annotations

import os
import platform
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType

from . import logs, order, payment, pos, telemetry
from .runtime import App, Dependency
from .settings import ConfigError, Kind, Setting, Settings
from .web import Response, Routes, serve

SHUTDOWN_GRACE_S = 3.0


@dataclass(frozen=True)
class Service:
    name: str
    build: Callable[[App], Routes]
    settings: tuple[Setting, ...] = ()
    dependencies: Mapping[str, Dependency] = field(default_factory=dict)
    exports_metrics: bool = True

    def all_settings(self) -> tuple[Setting, ...]:
        common = (
            Setting("log_level", Kind.LEVEL, "info"),
            Setting("store_id", Kind.TEXT, "0001"),
            Setting("readiness_requires", Kind.NAMES, "", choices=tuple(self.dependencies)),
            Setting("health_check_interval_ms", Kind.INT, "5000", minimum=200),
            Setting("config_reload_interval_ms", Kind.INT, "5000", minimum=200),
            Setting("otel_exporter_otlp_endpoint", Kind.URL, ""),
        )
        return common + self.settings


_POOL = (
    Setting("database_url"),  # required: where the service's own database is
    Setting("db_pool_size", Kind.INT, "4", minimum=1),
    Setting("db_pool_timeout_ms", Kind.INT, "5000", minimum=1),
)
_CLICKHOUSE = {"clickhouse": Dependency("clickhouse_endpoint", "/ping")}

SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service(
            "pos-frontend",
            pos.frontend,
            (
                Setting("pos_backend_url", Kind.URL),
                Setting("traffic_interval_ms", Kind.INT, "4000"),
                Setting("checkout_timeout_ms", Kind.INT, "8000", minimum=1),
            ),
            {"pos-backend": Dependency("pos_backend_url")},
        ),
        Service(
            "pos-backend",
            pos.backend,
            (
                Setting("api_endpoint", Kind.URL),
                Setting("order_endpoint", Kind.URL),
                Setting("payment_timeout_ms", Kind.INT, "3000", minimum=1),
                Setting("order_timeout_ms", Kind.INT, "3000", minimum=1),
                Setting("receipt_cache_max_entries", Kind.INT, "48"),
                Setting("status_board_refresh_ms", Kind.INT, "500", minimum=1),
                Setting("tax_recalc_interval_ms", Kind.INT, "60000"),
            ),
            {"payment": Dependency("api_endpoint"), "order": Dependency("order_endpoint")},
        ),
        Service(
            "payment-processor",
            payment.processor,
            (
                Setting("api_key", Kind.SECRET),
                *_POOL,
                Setting("settlement_interval_ms", Kind.INT, "3000", minimum=200),
                Setting("fraud_rules_refresh_ms", Kind.INT, "30000"),
            ),
        ),
        Service(
            "order-service",
            order.service,
            (
                Setting("db_password", Kind.SECRET),
                *_POOL,
                Setting("archive_interval_ms", Kind.INT, "5000", minimum=200),
                Setting("screen_cache_max_entries", Kind.INT, "48"),
                Setting("kitchen_screen_refresh_ms", Kind.INT, "500", minimum=1),
            ),
        ),
        Service("hyperdx", telemetry.hyperdx, (Setting("clickhouse_endpoint", Kind.URL),), _CLICKHOUSE, False),
        Service("clickhouse", telemetry.clickhouse, (), {}, False),
        Service("otel-collector", telemetry.collector, (Setting("clickhouse_endpoint", Kind.URL),), _CLICKHOUSE, False),
    )
}


def main(env: Mapping[str, str] | None = None) -> int:
    """Run until SIGTERM/SIGINT (exit 0); exit 1 when the configuration is unusable."""
    env = os.environ if env is None else env
    logs.setup()
    log = logs.get("main")
    name = env.get("SERVICE_NAME", "")
    service = SERVICES.get(name)
    if service is None:
        logs.get("config").error("required setting 'SERVICE_NAME' must be one of %s, got %r", ", ".join(SERVICES), name)
        return 1
    log.info("%s starting (pid %d, python %s)", name, os.getpid(), platform.python_version())
    try:
        settings = Settings.load(service.all_settings(), env)
        port = int(env.get("PORT", "8080"))
    except ConfigError as err:
        for problem in err.problems:
            logs.get("config").error("%s", problem)
        log.error("%s cannot start: %d configuration problem(s)", name, len(err.problems))
        return 1
    except ValueError:
        logs.get("config").error("setting 'PORT' must be a port number, got %r", env.get("PORT"))
        return 1
    logs.set_level(settings.text("log_level"))
    logs.get("config").info("%s", settings.describe())

    app = App(name, settings, dict(service.dependencies))
    app.check_config_keys({s.key for s in service.all_settings()})
    app.on_reload(lambda changed: logs.set_level(app.settings.text("log_level")) if "log_level" in changed else None)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        app.stopping = True
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        routes = service.build(app)
        routes[("GET", "/healthz")] = lambda _: Response(200, {"status": "ok"})
        routes[("GET", "/readyz")] = lambda _: _ready(app)
        try:
            server = serve(routes, env.get("BIND_ADDRESS", "0.0.0.0"), port)
        except OSError as err:
            logs.get("http").error("cannot listen on port %d: %s", port, err.strerror)
            app.stop.set()
            return 1
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        logs.get("http").info("listening on %s:%d", *server.server_address[:2])
        if service.dependencies:
            app.every("health", lambda: app.settings.int("health_check_interval_ms"), app.check_dependencies)
        app.every(
            "config",
            lambda: app.settings.int("config_reload_interval_ms"),
            app.reload_settings,
            first_delay_ms=app.settings.int("config_reload_interval_ms"),
        )
        if service.exports_metrics:
            telemetry.start_exporter(app)
        app.started = True
        log.info("%s started", name)
        while not stop.wait(0.5):
            pass
        app.stop.set()
        server.shutdown()
        server.server_close()
        for thread in app.threads:
            thread.join(SHUTDOWN_GRACE_S / max(len(app.threads), 1))
        log.info("%s stopped", name)
        return 0
    finally:
        app.stop.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ready(app: App) -> Response:
    ok, reasons = app.readiness()
    return Response(200, {"status": "ready"}) if ok else Response(503, {"status": "not ready", "reasons": reasons})
