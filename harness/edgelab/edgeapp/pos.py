"""The point of sale: pos-frontend (the registers) and pos-backend (the order API).

pos-frontend rings up an order every few seconds on its own (`traffic_interval_ms`), the
way a store's registers do, so the whole chain is busy and every log looks alive.
pos-backend prices an order, authorises the card with payment-service, sends the order
to order-service for the kitchen, and renders the receipt. It keeps renders (receipts
and order-status board frames) for reprints, up to `receipt_cache_max_entries`.
"""

from __future__ import annotations

import html
import random
import secrets
import socket
import time
import zlib
from collections import deque
from typing import Any

from . import logs
from .runtime import FRAME_BYTES, App, RenderCache, raster
from .web import DownstreamError, Request, Response, Routes, call

MENU: dict[str, tuple[str, int]] = {  # sku -> (name, price in cents)
    "BYTE-BURGER": ("Byte Burger", 649),
    "DOUBLE-BYTE": ("Double Byte", 829),
    "CHICKEN-SANDWICH": ("Crispy Chicken Sandwich", 699),
    "NUGGETS-10": ("10 pc Nuggets", 549),
    "VEGGIE-WRAP": ("Garden Veggie Wrap", 599),
    "FRIES-M": ("Fries (M)", 289),
    "FRIES-L": ("Fries (L)", 339),
    "SODA-M": ("Fountain Drink (M)", 199),
    "SODA-L": ("Fountain Drink (L)", 239),
    "SHAKE-VANILLA": ("Vanilla Shake", 379),
    "APPLE-PIE": ("Apple Pie", 149),
}
CARD_BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER")
RECEIPT_BYTES = 24 * 1024


def basket() -> dict[str, Any]:
    """A plausible order: 1-4 lines, mostly card payments."""
    skus = random.sample(sorted(MENU), k=random.randint(1, 4))
    items = [{"sku": s, "qty": random.choice((1, 1, 1, 2))} for s in skus]
    if random.random() < 0.85:
        tender = {"type": "card", "brand": random.choice(CARD_BRANDS), "last4": f"{random.randint(0, 9999):04d}"}
    else:
        tender = {"type": "cash"}
    return {"items": items, "tender": tender}


def subtotal(items: list[dict[str, Any]]) -> int:
    return sum(MENU[i["sku"]][1] * int(i.get("qty", 1)) for i in items if i.get("sku") in MENU)


# --- pos-frontend ------------------------------------------------------------------------


