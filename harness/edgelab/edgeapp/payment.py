"""payment-processor: authorises card payments with the acquirer and settles them in batches.

Each authorisation writes to the ledger through the local connection pool
(`db_pool_size`); the settlement batch holds one connection for most of each
`settlement_interval_ms`. Fraud rules are recompiled every `fraud_rules_refresh_ms`.
"""

from __future__ import annotations

import random
import secrets
import threading
import time

from . import logs
from .runtime import App, DbPool, PoolTimeout
from .settings import mask
from .web import Request, Response, Routes

DECLINES = ("do not honor", "insufficient funds", "expired card", "invalid CVV")


class FraudRules:
    RULES = 900

    def __init__(self) -> None:
        self.runs = 0
        self.digest = 0

    def compile(self) -> None:
        acc = 7
        for rule in range(self.RULES):
            for feature in range(8):
                acc = (acc * 131 + rule * 17 + feature) % 2_147_483_647
        self.digest = acc
        self.runs += 1


def processor(app: App) -> Routes:
    log = logs.get("payments")
    pool = DbPool(app)
    key = app.settings.text("api_key")
    log.info("acquirer credentials loaded (api key %s)", mask(key))
    pending: list[int] = []
    lock = threading.Lock()
    rules = FraudRules()
    rules.compile()

    def authorize(req: Request) -> Response:
        data = req.json()
        order_id = str(data.get("order_id") or "")
        amount = int(data.get("amount_cents") or 0)
        card = data.get("card") or {}
        if not order_id or amount <= 0:
            return Response(400, {"error": "order_id and a positive amount_cents are required"})
        shown = f"{card.get('brand', 'CARD')} ****{card.get('last4', '0000')}"
        acquirer_ms = random.uniform(25, 90)
        time.sleep(acquirer_ms / 1000)
        if random.random() < 0.02:
            reason = random.choice(DECLINES)
            log.warning("declined %s %s for order %s: %s", logs.money(amount), shown, order_id, reason)
            return Response(402, {"status": "declined", "reason": reason})
        try:
            with pool.connection("an authorisation") as waited:
                ledger_ms = pool.query(3, 12)
        except PoolTimeout as err:
            app.count("ledger_errors")
            log.error("authorisation for order %s (%s) failed: ledger write %s", order_id, logs.money(amount), err)
            return Response(503, {"error": f"ledger unavailable: {err}"})
        auth = secrets.token_hex(3).upper()
        with lock:
            pending.append(amount)
        app.count("authorisations")
        log.info(
            "authorised %s %s for order %s: auth %s (acquirer %.0f ms, ledger %.0f ms, waited %.0f ms)",
            logs.money(amount),
            shown,
            order_id,
            auth,
            acquirer_ms,
            ledger_ms,
            waited,
        )
        return Response(
            200,
            {
                "status": "approved",
                "auth_code": auth,
                "order_id": order_id,
                "timing_ms": {"acquirer": round(acquirer_ms), "ledger_wait": round(waited), "ledger": round(ledger_ms)},
            },
        )

    def settle() -> None:
        interval = app.settings.int("settlement_interval_ms")
        with lock:
            batch = pending[:]
            pending.clear()
        started = time.monotonic()
        try:
            with pool.connection("the settlement batch"):
                # uploading the batch to the acquirer keeps the connection busy most of the interval
                app.stop.wait(min(random.uniform(0.6, 0.8) * interval, 2500) / 1000)
        except PoolTimeout as err:
            with lock:
                pending.extend(batch)
            logs.get("settlement").warning("settlement postponed: %s", err)
            return
        level = 20 if batch else 10
        logs.get("settlement").log(
            level,
            "settled %d authorisations (%s) with the acquirer in %.0f ms",
            len(batch),
            logs.money(sum(batch)),
            (time.monotonic() - started) * 1000,
        )

    seen = {"runs": 0}

    def report() -> None:
        logs.get("fraud").info(
            "rule set recompiled %d times in the last minute (%d rules)", rules.runs - seen["runs"], rules.RULES
        )
        seen["runs"] = rules.runs

    app.every("settlement", lambda: app.settings.int("settlement_interval_ms"), settle, first_delay_ms=500)
    app.every(
        "fraud",
        lambda: app.settings.int("fraud_rules_refresh_ms"),
        rules.compile,
        first_delay_ms=app.settings.int("fraud_rules_refresh_ms"),
    )
    app.every("stats", lambda: 60_000, report, first_delay_ms=60_000)

    def index(_: Request) -> Response:
        return Response(
            200, {"service": "payment-processor", "authorisations": app.counters().get("authorisations", 0)}
        )

    return {("POST", "/authorize"): authorize, ("GET", "/"): index}
