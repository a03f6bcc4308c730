"""The observability namespace, ClickStack-style: services push metrics to the
OpenTelemetry collector, the collector writes batches into ClickHouse, and HyperDX
reads them back for its dashboards. Stand-ins, small but with the real data flow."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter, deque
from typing import Any

from . import logs
from .runtime import App
from .web import DownstreamError, Handler, Request, Response, Routes, call

EXPORT_INTERVAL_MS = 15_000
FLUSH_INTERVAL_MS = 10_000
REFRESH_INTERVAL_MS = 30_000
QUIET_S = 300  # repeat an export failure at most this often
_INSERT = re.compile(r"INSERT\s+INTO\s+(\w+)", re.I)
_SELECT = re.compile(r"SELECT\s+count\(\)\s+FROM\s+(\w+)", re.I)


def start_exporter(app: App) -> None:
    """Push this service's counters to the collector, if `otel_exporter_otlp_endpoint` is set."""
    log = logs.get("otel")
    host = socket.gethostname()
    last_warning = [0.0]

    def export() -> None:
        endpoint = app.settings.text("otel_exporter_otlp_endpoint")
        if not endpoint:
            return
        payload = {
            "resource": {"service.name": app.name, "host.name": host},
            "time": time.time(),
            "metrics": app.counters(),
        }
        try:
            call("POST", endpoint + "/v1/metrics", payload, timeout_ms=2000)
        except DownstreamError as err:
            if time.monotonic() - last_warning[0] >= QUIET_S:
                last_warning[0] = time.monotonic()
                log.warning("metrics export to %s failed: %s (will keep trying)", endpoint, err.reason)

    app.every("otel", lambda: EXPORT_INTERVAL_MS, export, first_delay_ms=EXPORT_INTERVAL_MS, jitter=0.2)


def collector(app: App) -> Routes:
    log = logs.get("exporter")
    queue: deque[tuple[str, Any]] = deque(maxlen=10_000)
    lock = threading.Lock()

    def receiver(signal: str) -> Handler:
        def accept(req: Request) -> Response:
            record = req.json()
            with lock:
                queue.append((signal, record))
            return Response(200, {"partialSuccess": {}})

        return accept

    def flush() -> None:
        with lock:
            batch = list(queue)
            queue.clear()
        if not batch:
            return
        by_signal: dict[str, list[Any]] = {}
        for signal, record in batch:
            by_signal.setdefault(signal, []).append(record)
        target = app.settings.text("clickhouse_endpoint")
        for signal, rows in by_signal.items():
            try:
                _, _, ms = call(
                    "POST",
                    f"{target}/?query=INSERT%20INTO%20otel_{signal}%20FORMAT%20JSONEachRow",
                    {"rows": rows},
                    timeout_ms=3000,
                )
            except DownstreamError as err:
                log.warning("clickhouse: dropped %d %s records: %s", len(rows), signal, err.reason)
                continue
            log.info("clickhouse: exported %d %s records in %.0f ms", len(rows), signal, ms)

    app.every("exporter", lambda: FLUSH_INTERVAL_MS, flush, first_delay_ms=FLUSH_INTERVAL_MS)
    return {("POST", f"/v1/{s}"): receiver(s) for s in ("metrics", "logs", "traces")}


def clickhouse(app: App) -> Routes:
    log = logs.get("executeQuery")
    rows: Counter[str] = Counter()
    lock = threading.Lock()

    def query(req: Request) -> Response:
        text = req.query.get("query", "")
        if req.method == "GET" and not text:
            return Response(200, "Ok.\n")
        if (match := _INSERT.search(text)) and req.method == "POST":
            started = time.monotonic()
            written = len(req.json().get("rows") or [])
            with lock:
                rows[match.group(1)] += written
            log.info(
                "INSERT INTO %s: %d rows written in %.0f ms",
                match.group(1),
                written,
                (time.monotonic() - started) * 1000,
            )
            return Response(200, "")
        if match := _SELECT.search(text):
            with lock:
                return Response(200, f"{rows[match.group(1)]}\n")
        log.warning("unsupported query: %s", text[:120])
        return Response(400, "Code: 62. DB::Exception: Syntax error\n")

    def ping(_: Request) -> Response:
        return Response(200, "Ok.\n")

    return {("GET", "/"): query, ("POST", "/"): query, ("GET", "/ping"): ping}


def hyperdx(app: App) -> Routes:
    """The live dashboard: what arrived in ClickHouse since the last refresh (nothing new = a blank board)."""
    log = logs.get("dashboards")
    last: dict[str, str] = {"refresh": "not yet"}
    total: list[int | None] = [None]

    def refresh() -> None:
        target = app.settings.text("clickhouse_endpoint")
        try:
            _, count, ms = call("GET", f"{target}/?query=SELECT%20count()%20FROM%20otel_metrics", timeout_ms=3000)
        except DownstreamError as err:
            last["refresh"] = f"failed: {err.reason}"
            log.warning("dashboard refresh failed: clickhouse %s", err.reason)
            return
        rows, before = int(str(count).strip() or 0), total[0]
        total[0] = rows
        new = rows - before if before is not None and rows >= before else rows  # fewer: clickhouse restarted
        if new <= 0 and before is not None:
            last["refresh"] = "no new data"
            log.warning("dashboard refresh: no new metric rows in otel_metrics in the last %d s (%d in all)",
                        REFRESH_INTERVAL_MS // 1000, rows)
            return
        last["refresh"] = f"{new} new metric rows"
        log.info("dashboard refresh: %d new metric rows in otel_metrics (%d in all, %.0f ms)", new, rows, ms)

    def index(_: Request) -> Response:
        return Response(
            200,
            f"<html><head><title>HyperDX</title></head><body><h1>HyperDX</h1>"
            f"<p>Last refresh: {last['refresh']}</p></body></html>",
            "text/html; charset=utf-8",
        )

    app.every("dashboards", lambda: REFRESH_INTERVAL_MS, refresh, first_delay_ms=5_000)
    return {("GET", "/"): index}
