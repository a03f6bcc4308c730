"""HTTP both ways: a small router on ThreadingHTTPServer, and a JSON client whose
errors read like an on-call engineer would write them ("connection refused by
payment-service.payment.svc.cluster.local:80")."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import logs

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/ping"})
MAX_BODY = 1 << 20
SLOW_MS = 1000


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        data = json.loads(self.body)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data


@dataclass
class Response:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict/list -> JSON, str -> text
    content_type: str = ""

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


Handler = Callable[[Request], Response]
Routes = dict[tuple[str, str], Handler]  # (METHOD, path) -> handler


def serve(routes: Routes, host: str, port: int) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free one); the caller runs `serve_forever` and `shutdown`."""
    log = logs.get("http")

    class _Handler(BaseHTTPRequestHandler):
        server_version = "edge/1"
        sys_version = ""

        def _dispatch(self) -> None:
            started = time.monotonic()
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY)) if length else b""
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            handler = routes.get((self.command, parts.path))
            if handler is None:
                allowed = any(path == parts.path for _, path in routes)
                response = Response(405 if allowed else 404, {"error": f"no route for {self.command} {parts.path}"})
            else:
                try:
                    response = handler(Request(self.command, parts.path, query, body))
                except ValueError as err:
                    response = Response(400, {"error": f"bad request: {err}"})
                except Exception:
                    log.exception("%s %s failed", self.command, parts.path)
                    response = Response(500, {"error": "internal error"})
            payload, ctype = response.encode()
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass
            ms = (time.monotonic() - started) * 1000
            # Business lines tell the story; the access line shows up when something is off.
            # Probes are logged only at debug: the kubelet's own events record their failures.
            if parts.path in PROBE_PATHS:
                level = logging.DEBUG
            elif response.status >= 500 or ms >= SLOW_MS:
                level = logging.WARNING
            elif response.status >= 400:
                level = logging.INFO
            else:
                level = logging.DEBUG
            log.log(level, "%s %s %d %.0f ms", self.command, parts.path, response.status, ms)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # we log each request ourselves, in the store's format

    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    return server


class DownstreamError(Exception):
    """A call to another service failed; `reason` is the log-ready explanation."""

    def __init__(self, reason: str, status: int | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body or {}


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # in-store calls never use a proxy


def call(method: str, url: str, body: Any = None, *, timeout_ms: int) -> tuple[int, Any, float]:
    """Send JSON (or nothing), return (status, decoded body, elapsed ms). 4xx/5xx raise DownstreamError."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"} if data is not None else {}
    )
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=max(timeout_ms, 1) / 1000) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        decoded = _decode(err.read())
        detail = decoded.get("error") if isinstance(decoded, dict) else None
        text = f": {detail}" if detail else ""
        raise DownstreamError(
            f"{where} answered HTTP {err.code}{text}", err.code, decoded if isinstance(decoded, dict) else None
        ) from None
    except urllib.error.URLError as err:
        raise DownstreamError(_explain(err.reason, where, timeout_ms)) from None
    except (TimeoutError, OSError) as err:
        raise DownstreamError(_explain(err, where, timeout_ms)) from None
    return status, _decode(raw), (time.monotonic() - started) * 1000


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return raw.decode(errors="replace")[:200]


def _explain(reason: object, where: str, timeout_ms: int) -> str:
    host = where.rsplit(":", 1)[0]
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host {host} ({reason.strerror})"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(reason, TimeoutError):
        return f"no answer from {where} within {timeout_ms} ms"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot reach {where}: {reason.strerror}"
    return f"cannot reach {where}: {reason}"
