"""The instructor's drill page (issue 14): one self-contained HTML document that draws a drill report.

The report is the dict of /work/contract/report.md (`edgelab.drill.report/v1`, built by drill/report.py).
`render` inlines the page's own assets (`web/drill.html`, `drill.css`, `drill.js`, shipped as package data:
no CDN, no URL, works offline) and embeds the report as JSON; the script draws everything from that JSON,
so a saved file and the live page share one code path. `serve` is the live page: `GET /` the page,
`GET /report.json` the current report, which the page fetches again every 5 seconds.

Without JavaScript the page still shows the ranking (a short list rendered here, in <noscript>).
A Content-Security-Policy admits only the page's own style and script (by hash) and requests to its own
origin, so even a report string that escaped its JSON could not run or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from collections.abc import Callable
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ASSETS = ("drill.html", "drill.css", "drill.js")  # in harness/edgelab/web/, package data


@cache
def _asset(name: str) -> str:
    return (files("edgelab") / "web" / name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON that is inert inside <script>: no `<`, `>` or `&` left, so `</script>` in a name cannot close it."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _ranking(report: dict[str, Any]) -> str:
    """The <noscript> ranking: one escaped line per responder, best first."""
    items = []
    for r in report.get("responders") or []:
        score = r.get("score")
        line = (f"{r.get('name')} (store {r.get('store')}): score {score if score is None else f'{score:g}'}, "
                f"passed {r.get('passed')}; {r.get('why')}")
        items.append(f"<li>{html.escape(line)}</li>")
    return "".join(items)


def render(report: dict[str, Any], *, live: bool = False) -> str:
    """The page for `report` as one HTML document; `live=True` makes it poll `report.json` (relative) every 5 s."""
    css, js = _asset("drill.css"), _asset("drill.js")
    drill = report.get("drill") or {}
    csp = (f"default-src 'none'; style-src {_sha256(css)}; script-src {_sha256(js)}; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return Template(_asset("drill.html")).substitute(
        csp=csp,
        title=html.escape(str(drill.get("title") or drill.get("name") or "Drill")),
        css=css,
        js=js,
        live="true" if live else "false",
        nojs=_ranking(report),
        report=_script_json(report),
    )


MAX_SUBMISSION = 64 * 1024  # bytes: a findings file is a few hundred


def serve(get_report: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 8080,
          submit: Callable[[str, bytes], tuple[int, dict[str, Any]]] | None = None,
          key: str | None = None) -> ThreadingHTTPServer:
    """A server (bound, not yet serving: call `serve_forever`) for the live page and its `report.json`.

    `get_report` is called on every request; if it raises, that request gets a 500 with a short text and the
    server carries on (the page keeps showing the last report and says why it is stale).

    With `submit`, `POST /submit` takes a responder's findings (the body, YAML or JSON) with their token
    (`Authorization: Bearer TOKEN`): `submit(token, body)` returns the HTTP status and a JSON answer.

    With `key`, the page and its data are the instructor's: `/?key=KEY` (the page passes it on to
    `report.json`); without it, 403. The scoreboard names targets and causes, which responders on the
    same network must not read while they investigate.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/submit" or submit is None:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: findings go to POST /submit\n")
                return
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_SUBMISSION:
                self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "text/plain", b"findings are at most 64 KiB\n")
                return
            try:
                status, answer = submit(token, self.rfile.read(length))
            except Exception as exc:  # noqa: BLE001 - one bad submission must not stop the page
                self.log_error("could not grade a submission: %s", exc)
                status, answer = 500, {"error": f"could not grade the submission: {exc}"}
            self._send(HTTPStatus(status), "application/json", json.dumps(answer, default=str).encode("utf-8"))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path
            given = dict(parse_qsl(url.query)).get("key", "")
            if key is not None and path in ("/", "/report.json") and not secrets.compare_digest(given, key):
                self._send(HTTPStatus.FORBIDDEN, "text/plain",
                           b"the scoreboard is the instructor's (it names the answers): open the URL with its ?key=\n")
                return
            if path not in ("/", "/report.json"):
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found: the drill page is / and its data /report.json\n")
                return
            try:
                report = get_report()
                if path == "/":
                    body, kind = render(report, live=True).encode("utf-8"), "text/html"
                else:
                    body, kind = json.dumps(report).encode("utf-8"), "application/json"
            except Exception as exc:  # noqa: BLE001 - one bad report must not stop the page
                self.log_error("could not build the drill report: %s", exc)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain",
                           f"could not build the drill report: {exc}\n".encode())
                return
            self._send(HTTPStatus.OK, kind, body)

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # no line per poll; errors are still logged (log_error)

    return ThreadingHTTPServer((host, port), Handler)
