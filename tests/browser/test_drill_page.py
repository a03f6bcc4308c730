"""The instructor's drill page (harness/edgelab/drill/page.py) in a real headless chromium.

What the browser built is read back through the page's data attributes: scoreboard rows
(`tr.responder[data-name][data-rank]`), one `section.timeline[data-responder][data-incident]` per responder
and incident holding `li.entry[data-kind][data-t]` and SVG marks `g.mark[data-kind]`.
The report is tests/unit/data/drill/report.json: alice fast and right, bob slow and wrong, carol silent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from edgelab.drill import page as drillpage

if TYPE_CHECKING:
    from conftest import Element  # tests/browser/conftest.py; fixtures hand it over, no import at run time

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]  # a headless chromium per page, beside the stores

REPORT: dict[str, Any] = json.loads((Path(__file__).parents[1] / "unit/data/drill/report.json").read_text())
HOSTILE_NAME = '</script><script>document.body.dataset.pwned="name"</script>'
HOSTILE_TICKET = "<img src=x onerror=\"document.body.dataset.pwned='ticket'\"><b>urgent</b> & </textarea>"
HOSTILE_TEXT = "get pods/log pos/x?<svg onload=alert(1)>"


def static_page(report: dict[str, Any], tmp_path: Path) -> str:
    page = tmp_path / "drill.html"
    page.write_text(drillpage.render(report), encoding="utf-8")
    return page.as_uri()


def scoreboard(dom: Element) -> list[tuple[str, str]]:
    return [(tr.attrs["data-name"], tr.attrs["data-rank"]) for tr in dom.find_all("tr", "responder")]


def assert_timelines(dom: Element, report: dict[str, Any]) -> None:
    """Each responder's timeline per incident holds exactly their entries, in time order, list and chart alike."""
    wanted = [(r["name"], ri["incident"]) for r in report["responders"] for ri in r["incidents"]]
    shown = [(s.attrs["data-responder"], s.attrs["data-incident"]) for s in dom.find_all("section", "timeline")]
    assert shown == wanted
    for r in report["responders"]:
        for ri in r["incidents"]:
            section = dom.find("section", "timeline", data_responder=r["name"], data_incident=ri["incident"])
            entries = sorted(ri["timeline"], key=lambda e: e["t_s"])
            items = section.find_all("li", "entry")
            assert [(li.attrs["data-kind"], float(li.attrs["data-t"])) for li in items] == \
                [(e["kind"], e["t_s"]) for e in entries], f"{r['name']} {ri['incident']}"
            assert [li.find("span", "text").text for li in items] == [e["text"] for e in entries]
            marks = section.find("svg", "chart").find_all("g", "mark")
            assert [m.attrs["data-kind"] for m in marks] == [e["kind"] for e in entries]
            for mark, entry in zip(marks, entries, strict=True):
                assert mark.find("title").text  # each mark says what it is when pointed at
                if entry["kind"] == "evidence":  # labelled with its rubric step
                    assert mark.find("text").text == entry["step"]


def test_static_page_shows_ranked_scoreboard_and_each_responders_timeline(load: Callable[..., Element], tmp_path: Path) -> None:
    dom = load(static_page(REPORT, tmp_path))

    assert dom.find("h1").text == "Lunch rush at two stores"
    assert dom.find(id="drill-state").text == "finished"
    assert dom.find(id="drill-clock").text == "elapsed 22:00"  # 11:30 to 11:52: ended_at, not the browser's clock
    assert dom.find("body").attrs["data-live"] == "false"
    assert [tr.attrs["data-incident"] for tr in dom.find_all("tr", "incident")] == ["i1", "i2"]
    assert [td.text for td in dom.find("tr", "incident", data_incident="i1").find_all("td", "num")] == \
        ["0:00", "0:05", "4:20"]

    assert scoreboard(dom) == [("alice", "1"), ("bob", "2"), ("carol", "3")]
    alice = [td.text for td in dom.find("tr", "responder", data_name="alice").find_all("td")]
    assert alice[:4] == ["1", "9101", "100", "1 of 1"]
    assert alice[5:] == ["100% passed", "0:21", "3:12", "4:15", "8 / 5 / 1", "✓ yes",
                         "passed 1 of 1; correct findings 3 min 12 s after the fault"]
    bob = [td.text for td in dom.find("tr", "responder", data_name="bob").find_all("td")]
    assert bob[5:11] == ["55% not passed", "5:40", "—", "—", "7 / 2 / 3", "✗ no"]
    carol = [td.text for td in dom.find("tr", "responder", data_name="carol").find_all("td")]
    assert carol[5:11] == ["not answered", "—", "—", "—", "1 / 0 / 0", "—"]

    assert_timelines(dom, REPORT)
    carol_i1 = dom.find("section", "timeline", data_responder="carol")
    assert carol_i1.find("li", "entry", data_t="-30").find("span", "t").text == "-0:30"  # before the fault