def frontend(app: App) -> Routes:
    log = logs.get("register")
    register = 1 + zlib.crc32(socket.gethostname().encode()) % 6
    store = app.settings.text("store_id")
    last: dict[str, str] = {"order": "none yet"}

    def ring_up(payload: dict[str, Any]) -> Response:
        payload = {**payload, "register": register}
        amount = logs.money(subtotal(payload.get("items") or []))
        url = app.settings.text("pos_backend_url") + "/api/orders"
        try:
            _, body, ms = call("POST", url, payload, timeout_ms=app.settings.int("checkout_timeout_ms"))
        except DownstreamError as err:
            app.count("checkout_errors")
            log.error("register %d: could not ring up an order (%s before tax): %s", register, amount, err.reason)
            status = err.status if err.status in (400, 402) else 502
            return Response(status, {"error": err.reason, **err.body})
        app.count("checkouts")
        tender = payload.get("tender") or {}
        paid = f"{tender.get('brand')} ****{tender.get('last4')}" if tender.get("type") == "card" else "cash"
        last["order"] = f"{body.get('order_id')} {logs.money(int(body.get('total_cents', 0)))}"
        log.info(
            "register %d: order %s paid %s by %s in %.0f ms",
            register,
            body.get("order_id"),
            logs.money(int(body.get("total_cents", 0))),
            paid,
            ms,
        )
        return Response(200, body)

    def order(req: Request) -> Response:
        data = req.json() if req.method == "POST" else {}
        return ring_up(data if data.get("items") else basket())

    def index(_req: Request) -> Response:
        """The register screen: the menu as pos-backend serves it, or why it cannot."""
        head = f"<html><head><title>Byte Edge POS</title></head><body><h1>Byte Edge POS &mdash; store {html.escape(store)}</h1>"
        try:
            _, menu, _ = call("GET", app.settings.text("pos_backend_url") + "/api/menu", timeout_ms=2000)
        except DownstreamError as err:
            log.warning("register %d: menu unavailable: %s", register, err.reason)
            page = f"{head}<p>Register {register} is offline: POS backend unavailable ({html.escape(err.reason)}).</p>"
            return Response(503, page + "</body></html>", "text/html; charset=utf-8")
        rows = "".join(
            f"<li>{html.escape(str(item.get('name')))} {logs.money(int(item.get('price_cents', 0)))}</li>"
            for item in menu.values()
        )
        page = (
            f"{head}<p>Register {register}. Last order: {html.escape(last['order'])}.</p><ul>{rows}</ul>"
            "<form method='post' action='/order'><button>Ring up a sample order</button></form></body></html>"
        )
        return Response(200, page, "text/html; charset=utf-8")

    def customer() -> None:
        ring_up(basket())

    if app.settings.int("traffic_interval_ms") > 0:  # 0: this register only rings up what it is sent
        app.every(
            "register",
            lambda: max(app.settings.int("traffic_interval_ms"), 100),
            customer,
            first_delay_ms=app.settings.int("traffic_interval_ms"),
            jitter=0.3,
        )
    return {("GET", "/"): index, ("GET", "/order"): order, ("POST", "/order"): order}


# --- pos-backend -------------------------------------------------------------------------


class TaxTable:
    """Sales-tax rates for the store's jurisdictions; recalculating costs a few ms of CPU."""

    JURISDICTIONS = 600
    CATEGORIES = 12

    def __init__(self) -> None:
        self.rate_bp = 825  # basis points: 8.25 %, the store's own jurisdiction
        self.checksum = 0
        self.runs = 0

    def recalculate(self) -> None:
        acc = 0
        for j in range(self.JURISDICTIONS):
            for c in range(self.CATEGORIES):
                acc = (acc * 31 + j * 7 + c) % 1_000_003
        self.checksum = acc
        self.runs += 1


