"""The drill page's document and server (harness/edgelab/drill/page.py), without a browser.

What the page draws is tested in chromium (tests/browser/test_drill_page.py); here: the fixture report
follows the contract, the report is embedded inertly, the page names no URL and is the same for the same
report, its assets ship as package data, and `serve` answers /, /report.json, 404 and 500.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from importlib.resources import files
from string import Template
from typing import Any

import pytest
from unitpaths import DATA, REPO

from edgelab.drill import page as drillpage

ROOT = REPO
REPORT: dict[str, Any] = json.loads((DATA / "drill" / "report.json").read_text())
EMBEDDED = re.compile(r'<script type="application/json" id="report">(.*?)</script>', re.S)
HOSTILE = '</script><script>alert("name")</script><!-- & </SCRIPT >'

# The contract (/work/contract/report.md), key by key.
CONTRACT = {
    "report": {"schema", "drill", "stores", "incidents", "responders"},
    "drill": {"name", "title", "state", "started_at", "ended_at", "now"},
    "store": {"id", "nodes", "server"},
    "incident": {"id", "store", "lab", "fault", "title", "ticket", "planned_at_s", "injected_at", "recovered_at",
                 "ended_at", "target"},
    "responder": {"name", "rank", "store", "kubeconfig", "score", "passed", "why", "incidents"},
    "responder_incident": {"incident", "answered", "score", "passed", "first_relevant_s", "correct_findings_s",
                           "recovery_s", "requests", "evidence_requests", "repeats", "course_order", "steps", "timeline"},
    "step": {"id", "title", "first_s"},
    "entry": {"t_s", "kind", "text", "step"},
}
KINDS = {"request", "evidence", "repeat", "hint", "submission", "injected", "recovered"}


def test_fixture_report_follows_the_contract() -> None:
    r = REPORT
    assert set(r) == CONTRACT["report"] and r["schema"] == "edgelab.drill.report/v1"
    assert set(r["drill"]) == CONTRACT["drill"] and r["drill"]["state"] in {"running", "stopped", "finished"}
    assert all(set(s) == CONTRACT["store"] for s in r["stores"]) and len(r["stores"]) == 2
    assert all(set(i) == CONTRACT["incident"] for i in r["incidents"])
    assert {i["store"] for i in r["incidents"]} == {s["id"] for s in r["stores"]}  # two incidents on two stores
    assert [x["rank"] for x in r["responders"]] == [1, 2, 3]
    assert [x["score"] for x in r["responders"]] == sorted((x["score"] for x in r["responders"]), reverse=True)
    incidents = {i["id"] for i in r["incidents"]}
    for responder in r["responders"]:
        assert set(responder) == CONTRACT["responder"]
        for ri in responder["incidents"]:
            assert set(ri) == CONTRACT["responder_incident"] and ri["incident"] in incidents
            assert all(set(s) == CONTRACT["step"] for s in ri["steps"])
            assert all(set(e) == CONTRACT["entry"] and e["kind"] in KINDS for e in ri["timeline"])
            assert all((e["step"] is not None) == (e["kind"] == "evidence") for e in ri["timeline"])
            during = [e for e in ri["timeline"] if e["t_s"] >= 0]
            assert ri["requests"] == sum(e["kind"] in {"request", "evidence", "repeat"} for e in during)
            assert ri["evidence_requests"] == sum(e["kind"] == "evidence" for e in during)
            assert ri["repeats"] == sum(e["kind"] == "repeat" for e in during)
    assert [ri["answered"] for x in r["responders"] for ri in x["incidents"]] == [True, True, False]


def test_report_json_is_embedded_inert_and_whole() -> None:
    report = copy.deepcopy(REPORT)
    report["responders"][0]["name"] = HOSTILE
    report["incidents"][0]["ticket"] = HOSTILE
    page = drillpage.render(report)

    embedded = EMBEDDED.findall(page)
    assert len(embedded) == 1
    assert "<" not in embedded[0] and ">" not in embedded[0] and "&" not in embedded[0]
    assert json.loads(embedded[0]) == report  # JSON.parse in the page reads back exactly the report
    assert page.lower().count("</script") == 2  # the JSON's and the page script's own closing tags
    assert "<script>alert" not in page


def test_noscript_ranking_escapes_report_strings() -> None:
    report = copy.deepcopy(REPORT)
    report["responders"][0]["name"] = HOSTILE
    page = drillpage.render(report)
    noscript = page[page.index("<noscript>"):page.index("</noscript>")]
    assert noscript.count("<li>") == 3
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;name&quot;)" in noscript
    assert "alice" not in noscript and "bob (store 9102): score 55, passed 0" in noscript


def test_page_names_no_external_url() -> None:
    page = drillpage.render(REPORT, live=True)
    assert not re.search(r"""\b(?:src|href|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", page, re.I)
    assert not re.search(r"@import|url\(", page, re.I)
    # Stricter: apart from the report's own data (a store's API server is an https URL), no URL at all.
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", EMBEDDED.sub("", page), re.I)
    assert "fetch(\"report.json\"" in drillpage._asset("drill.js")  # the live page's one request: relative


def test_render_is_deterministic_and_live_only_switches_polling() -> None:
    assert drillpage.render(REPORT) == drillpage.render(copy.deepcopy(REPORT))
    static, live = drillpage.render(REPORT), drillpage.render(REPORT, live=True)
    assert 'data-live="false"' in static and 'data-live="true"' in live
    assert static.replace('data-live="false"', 'data-live="true"') == live


def test_csp_admits_exactly_the_inlined_style_and_script() -> None:
    page = drillpage.render(REPORT)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp
    css = re.search(r"<style>(.*?)</style>", page, re.S)
    js = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert css and len(js) == 1

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"style-src 'sha256-{digest(css.group(1))}'" in csp.group(1)
    assert f"script-src 'sha256-{digest(js[0])}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1) and "connect-src 'self'" in csp.group(1)


def test_assets_ship_as_package_data() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["edgelab"]
    for name in drillpage.ASSETS:
        assert (files("edgelab") / "web" / name).is_file(), name
        assert any(fnmatch(f"web/{name}", pattern) for pattern in package_data), f"web/{name} is not package data"
    assert "</script" not in drillpage._asset("drill.js").lower()
    assert "</style" not in drillpage._asset("drill.css").lower()
    fields = Template(drillpage._asset("drill.html")).get_identifiers()
    assert sorted(fields) == ["csp", "css", "js", "live", "nojs", "report", "title"]


# --- serve -------------------------------------------------------------------------------------------------------


@contextmanager
def serving(get_report: Callable[[], dict[str, Any]]) -> Iterator[str]:
    server = drillpage.serve(get_report, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_serve_gives_the_live_page_and_the_current_report() -> None:
    current = {"report": REPORT}
    with serving(lambda: current["report"]) as url:
        status, headers, body = get(url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert 'data-live="true"' in body.decode()
        status, headers, body = get(url + "/report.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert headers["Cache-Control"] == "no-cache"
        assert json.loads(body) == REPORT
        changed = copy.deepcopy(REPORT)
        changed["drill"]["state"] = "running"
        current["report"] = changed
        assert json.loads(get(url + "/report.json?t=1")[2])["drill"]["state"] == "running"


@pytest.mark.parametrize("path", ["/index.html", "/report", "/drill.js", "/../report.json", "/favicon.ico"])
def test_serve_answers_404_for_anything_else(path: str) -> None:
    with serving(lambda: REPORT) as url:
        status, _, body = get(url + path)
    assert status == 404 and b"/report.json" in body


def test_serve_gives_500_when_the_report_fails_and_keeps_serving() -> None:
    fail = {"now": True}

    def get_report() -> dict[str, Any]:
        if fail["now"]:
            raise RuntimeError("state file is half written")
        return REPORT

    with serving(get_report) as url:
        for path in ("/", "/report.json"):
            status, headers, body = get(url + path)
            assert status == 500 and headers["Content-Type"].startswith("text/plain")
            assert body.decode() == "could not build the drill report: state file is half written\n"
        fail["now"] = False
        assert get(url + "/report.json")[0] == 200