def test_live_page_draws_report_json_and_a_reload_shows_the_change(
        load: Callable[..., Element], serving: Callable[..., Any]) -> None:
    embedded = copy.deepcopy(REPORT)  # what GET / embeds: the page must not be showing this
    embedded["drill"]["title"] = "embedded, not fetched"
    embedded["responders"].reverse()
    current = {"report": REPORT}
    calls: list[str] = []

    def get_report() -> dict[str, Any]:
        calls.append("call")
        return embedded if len(calls) == 1 else current["report"]  # the first call is GET /

    with serving(get_report) as url:
        dom = load(url)
        assert len(calls) >= 2, "the live page never fetched report.json"
        assert dom.find("body").attrs["data-live"] == "true"
        assert dom.find("h1").text == "Lunch rush at two stores"
        assert scoreboard(dom) == [("alice", "1"), ("bob", "2"), ("carol", "3")]
        assert_timelines(dom, REPORT)
        assert "updated" in dom.find(id="drill-live").text

        changed = copy.deepcopy(REPORT)  # carol finally answers and overtakes bob
        changed["drill"]["state"] = "running"
        carol = changed["responders"].pop()
        carol["incidents"][0]["timeline"].append({"t_s": 400.0, "kind": "submission", "text": "submitted: 60% not passed", "step": None})
        changed["responders"].insert(1, carol)
        for rank, r in enumerate(changed["responders"], 1):
            r["rank"] = rank
        current["report"] = changed

        dom = load(url)
        assert dom.find(id="drill-state").text == "running"
        assert scoreboard(dom) == [("alice", "1"), ("carol", "2"), ("bob", "3")]
        assert_timelines(dom, changed)


def test_live_page_polls_report_json_while_open(load: Callable[..., Element], serving: Callable[..., Any]) -> None:
    later = copy.deepcopy(REPORT)
    later["drill"]["title"] = "Lunch rush, a poll later"
    calls: list[str] = []

    def get_report() -> dict[str, Any]:
        calls.append("call")
        return REPORT if len(calls) <= 2 else later  # GET /, the first fetch; then every poll (5 s) sees `later`

    with serving(get_report) as url:
        dom = load(url, budget_ms=12000)  # virtual time: the 5 s polls run without the test waiting for them
    assert len(calls) >= 3
    assert dom.find("h1").text == "Lunch rush, a poll later"


def test_live_page_keeps_the_last_report_and_says_so_when_report_json_fails(
        load: Callable[..., Element], serving: Callable[..., Any]) -> None:
    calls: list[str] = []

    def get_report() -> dict[str, Any]:
        calls.append("call")
        if len(calls) > 1:
            raise RuntimeError("state file is being written")
        return REPORT

    with serving(get_report) as url:
        dom = load(url)
    assert scoreboard(dom) == [("alice", "1"), ("bob", "2"), ("carol", "3")]
    status = dom.find(id="drill-live")
    assert "error" in status.attrs["class"].split()
    assert "HTTP 500" in status.text and "state file is being written" in status.text


def hostile_report() -> dict[str, Any]:
    report = copy.deepcopy(REPORT)
    report["responders"][0]["name"] = HOSTILE_NAME
    report["responders"][0]["why"] = HOSTILE_NAME
    report["incidents"][0]["ticket"] = HOSTILE_TICKET
    report["responders"][1]["incidents"][0]["timeline"][1]["text"] = HOSTILE_TEXT
    return report


@pytest.mark.parametrize("how", ["static", "live"])
def test_hostile_names_and_tickets_are_shown_as_text(
        how: str, load: Callable[..., Element], serving: Callable[..., Any], tmp_path: Path) -> None:
    report = hostile_report()
    if how == "static":
        dom = load(static_page(report, tmp_path))
    else:
        with serving(lambda: report) as url:
            dom = load(url)

    assert "data-pwned" not in dom.find("body").attrs
    assert dom.find_all("img") == [] and dom.find_all("b") == []
    assert len(dom.find_all("script")) == 2  # the report's JSON and the page's own script, nothing injected
    row = dom.find("tr", "responder", data_rank="1")
    assert row.attrs["data-name"] == HOSTILE_NAME
    assert row.find("th").text == HOSTILE_NAME
    assert row.find("td", "why").text == HOSTILE_NAME
    assert dom.find("tr", "incident", data_incident="i1").find("p", "ticket").text == HOSTILE_TICKET
    bob = dom.find("section", "timeline", data_responder="bob")
    assert bob.find_all("li", "entry")[1].find("span", "text").text == HOSTILE_TEXT
    assert [e.tag for e in dom.iter() if any(a.startswith("on") for a in e.attrs)] == []  # no handler got in
    assert_timelines(dom, report)
