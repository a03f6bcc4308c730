"""The store's service program, run for real: `python3 -m edgeapp` subprocesses on free localhost ports.

Each test starts the services it needs with PORT=0 (the program logs the port it got),
talks HTTP to them, and reads their logs. Waits poll for a condition; the only sleeps
are the polling intervals.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from unitpaths import REPO

EDGEAPP_PARENT = REPO / "harness" / "edgelab"
API_KEY = "bek_test_4f9c2a7d1e6b8053"
DB_PASSWORD = "ord_test_8c1d5e2b7a9f3046"
# what the store's manifests always give a service (its own database), so a test names only what it is about
WIRING = {
    "payment-processor": {"database_url": "postgresql://payment-processor@localhost:5432/ledger"},
    "order-service": {"database_url": "postgresql://order-service@localhost:5432/orders", "db_password": DB_PASSWORD},
}
T = TypeVar("T")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def poll(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last saw {last!r}")


def closed_port() -> int:
    """A localhost port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One `python3 -m edgeapp` process and the lines it has logged so far."""

    def __init__(self, name: str, tmp: Path, settings: dict[str, str]) -> None:
        self.name = name
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(EDGEAPP_PARENT),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SERVICE_NAME": name,
            "PORT": "0",
            "BIND_ADDRESS": "127.0.0.1",
            "CONFIG_DIR": str(tmp / f"{name}-config"),
            "SECRETS_DIR": str(tmp / f"{name}-secrets"),
            **{k.upper(): v for k, v in settings.items()},
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgeapp"],
            env=env,
            cwd=tmp,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._url: str | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        regex = re.compile(pattern)

        def seen() -> re.Match[str] | None:
            return next((m for line in list(self.lines) if (m := regex.search(line))), None)

        return poll(seen, timeout=timeout, what=f"{self.name} to log /{pattern}/:\n{self.log}")

    @property
    def url(self) -> str:
        if self._url is None:
            port = self.wait_log(r"http: listening on [\d.]+:(\d+)").group(1)
            self._url = f"http://127.0.0.1:{port}"
        return self._url

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with _opener.open(req, timeout=10) as answer:
                return answer.status, _decode(answer.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def ready(self) -> bool:
        return self.request("GET", "/readyz")[0] == 200

    def exit_code(self, timeout: float = 10) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)  # every line it wrote read (on a loaded machine the reader lags the exit)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)

    def proc_status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode()


Start = Callable[..., Service]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[Service] = []

    def _start(name: str, **settings: str) -> Service:
        service = Service(name, tmp_path, {**WIRING.get(name, {}), **settings})
        started.append(service)
        return service

    yield _start
    for service in started:
        service.stop()


def backend_settings(payment: str, order: str, **extra: str) -> dict[str, str]:
    return {"api_endpoint": payment, "order_endpoint": order, "health_check_interval_ms": "200", **extra}


CARD_ORDER = {
    "items": [{"sku": "BYTE-BURGER", "qty": 1}, {"sku": "FRIES-M", "qty": 2}],
    "tender": {"type": "card", "brand": "VISA", "last4": "4242"},
}


# --- the chain ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_an_order_rings_up_through_the_whole_chain(start: Start) -> None:
    payment = start("payment-processor", api_key=API_KEY)
    order = start("order-service")
    backend = start(
        "pos-backend", **backend_settings(payment.url, order.url, readiness_requires="payment,order", store_id="4523")
    )
    frontend = start("pos-frontend", pos_backend_url=backend.url, traffic_interval_ms="0")
    poll(backend.ready, timeout=10, what="pos-backend ready")

    def rung_up() -> dict[str, Any] | None:  # the acquirer declines ~2 % of cards: try again
        status, body = frontend.request("POST", "/order", CARD_ORDER)
        assert status in (200, 402), body
        return body if status == 200 else None

    body = poll(rung_up, timeout=20, what="an approved order", interval=0)
    order_id = body["order_id"]
    assert order_id.startswith("4523-")
    assert body["subtotal_cents"] == 649 + 2 * 289
    assert body["total_cents"] == body["subtotal_cents"] + body["tax_cents"]
    payment.wait_log(
        rf"INFO  payments: authorised \$\d+\.\d\d VISA \*\*\*\*4242 for order {order_id}: auth {body['auth_code']}"
    )
    order.wait_log(rf"INFO  kitchen: order {order_id} queued for the kitchen: 1x BYTE-BURGER, 2x FRIES-M")
    backend.wait_log(rf"INFO  orders: order {order_id} rung up at register \d+: .* payment \d+ ms, kitchen \d+ ms")
    frontend.wait_log(rf"INFO  register: register \d+: order {order_id} paid \$")
    status, page = frontend.request("GET", "/")
    assert status == 200 and "Byte Burger $6.49" in page
    backend.stop()
    status, page = frontend.request("GET", "/")
    assert status == 503 and "POS backend unavailable (connection refused by 127.0.0.1:" in page
    # a common format: ISO UTC time, level, logger
    assert all(
        re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO |WARN |ERROR) [\w-]+: ", line)
        for line in backend.lines
    ), backend.log


@pytest.mark.timeout(60)
def test_the_registers_ring_up_orders_on_their_own(start: Start) -> None:
    payment = start("payment-processor", api_key=API_KEY)
    order = start("order-service")
    backend = start("pos-backend", **backend_settings(payment.url, order.url))
    start("pos-frontend", pos_backend_url=backend.url, traffic_interval_ms="150")
    backend.wait_log(r"orders: order \S+ rung up at register \d+", timeout=20)
    order.wait_log(r"kitchen: order \S+ queued for the kitchen")


# --- configuration that stops a service at start --------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("service", "settings", "line"),
    [
        (
            "pos-backend",
            {"order_endpoint": "http://127.0.0.1:1"},
            "ERROR config: required setting 'api_endpoint' missing",
        ),
        (
            "pos-backend",
            {"api_endpoint": "payment-service.payment", "order_endpoint": "http://127.0.0.1:1"},
            "ERROR config: setting 'api_endpoint' must be an http:// or https:// URL, got 'payment-service.payment'",
        ),
        (
            "pos-backend",
            {"api_endpoint": "http://127.0.0.1:1", "order_endpoint": "http://127.0.0.1:1", "log_level": "verbose"},
            "ERROR config: setting 'log_level' must be one of",
        ),
        ("payment-processor", {}, "ERROR config: required secret 'api_key' missing"),
        (
            "payment-processor",
            {"api_key": API_KEY + "\n"},
            "ERROR config: secret 'api_key' is malformed: it contains whitespace or a line break",
        ),
        (
            "payment-processor",
            {"api_key": API_KEY, "db_pool_size": "0"},
            "ERROR config: setting 'db_pool_size' must be a whole number >= 1, got '0'",
        ),
        ("pos-frontend", {}, "ERROR config: required setting 'pos_backend_url' missing"),
    ],
)
def test_bad_configuration_exits_1_with_a_clear_line(
    start: Start, service: str, settings: dict[str, str], line: str
) -> None:
    proc = start(service, **settings)
    assert proc.exit_code() == 1
    assert line in proc.log
    assert f"ERROR main: {service} cannot start" in proc.log
    assert API_KEY not in proc.log  # a secret is never logged, even when malformed


@pytest.mark.timeout(30)
def test_settings_and_secret_come_from_mounted_files(start: Start, tmp_path: Path) -> None:
    config, secrets = tmp_path / "payment-processor-config", tmp_path / "payment-processor-secrets"
    config.mkdir()
    secrets.mkdir()
    (config / "db_pool_size").write_text("3\n")
    (config / "..data").mkdir()  # ConfigMap volume bookkeeping is not a setting
    (secrets / "api_key").write_text(API_KEY)
    payment = start("payment-processor")
    payment.wait_log(r"payments: acquirer credentials loaded \(api key \*\*\*\*8053\)")
    assert "db_pool_size=3" in payment.wait_log(r"config: .*db_pool_size=\d").group(0)
    assert API_KEY not in payment.log
    assert "ignoring unknown setting" not in payment.log

    (secrets / "api_key").unlink()
    missing = start("payment-processor")
    assert missing.exit_code() == 1
    assert f"required secret 'api_key' missing (no file {secrets / 'api_key'}, no $API_KEY)" in missing.log


@pytest.mark.timeout(40)
def test_a_config_edit_takes_effect_without_a_restart(start: Start, tmp_path: Path) -> None:
    payment = start("payment-processor", api_key=API_KEY)
    order = start("order-service")
    config = tmp_path / "pos-backend-config"
    config.mkdir()
    for key, value in backend_settings(payment.url, order.url, config_reload_interval_ms="200").items():
        (config / key).write_text(value)
    backend = start("pos-backend")
    poll(lambda: backend.request("POST", "/api/orders", CARD_ORDER)[0] == 201, timeout=10, what="a first order")

    wrong = f"http://127.0.0.1:{closed_port()}"
    (config / "api_endpoint").write_text(wrong)
    backend.wait_log(rf"INFO  config: settings changed in .*: api_endpoint={re.escape(wrong)}")
    status, body = backend.request("POST", "/api/orders", CARD_ORDER)
    assert status == 502
    assert "payment authorisation failed: connection refused by 127.0.0.1" in body["error"]
    backend.wait_log(
        r"ERROR orders: order \S+ at register \S+ \(\$\d+\.\d\d\): payment authorisation failed: "
        r"connection refused by 127\.0\.0\.1:\d+"
    )

    (config / "log_level").write_text("loud")  # an invalid edit is refused, the service keeps going
    backend.wait_log(r"ERROR config: setting 'log_level' must be one of .*; keeping the previous settings")
    assert backend.request("GET", "/healthz")[0] == 200


# --- readiness -------------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_readiness_follows_the_dependencies_it_requires(start: Start) -> None:
    order = start("order-service")
    down = f"http://127.0.0.1:{closed_port()}"
    strict = start("pos-backend", **backend_settings(down, order.url, readiness_requires="payment,order"))
    relaxed = start("pos-backend", **backend_settings(down, order.url, readiness_requires="order"))

    poll(relaxed.ready, timeout=10, what="pos-backend that does not require payment to be ready")
    strict.wait_log(
        r"ERROR health: payment at http://127\.0\.0\.1:\d+ is unreachable: connection refused .*; not ready"
    )
    status, body = strict.request("GET", "/readyz")
    assert status == 503
    assert body["reasons"] == [f"payment: connection refused by {down.removeprefix('http://')}"]
    assert strict.request("GET", "/healthz")[0] == 200  # liveness never follows dependencies


@pytest.mark.timeout(40)
def test_readiness_drops_when_a_dependency_goes_away_and_returns(start: Start) -> None:
    payment = start("payment-processor", api_key=API_KEY)
    order = start("order-service")
    backend = start("pos-backend", **backend_settings(payment.url, order.url, readiness_requires="payment,order"))
    poll(backend.ready, timeout=10, what="pos-backend ready")

    payment.stop()
    poll(lambda: not backend.ready(), timeout=10, what="pos-backend unready once payment is gone")
    backend.wait_log(r"ERROR health: payment at \S+ is unreachable: connection refused")


# --- behaviours the settings switch on -------------------------------------------------------


NOWHERE = "http://127.0.0.1:1"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("service", "cache", "refresh", "settings"),
    [
        ("pos-backend", "receipt_cache_max_entries", "status_board_refresh_ms", backend_settings(NOWHERE, NOWHERE)),
        ("order-service", "screen_cache_max_entries", "kitchen_screen_refresh_ms", {}),
    ],
)
def test_an_unbounded_render_cache_grows_memory(
    start: Start, service: str, cache: str, refresh: str, settings: dict[str, str]
) -> None:
    fast = {refresh: "5"}  # 200 frames/s, so a few seconds tell
    capped = start(service, **settings, **{cache: "8"}, **fast)
    unbounded = start(service, **settings, **{cache: "0"}, **fast)
    for proc in (capped, unbounded):
        proc.wait_log(f"main: {service} started")
    base = {id(s): s.proc_status("VmRSS") for s in (capped, unbounded)}

    def grown(proc: Service) -> int:
        return proc.proc_status("VmRSS") - base[id(proc)]

    poll(lambda: grown(unbounded) > 60 * 1024, timeout=20, what="unbounded cache RSS to grow 60 MiB", interval=0.2)
    assert grown(capped) < 20 * 1024, f"capped cache grew {grown(capped)} KiB"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("service", "missing", "line"),
    [
        ("payment-processor", "database_url", "ERROR config: required setting 'database_url' missing"),
        ("order-service", "database_url", "ERROR config: required setting 'database_url' missing"),
        ("order-service", "db_password", "ERROR config: required secret 'db_password' missing"),
    ],
)
def test_a_service_without_its_database_settings_exits_1(tmp_path: Path, service: str, missing: str, line: str) -> None:
    settings = {k: v for k, v in {**WIRING[service], "api_key": API_KEY}.items() if k != missing}
    proc = Service(service, tmp_path, settings)
    try:
        assert proc.exit_code() == 1
        assert line in proc.log and f"ERROR main: {service} cannot start" in proc.log
        assert DB_PASSWORD not in proc.log
    finally:
        proc.stop()


@pytest.mark.timeout(20)
def test_order_service_logs_its_database_without_the_password(start: Start) -> None:
    order = start("order-service")
    order.wait_log(r"db: pool of 4 connection\(s\) to postgresql://order-service@localhost:5432/orders")
    order.wait_log(r"db: database credentials loaded \(password \*\*\*\*3046\)")
    order.wait_log("main: order-service started")
    assert DB_PASSWORD not in order.log


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("service", "knob", "settings"),
    [
        ("pos-backend", "tax_recalc_interval_ms", backend_settings("http://127.0.0.1:1", "http://127.0.0.1:1")),
        ("payment-processor", "fraud_rules_refresh_ms", {"api_key": API_KEY}),
    ],
)
def test_back_to_back_recalculation_burns_cpu(start: Start, service: str, knob: str, settings: dict[str, str]) -> None:
    # Side by side, so both see the same machine load; the busy one must use a core's worth
    # while the calm one, doing the same job on its healthy schedule, barely registers.
    busy = start(service, **{**settings, knob: "0"})
    calm = start(service, **settings)
    for proc in (busy, calm):
        proc.wait_log(f"main: {service} started")
    busy0, calm0, t0 = busy.cpu_seconds(), calm.cpu_seconds(), time.monotonic()
    poll(
        lambda: busy.cpu_seconds() - busy0 >= 1.0,
        timeout=20,
        what=f"{service} with {knob}=0 to use 1 CPU-second",
        interval=0.1,
    )
    busy_used, calm_used = busy.cpu_seconds() - busy0, calm.cpu_seconds() - calm0
    # relative, over the same window on the same machine: a slow machine slows both alike
    assert calm_used * 8 < busy_used, (
        f"calm {service} used {calm_used:.2f} CPU-s while the busy one used {busy_used:.2f} "
        f"in {time.monotonic() - t0:.1f} s"
    )


@pytest.mark.timeout(60)
def test_a_one_connection_pool_makes_payments_wait(start: Start) -> None:
    slow = start("payment-processor", api_key=API_KEY, db_pool_size="1", settlement_interval_ms="600")
    healthy = start("payment-processor", api_key=API_KEY, db_pool_size="4", settlement_interval_ms="600")
    body = {"order_id": "4523-abc123", "amount_cents": 1330, "card": {"brand": "VISA", "last4": "4242"}}

    def waited(service: Service) -> int | None:
        status, answer = service.request("POST", "/authorize", body)
        assert status in (200, 402), answer
        return answer["timing_ms"]["ledger_wait"] if status == 200 else None

    # 251, not 200: the service warns from 250 ms of waiting, and the answer's figure is rounded
    slow_wait = poll(lambda: (w := waited(slow)) is not None and w >= 251 and w, timeout=15,
                     what="an authorisation to queue past the warning threshold", interval=0)
    slow.wait_log(r"WARN  db: waited \d+ ms for a connection for an authorisation \(pool_size=1, in_use=1")
    waits = [w for _ in range(12) if (w := waited(healthy)) is not None]
    # relative, not a figure: the healthy pool never queues behind the settlement batch as the slow one did
    assert waits and max(waits) < slow_wait, (waits, slow_wait)
    assert "waited" not in "".join(line for line in healthy.lines if " db: " in line)


# --- life cycle --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["clickhouse", "otel-collector", "hyperdx"])
def test_observability_stand_ins_answer_and_stop_on_sigterm(start: Start, name: str) -> None:
    clickhouse = start("clickhouse") if name != "clickhouse" else None
    settings = {"clickhouse_endpoint": clickhouse.url} if clickhouse else {}
    service = start(name, **settings)
    poll(service.ready, timeout=10, what=f"{name} ready")
    if name == "clickhouse":
        assert service.request("GET", "/ping")[0] == 200
    if name == "otel-collector":
        assert service.request("POST", "/v1/metrics", {"metrics": {"orders": 1}})[0] == 200
    service.proc.send_signal(signal.SIGTERM)
    assert service.exit_code(5) == 0
    assert "INFO  main: received SIGTERM, shutting down" in service.log
    assert service.log.rstrip().endswith(f"INFO  main: {name} stopped")


@pytest.mark.timeout(30)
def test_clickhouse_counts_what_the_collector_inserts(start: Start) -> None:
    clickhouse = start("clickhouse")
    insert = "/?query=INSERT%20INTO%20otel_metrics%20FORMAT%20JSONEachRow"
    assert clickhouse.request("POST", insert, {"rows": [{"a": 1}, {"a": 2}]})[0] == 200
    data = urllib.request.Request(clickhouse.url + "/?query=SELECT%20count()%20FROM%20otel_metrics")
    with _opener.open(data, timeout=5) as answer:
        assert answer.read() == b"2\n"


def test_a_render_cache_reports_its_minute_as_the_leak_evidence_reads_it(caplog: pytest.LogCaptureFixture) -> None:
    """The one line pos-backend and order-service log each minute; the memory-leak evidence matches its shape."""
    import logging
    import types

    from edgelab.edgeapp.runtime import RenderCache

    limit = {"cache_max": 2}
    app = types.SimpleNamespace(settings=types.SimpleNamespace(int=lambda key: limit[key]))
    cache = RenderCache(app, "cache_max")  # type: ignore[arg-type]
    for i in range(5):
        cache.put(f"k{i}", b"x" * 1024)
    with caplog.at_level(logging.INFO, logger="screens"):
        cache.report("screens")
        cache.put("k5", b"x")
        cache.report("screens")
    assert [r.getMessage() for r in caplog.records] == [
        "render cache: 2 entries, 0.0 MiB, 3 evicted in the last minute",
        "render cache: 2 entries, 0.0 MiB, 1 evicted in the last minute",
    ]
