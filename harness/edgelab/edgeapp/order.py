"""order-service: takes paid orders from pos-backend and queues them for the kitchen.

Each insert uses the local connection pool (`db_pool_size`, to `database_url` with the
Secret's `db_password`); the archive job moves served orders out of the live table and
holds one connection while it does. The kitchen screens are rendered every
`kitchen_screen_refresh_ms`; rendered frames are kept for replays, up to
`screen_cache_max_entries`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import Any

from . import logs
from .runtime import FRAME_BYTES, App, DbPool, PoolTimeout, RenderCache, raster
from .settings import mask
from .web import Request, Response, Routes


def service(app: App) -> Routes:
    log = logs.get("kitchen")
    pool = DbPool(app)
    logs.get("db").info("database credentials loaded (password %s)", mask(app.settings.text("db_password")))
    screens = RenderCache(app, "screen_cache_max_entries")
    frame_seq = [0]
    recent: deque[dict[str, Any]] = deque(maxlen=200)
    lock = threading.Lock()
    served = [0]

    def create(req: Request) -> Response:
        data = req.json()
        order_id = str(data.get("order_id") or "")
        items = data.get("items")
        if not order_id or not isinstance(items, list) or not items:
            return Response(400, {"error": "order_id and items are required"})
        try:
            with pool.connection("an order insert") as waited:
                db_ms = pool.query(4, 15)
        except PoolTimeout as err:
            app.count("insert_errors")
            log.error("order %s not queued: %s", order_id, err)
            return Response(503, {"error": f"order store unavailable: {err}"})
        count = sum(int(i.get("qty", 1)) for i in items if isinstance(i, dict))
        eta = 90 + 40 * count
        entry = {
            "order_id": order_id,
            "items": items,
            "status": "queued",
            "kitchen_eta_s": eta,
            "register": data.get("register"),
            "at": time.time(),
        }
        with lock:
            recent.append(entry)
        app.count("orders")
        lines = ", ".join(f"{i.get('qty', 1)}x {i.get('sku')}" for i in items if isinstance(i, dict))
        log.info(
            "order %s queued for the kitchen: %s; eta %d s (db %.0f ms, waited %.0f ms)",
            order_id,
            lines,
            eta,
            db_ms,
            waited,
        )
        return Response(201, {**entry, "timing_ms": {"db_wait": round(waited), "db": round(db_ms)}})

    def listing(_: Request) -> Response:
        with lock:
            return Response(200, {"orders": list(recent)[-50:]})

    def archive() -> None:
        interval = app.settings.int("archive_interval_ms")
        now = time.time()
        with lock:
            done = [o for o in recent if o["status"] == "queued" and now - o["at"] > o["kitchen_eta_s"]]
        started = time.monotonic()
        try:
            with pool.connection("the archive job"):
                app.stop.wait(min(random.uniform(0.2, 0.4) * interval, 2500) / 1000)
        except PoolTimeout as err:
            logs.get("archive").warning("archive postponed: %s", err)
            return
        for order in done:
            order["status"] = "served"
        served[0] += len(done)
        logs.get("archive").log(
            20 if done else 10, "archived %d served orders in %.0f ms", len(done), (time.monotonic() - started) * 1000
        )

    app.every("archive", lambda: app.settings.int("archive_interval_ms"), archive, first_delay_ms=1000)

    def render_screen() -> None:
        frame_seq[0] += 1
        with lock:
            rail = " | ".join(f"{o['order_id']} {o['status']}" for o in list(recent)[-12:]) or "no orders"
        screens.put(f"screen-{frame_seq[0]}", raster(f"KITCHEN {app.settings.text('store_id')} {rail} ", FRAME_BYTES))

    def report() -> None:
        screens.report("screens")

    app.every("screens", lambda: app.settings.int("kitchen_screen_refresh_ms"), render_screen)
    app.every("stats", lambda: 60_000, report, first_delay_ms=60_000)

    def index(_: Request) -> Response:
        return Response(
            200, {"service": "order-service", "orders": app.counters().get("orders", 0), "served": served[0]}
        )

    return {("POST", "/orders"): create, ("GET", "/orders"): listing, ("GET", "/"): index}