def backend(app: App) -> Routes:
    log = logs.get("orders")
    store = app.settings.text("store_id")
    cache = RenderCache(app, "receipt_cache_max_entries")
    tax = TaxTable()
    tax.recalculate()
    open_tickets: deque[tuple[float, str]] = deque(maxlen=12)
    board_seq = [0]

    def render_board() -> None:
        board_seq[0] += 1
        now = time.time()
        tickets = " | ".join(t for at, t in open_tickets if now - at < 300) or "no open orders"
        cache.put(f"board-{board_seq[0]}", raster(f"STORE {store} ORDER STATUS {tickets} ", FRAME_BYTES))

    seen = {"runs": 0}

    def report() -> None:
        cache.report("receipts")
        logs.get("tax").info(
            "rate table recalculated %d times in the last minute (store rate %.2f %%)",
            tax.runs - seen["runs"],
            tax.rate_bp / 100,
        )
        seen.update(runs=tax.runs)

    app.every(
        "tax",
        lambda: app.settings.int("tax_recalc_interval_ms"),
        tax.recalculate,
        first_delay_ms=app.settings.int("tax_recalc_interval_ms"),
    )
    app.every("receipts", lambda: app.settings.int("status_board_refresh_ms"), render_board)
    app.every("stats", lambda: 60_000, report, first_delay_ms=60_000)

    def create_order(req: Request) -> Response:
        started = time.monotonic()
        data = req.json()
        items = data.get("items")
        if not isinstance(items, list) or not items:
            return Response(400, {"error": "an order needs at least one item"})
        unknown = [str(i.get("sku")) for i in items if not isinstance(i, dict) or i.get("sku") not in MENU]
        if unknown:
            return Response(400, {"error": f"unknown menu item(s): {', '.join(unknown)}"})
        sub = subtotal(items)
        tax_cents = round(sub * tax.rate_bp / 10_000)
        total = sub + tax_cents
        order_id = f"{store}-{secrets.token_hex(3)}"
        register = data.get("register", "?")
        tender = data.get("tender") or {"type": "cash"}
        card = f"{tender.get('brand', 'CARD')} ****{tender.get('last4', '0000')}"
        auth, pay_ms = "CASH", 0.0
        if tender.get("type") == "card":
            body = {
                "order_id": order_id,
                "amount_cents": total,
                "currency": "USD",
                "card": {"brand": tender.get("brand"), "last4": tender.get("last4")},
            }
            try:
                _, answer, pay_ms = call(
                    "POST",
                    app.settings.text("api_endpoint") + "/authorize",
                    body,
                    timeout_ms=app.settings.int("payment_timeout_ms"),
                )
            except DownstreamError as err:
                if err.status == 402:
                    log.warning(
                        "order %s at register %s: %s declined for %s (%s)",
                        order_id,
                        register,
                        card,
                        logs.money(total),
                        err.body.get("reason", "declined"),
                    )
                    return Response(402, {"error": "card declined", "order_id": order_id, **err.body})
                app.count("payment_errors")
                log.error(
                    "order %s at register %s (%s): payment authorisation failed: %s",
                    order_id,
                    register,
                    logs.money(total),
                    err.reason,
                )
                return Response(502, {"error": f"payment authorisation failed: {err.reason}", "order_id": order_id})
            auth = str(answer.get("auth_code"))
        lines = ", ".join(f"{i.get('qty', 1)}x {i['sku']}" for i in items)
        try:
            _, kitchen, kitchen_ms = call(
                "POST",
                app.settings.text("order_endpoint") + "/orders",
                {"order_id": order_id, "items": items, "total_cents": total, "register": register},
                timeout_ms=app.settings.int("order_timeout_ms"),
            )
        except DownstreamError as err:
            app.count("kitchen_errors")
            log.error(
                "order %s at register %s (%s, auth %s) not sent to the kitchen: %s",
                order_id,
                register,
                logs.money(total),
                auth,
                err.reason,
            )
            return Response(502, {"error": f"order not sent to the kitchen: {err.reason}", "order_id": order_id})
        cache.put(
            f"receipt-{order_id}",
            raster(f"BYTE EDGE #{store} {order_id} {lines} TOTAL {total} AUTH {auth} ", RECEIPT_BYTES),
        )
        open_tickets.append((time.time(), f"{order_id} {lines}"))
        ms = (time.monotonic() - started) * 1000
        app.count("orders")
        paid = card if auth != "CASH" else "cash"
        log.info(
            "order %s rung up at register %s: %s, %s (%s tax) by %s, auth %s; payment %.0f ms, kitchen %.0f ms, "
            "total %.0f ms",
            order_id,
            register,
            lines,
            logs.money(total),
            logs.money(tax_cents),
            paid,
            auth,
            pay_ms,
            kitchen_ms,
            ms,
        )
        return Response(
            201,
            {
                "order_id": order_id,
                "subtotal_cents": sub,
                "tax_cents": tax_cents,
                "total_cents": total,
                "auth_code": auth,
                "kitchen_eta_s": kitchen.get("kitchen_eta_s"),
                "timing_ms": {"payment": round(pay_ms), "kitchen": round(kitchen_ms), "total": round(ms)},
            },
        )

    def menu(_: Request) -> Response:
        return Response(200, {sku: {"name": n, "price_cents": p} for sku, (n, p) in MENU.items()})

    def index(_: Request) -> Response:
        return Response(200, {"service": "pos-backend", "store": store, "orders": app.counters().get("orders", 0)})

    return {("POST", "/api/orders"): create_order, ("GET", "/api/menu"): menu, ("GET", "/"): index}
