"""Agent benchmarks (harness/edgelab/agents/bench.py) without a cluster: pass@k, the summary numbers, the results
file (one line per run, on disk before the next run starts), skipped labs, JUnit, comparing two files, and the
errors a user meets. The runner is a fake (benchfake.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from benchfake import AGENT, T0, FakeRunner, run_line, write_lines

from edgelab.agents import bench as agentbench
from edgelab.agents.bench import BenchError, ResultsFileError, pass_at_k
from edgelab.base.errors import EdgelabError
from edgelab.labs import catalogue as labs
from edgelab.labs import session


def checked(lines: list[dict[str, Any]]) -> list[Any]:
    return [agentbench.parse_line(json.dumps(x), Path("hand-made.jsonl"), i) for i, x in enumerate(lines, 1)]


# --- pass@k ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (5, 2, 1, 2 / 5),            # pass@1 = c/n
    (5, 2, 2, 1 - 3 / 10),       # 1 - C(3,2)/C(5,2)
    (5, 2, 3, 1 - 1 / 10),       # 1 - C(3,3)/C(5,3)
    (5, 2, 4, 1.0),              # n-c < k: some draw of 4 always holds a pass
    (10, 3, 5, 1 - 21 / 252),    # 1 - C(7,5)/C(10,5)
    (3, 1, 2, 1 - 1 / 3),        # 1 - C(2,2)/C(3,2)
    (3, 0, 3, 0.0),
    (3, 3, 1, 1.0),
    (4, 1, 4, 1.0),              # k = n: did any run pass
    (1, 0, 1, 0.0),
])
def test_pass_at_k_is_the_unbiased_estimator(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 1, 4), (3, 1, 0), (3, 4, 1), (0, 0, 1), (3, -1, 1)])
def test_pass_at_k_is_defined_for_1_le_k_le_n_only(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


# --- summaries -------------------------------------------------------------------------------------------------


def test_summary_per_lab_and_overall_from_hand_made_lines() -> None:
    lines = checked([
        run_line("pos-down-4523", 1, 100.0, agent_seconds=10, requests=4, total_seconds=100),
        run_line("pos-down-4523", 2, 60.0, agent_seconds=20, requests=8, total_seconds=110),
        run_line("pos-down-4523", 3, 90.0, agent_seconds=30, requests=12, total_seconds=120),
        run_line("payment-slow", 1, 40.0, timed_out=True, agent_seconds=600, requests=30, total_seconds=700),
        run_line("payment-slow", 2, 50.0, agent_seconds=100, requests=20, total_seconds=200),
        run_line("payment-slow", 3, 30.0, timed_out=True, agent_seconds=600, requests=40, total_seconds=700),
        {"lab": "froze-at-1620", "store": "4523", "agent": AGENT, "skipped": "needs 2 nodes; store 4523 has 1",
         "min_nodes": 2, "store_nodes": 1},
    ])
    rows, overall = agentbench.summarize(lines)
    pos, pay, froze = rows
    assert (pos.lab, pos.runs, pos.passed, pos.k, pos.timeouts) == ("pos-down-4523", 3, 2, 3, 0)
    assert pos.pass_at_1 == pytest.approx(2 / 3) and pos.pass_at_k == 1.0
    assert pos.mean_score == pytest.approx(250 / 3) and pos.mean_agent_seconds == 20 and pos.mean_requests == 8
    assert pos.total_seconds == 330 and pos.skipped is None
    assert (pay.runs, pay.passed, pay.pass_at_1, pay.pass_at_k, pay.timeouts) == (3, 0, 0.0, 0.0, 2)
    assert pay.mean_score == 40 and pay.mean_agent_seconds == pytest.approx(1300 / 3) and pay.mean_requests == 30
    assert (froze.lab, froze.runs, froze.pass_at_1, froze.skipped) == ("froze-at-1620", 0, None,
                                                                       "needs 2 nodes; store 4523 has 1")
    assert (overall.labs, overall.skipped, overall.runs, overall.passed, overall.timeouts) == (2, 1, 6, 2, 2)
    assert overall.pass_at_1 == pytest.approx((2 / 3 + 0) / 2)  # over labs, each lab weighs the same
    assert overall.pass_at_k == pytest.approx(0.5)
    assert overall.mean_score == pytest.approx((250 / 3 + 40) / 2)
    assert overall.mean_agent_seconds == pytest.approx(1360 / 6) and overall.mean_requests == pytest.approx(114 / 6)
    assert overall.total_seconds == 1930


def test_pass_at_k_is_none_for_a_lab_with_fewer_runs_than_k() -> None:
    """An interrupted bench: the lab cut short has no exact pass@3, and so neither has the overall row."""
    lines = checked([run_line("pos-down-4523", i, 90.0) for i in (1, 2, 3)] + [run_line("payment-slow", 1, 90.0)])
    rows, overall = agentbench.summarize(lines, k=3)
    assert [(r.lab, r.runs, r.pass_at_1, r.pass_at_k) for r in rows] == [("pos-down-4523", 3, 1.0, 1.0),
                                                                         ("payment-slow", 1, 1.0, None)]
    assert overall.pass_at_1 == 1.0 and overall.pass_at_k is None


# --- running a bench -------------------------------------------------------------------------------------------


def test_bench_writes_one_flushed_line_per_run_and_skips_what_the_store_cannot_run(tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench.jsonl"

    def on_disk(finished: int) -> None:
        """Before each run starts, every finished run is already in the file: Ctrl-C loses none of them."""
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert len([x for x in lines if "skipped" not in x]) == finished

    runner = FakeRunner({"pos-down-4523": [(100.0, False), (70.0, True)], "payment-slow": [(90.0, False), (95.0, False)]},
                        check=on_disk)
    said: list[str] = []
    b = agentbench.bench("4523", AGENT, labs=["pos-down-4523", "froze-at-1620", "payment-slow"], repeat=2,
                         time_limit=300.0, mount=tmp_path, out=out, say=said.append, runner=runner,
                         nodes=lambda store: 1)
    assert [(c["lab"], c["store"], c["agent"], c["time_limit"], c["mount"]) for c in runner.calls] == [
        ("pos-down-4523", "4523", AGENT, 300.0, tmp_path), ("pos-down-4523", "4523", AGENT, 300.0, tmp_path),
        ("payment-slow", "4523", AGENT, 300.0, tmp_path), ("payment-slow", "4523", AGENT, 300.0, tmp_path)]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["lab"], x.get("repeat"), x.get("passed")) for x in lines] == [
        ("pos-down-4523", 1, True), ("pos-down-4523", 2, False), ("froze-at-1620", None, None),
        ("payment-slow", 1, True), ("payment-slow", 2, True)]
    first = lines[0]
    assert first["agent"] == AGENT and first["store"] == "4523" and first["score"] == 100.0
    assert first["result"]["lab"] == "pos-down-4523" and first["started_at"] == T0.isoformat()
    assert lines[1]["timed_out"] is True and lines[1]["time_limit"] == 300.0
    assert lines[2] == {"lab": "froze-at-1620", "store": "4523", "agent": AGENT,
                        "skipped": "needs 2 nodes; store 4523 has 1", "min_nodes": 2, "store_nodes": 1}
    assert said[0] == f"results: {out}"
    assert "[1/3] pos-down-4523#1: agent started" in said  # the run's own progress, tagged
    assert "[2/3] froze-at-1620: skipped (needs 2 nodes; store 4523 has 1)" in said
    assert not b.interrupted and len(b.runs) == 4
    rows, overall = b.summary()
    assert [(r.lab, r.runs, r.passed, r.pass_at_1, r.pass_at_k, r.timeouts) for r in rows] == [
        ("pos-down-4523", 2, 1, 0.5, 1.0, 1), ("froze-at-1620", 0, 0, None, None, 0), ("payment-slow", 2, 2, 1.0, 1.0, 0)]
    assert (overall.labs, overall.skipped, overall.runs, overall.passed, overall.pass_at_1) == (2, 1, 4, 3, 0.75)
    assert agentbench.load(out).lines == b.lines  # what the file holds is what was summarized


def test_every_lab_by_default_in_id_order(tmp_path: Path) -> None:
    every = sorted(labs.load_all())
    runner = FakeRunner({lab: [(90.0, False)] for lab in every})
    b = agentbench.bench("4523", AGENT, out=tmp_path / "all.jsonl", runner=runner, nodes=lambda store: 3)
    assert [c["lab"] for c in runner.calls] == every and len(b.lines) == len(every)


def test_ctrl_c_keeps_every_finished_run_and_reports_them(tmp_path: Path) -> None:
    out, report = tmp_path / "b.jsonl", tmp_path / "junit.xml"

    def interrupt(finished: int) -> None:
        if finished == 2:
            raise KeyboardInterrupt

    runner = FakeRunner({"pos-down-4523": [(100.0, False)] * 3}, check=interrupt)
    b = agentbench.bench("4523", AGENT, labs=["pos-down-4523"], repeat=3, out=out, junit=report, runner=runner,
                         nodes=lambda store: 1)
    assert b.interrupted and len(out.read_text().splitlines()) == 2
    rows, _ = b.summary()
    assert (rows[0].runs, rows[0].pass_at_1, rows[0].pass_at_k) == (2, 1.0, None)
    assert len(ET.parse(report).getroot().findall("testsuite/testcase")) == 2


def test_junit_one_case_per_run_named_lab_hash_repeat(tmp_path: Path) -> None:
    report = tmp_path / "reports" / "bench.xml"
    runner = FakeRunner({"pos-down-4523": [(100.0, False), (40.0, True)], "payment-slow": [(50.0, False)] * 2})
    b = agentbench.bench("4523", AGENT, labs=["pos-down-4523", "payment-slow"], repeat=2, time_limit=600.0,
                         out=tmp_path / "b.jsonl", junit=report, runner=runner, nodes=lambda store: 1)
    root = ET.parse(report).getroot()
    assert (root.get("tests"), root.get("failures")) == ("4", "3")
    cases = root.findall("testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("pos-down-4523", "pos-down-4523#1"), ("pos-down-4523", "pos-down-4523#2"),
        ("payment-slow", "payment-slow#1"), ("payment-slow", "payment-slow#2")]
    assert cases[0].find("failure") is None and cases[0].get("time") == "30.000"
    timed_out = cases[1].find("failure")
    result = b.runs[1][1].result
    assert timed_out is not None and timed_out.text == result.feedback() + "\ntimed out after 600s"
    assert timed_out.get("message") == "40% < 85%; timed out after 600s"
    failure = cases[2].find("failure")
    assert failure is not None and failure.text == b.runs[2][1].result.feedback()
    assert "try: kubectl" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in cases[1].iter("property")}
    assert props == {"score": "40", "threshold": "85", "points": "0", "timed_out": "true", "agent_seconds": "600.0",
                     "requests": "4"}


# --- errors a user meets, before anything runs -------------------------------------------------------------------


def never(*_: Any, **__: Any) -> Any:
    raise AssertionError("nothing may run")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"labs": ["pos-down-4523", "no-such-lab"]}, "unknown lab(s) 'no-such-lab'; the labs are: "),
    ({"labs": [" ", ""]}, "--labs names no lab"),
    ({"repeat": 0}, "--repeat 0: each lab runs at least once"),
    ({"agent": "  "}, "--agent is empty"),
    ({"time_limit": 0.0}, "the time limit must be positive"),
])
def test_wrong_arguments_are_said_plainly_and_nothing_runs(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"agent": AGENT, "out": tmp_path / "b.jsonl", "runner": never, "nodes": lambda s: 1, **kwargs}
    with pytest.raises(BenchError) as e:
        agentbench.bench("4523", args.pop("agent"), **args)
    assert message in str(e.value)
    if "unknown" in message:
        assert "payment-slow" in str(e.value)  # the known ones are listed
    assert not (tmp_path / "b.jsonl").exists()


def test_a_store_that_is_not_up_is_the_stores_own_error(tmp_path: Path) -> None:
    def not_up(store: str) -> int:
        raise session.SessionError(f"store {store} is not up (run `edgelab up --store {store}`)")

    with pytest.raises(session.SessionError, match="store 9999 is not up"):
        agentbench.bench("9999", AGENT, labs=["pos-down-4523"], out=tmp_path / "b.jsonl", runner=never, nodes=not_up)
    assert not (tmp_path / "b.jsonl").exists()  # no empty results file left behind


def test_the_stores_node_count_and_a_store_whose_api_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client

    class Nodes:
        def __init__(self, api: object) -> None:
            self.api = api

        def list_node(self, **_: object) -> object:
            if self.api == "down":
                raise ConnectionRefusedError("connection refused")
            return type("NodeList", (), {"items": ["store-4523-control-plane", "store-4523-worker"]})()

    class Api:
        def __init__(self, store: str) -> None:
            self.store = store

        def __enter__(self) -> str:
            return "down" if self.store == "4524" else "up"

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr(session, "store_api", Api)
    monkeypatch.setattr(client, "CoreV1Api", Nodes)
    assert agentbench.store_nodes("4523") == 2
    with pytest.raises(BenchError, match=r"cannot list the nodes of store 4524 \(ConnectionRefusedError: connection "
                                         r"refused\); is it running\? `edgelab status --store 4524`"):
        agentbench.store_nodes("4524")


def test_a_results_file_that_cannot_be_written_is_said_before_the_first_run(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(BenchError, match="cannot write the results file .*a-file/b.jsonl"):
        agentbench.bench("4523", AGENT, labs=["pos-down-4523"], out=tmp_path / "a-file" / "b.jsonl", runner=never,
                         nodes=lambda s: 1)
    old = write_lines(tmp_path / "old.jsonl", [run_line("pos-down-4523", 1, 90.0)])
    with pytest.raises(BenchError, match="exists already; give another --out"):
        agentbench.bench("4523", AGENT, labs=["pos-down-4523"], out=old, runner=never, nodes=lambda s: 1)
    assert len(old.read_text().splitlines()) == 1
    with pytest.raises(BenchError, match="cannot write the JUnit report"):
        agentbench.bench("4523", AGENT, labs=["pos-down-4523"], out=tmp_path / "new.jsonl", runner=never,
                         nodes=lambda s: 1, junit=tmp_path / "a-file" / "r.xml")


def test_time_limits_and_default_file_name() -> None:
    assert agentbench.parse_time_limit("10m") == 600 and agentbench.parse_time_limit("90s") == 90
    assert agentbench.parse_time_limit("1h") == 3600
    assert agentbench.parse_time_limit("none") is None and agentbench.parse_time_limit(None) is None
    with pytest.raises(BenchError, match="--time-limit '10 minutes': give it like 90s, 10m or 1h"):
        agentbench.parse_time_limit("10 minutes")
    assert agentbench.default_out(T0) == Path("bench-20261130T070000Z.jsonl")


# --- results files and comparing them ----------------------------------------------------------------------------


def test_compare_side_by_side_with_labs_only_on_one_side(tmp_path: Path) -> None:
    a = write_lines(tmp_path / "a.jsonl", [
        run_line("pos-down-4523", 1, 100.0, agent_seconds=40, requests=20, agent="agent-a"),
        run_line("pos-down-4523", 2, 60.0, agent_seconds=60, requests=30, agent="agent-a"),
        run_line("payment-slow", 1, 50.0, agent="agent-a"),
        run_line("amber-since-six", 1, 90.0, agent="agent-a"),
        {"lab": "froze-at-1620", "store": "4523", "agent": "agent-a", "skipped": "needs 2 nodes; store 4523 has 1",
         "min_nodes": 2, "store_nodes": 1}])
    b = write_lines(tmp_path / "b.jsonl", [
        run_line("pos-down-4523", 1, 100.0, agent_seconds=20, requests=10, agent="agent-b"),
        run_line("pos-down-4523", 2, 90.0, agent_seconds=30, requests=14, agent="agent-b"),
        run_line("payment-slow", 1, 95.0, agent="agent-b"),
        run_line("froze-at-1620", 1, 85.0, agent="agent-b"),
        run_line("keeps-restarting", 1, 10.0, agent="agent-b")])
    c = agentbench.compare(agentbench.load(a), agentbench.load(b))
    assert (c.a.agents, c.b.agents) == (["agent-a"], ["agent-b"])
    rows = {r.lab: r for r in c.labs}
    assert list(rows) == ["pos-down-4523", "payment-slow", "amber-since-six", "froze-at-1620", "keeps-restarting"]
    pos = rows["pos-down-4523"]
    assert pos.only is None and pos.a is not None and pos.b is not None
    assert (pos.a.pass_at_1, pos.b.pass_at_1, pos.a.mean_score, pos.b.mean_score) == (0.5, 1.0, 80.0, 95.0)
    assert pos.delta_score == 15.0 and (pos.a.mean_agent_seconds, pos.b.mean_agent_seconds) == (50.0, 25.0)
    assert (pos.a.mean_requests, pos.b.mean_requests) == (25.0, 12.0)
    assert (rows["amber-since-six"].only, rows["amber-since-six"].b) == ("a", None)
    assert rows["froze-at-1620"].only == "b" and rows["froze-at-1620"].a is not None
    assert rows["froze-at-1620"].a.skipped == "needs 2 nodes; store 4523 has 1"
    assert rows["keeps-restarting"].only == "b" and rows["keeps-restarting"].delta_score is None
    assert c.common == ["pos-down-4523", "payment-slow"]  # the overall rows: like with like
    assert (c.overall_a.labs, c.overall_a.pass_at_1, c.overall_a.mean_score) == (2, 0.25, 65.0)
    assert (c.overall_b.labs, c.overall_b.pass_at_1, c.overall_b.mean_score) == (2, 1.0, 95.0)
    assert c.delta_score == 30.0
    d = json.loads(json.dumps(c.to_dict()))
    assert d["a"] == {"file": str(a), "agents": ["agent-a"]} and d["overall"]["labs"] == ["pos-down-4523", "payment-slow"]
    assert [x["only"] for x in d["labs"]] == [None, None, "a", "b", "b"]


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty: no runs"),
    ("\n\n", "empty: no runs"),
    ("{good}\nnot json\n", "line 2: not JSON (Expecting value at column 1)"),
    ("[1, 2]\n", "line 1: a line is a JSON object (got list)"),
    ("{good}\n{good}\n{missing}\n", "line 3: requests: Field required"),
    ("{bad score}\n", "line 1: score: Input should be less than or equal to 100 (got 120)"),
    ("{bad passed}\n", "line 1: passed: Input should be a valid boolean (got 'yes')"),
    ('{"lab": "x", "store": "1", "agent": "a", "skipped": "why"}\n', "line 1: min_nodes: Field required"),
])
def test_a_malformed_results_file_names_the_file_the_line_and_the_problem(tmp_path: Path, text: str,
                                                                          problem: str) -> None:
    good = run_line("pos-down-4523", 1, 90.0)
    text = (text.replace("{good}", json.dumps(good))
            .replace("{missing}", json.dumps({k: v for k, v in good.items() if k != "requests"}))
            .replace("{bad score}", json.dumps({**good, "score": 120}))
            .replace("{bad passed}", json.dumps({**good, "passed": "yes"})))
    path = tmp_path / "results.jsonl"
    path.write_text(text)
    with pytest.raises(ResultsFileError) as e:
        agentbench.load(path)
    assert str(e.value).startswith(f"{path}{', ' if 'line' in problem else ': '}{problem}"), str(e.value)
    assert isinstance(e.value, EdgelabError)


def test_a_missing_results_file_is_said_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match=r"nothing\.jsonl: cannot read: No such file or directory"):
        agentbench.load(tmp_path / "nothing.jsonl")
