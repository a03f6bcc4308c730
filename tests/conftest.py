"""Suite-wide rules.

With EDGELAB_REQUIRE_E2E=1 (CI), a run in which no real-cluster test passed,
or one was skipped, fails: the e2e tests are the point, not an option.

Lanes: every test belongs to one lane, decided by the store it needs (`lane_of`). A lane is one xdist
group (`make test` runs `pytest -n <lanes> --dist loadgroup`), so a store's tests run in order in one
worker while other stores' tests run beside them; lanes are collected longest first, and with as many
workers as lanes each worker takes one lane. A plain `pytest` (no -n) runs the lanes one after another.

Every run ends with the time of each module and each lane (`pytest_terminal_summary`), beside
`--durations=30`; docs/numbers.md keeps the table of the last full run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

_e2e: Counter[str] = Counter()

# Rich sizes the CLI's output to the terminal, and an xdist worker has none: a fixed width keeps the CLI's
# one-line messages on one line in every lane, as on a developer's terminal.
os.environ.setdefault("COLUMNS", "200")

# The order workers take lanes in: the long ones first, the short ones fill in as workers come free.
LANES = ("labs", "labs1", "users", "one", "faults", "class", "access", "light")
# The fixtures that make (or lead to) each lane's store: a store is made once per worker, so a test may
# need the stores of one lane only.
LANE_FIXTURES = {
    "labs": {"lab_store3"},
    "labs1": {"lab_store1"},
    "class": {"class_store"},
    "one": {"store1"},
    "faults": {"store3"},
}


def lane_of(item: pytest.Item) -> str:
    """The lane of a test: the store it needs."""
    module = Path(str(item.fspath)).name
    if module in ("test_users_machines.py", "test_images_bundle.py"):
        return "users"  # stores and set-ups of another user, a registry stand-in, a bundle
    if module == "test_store_access.py":
        return "access"  # a cluster of its own (pytest-kind), its audit log in the test's folder
    names = set(getattr(item, "fixturenames", ()))
    lanes = [lane for lane, fixtures in LANE_FIXTURES.items() if names & fixtures]
    if len(lanes) > 1:
        raise pytest.UsageError(f"{item.nodeid} needs the stores of lanes {lanes}: give it one lane's store")
    return lanes[0] if lanes else "light"  # unit and browser tests: no store


FIRST_IN_LANE = ("test_images_bundle.py",)  # the other lanes wait for it (tests/e2e/prepared.py)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker names each test after its group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = {lane: i for i, lane in enumerate(LANES)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(lane_of(item)))
    # stable: a lane's tests keep their file order, but for the bundle test
    items.sort(key=lambda it: (order[lane_of(it)], Path(str(it.fspath)).name not in FIRST_IN_LANE))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every test in its lane under `--dist loadgroup` (else a store's tests would spread over workers, each
    making the store); the images gate (tests/e2e/prepared.py), named the same in every worker of the run."""
    if getattr(session.config.option, "loadgroup", False):
        ungrouped = [it.nodeid for it in session.items if not it.nodeid.endswith(f"@{lane_of(it)}")]
        if ungrouped:
            raise pytest.UsageError(f"pytest-xdist did not put {len(ungrouped)} test(s) in their lane (e.g. "
                                    f"{ungrouped[0]}): a pytest it does not support? (pyproject.toml pins it)")
    if not any(Path(str(it.fspath)).name in FIRST_IN_LANE for it in session.items):
        return
    workerinput = getattr(session.config, "workerinput", None)
    run = workerinput["testrunuid"] if workerinput else f"{os.getpid()}-{time.time_ns()}"
    gate = Path(tempfile.gettempdir()) / f"edgelab-tests-{run}"
    gate.mkdir(exist_ok=True)
    os.environ["EDGELAB_TEST_IMAGES_GATE"] = str(gate)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    """After the last test of a lane on this worker, that lane's stores go (tests/e2e/prepared.py)."""
    try:
        return (yield)
    finally:
        lane = lane_of(item)
        prepared = sys.modules.get("prepared")  # tests/e2e/prepared.py, once an e2e test has loaded it
        if prepared is not None and (nextitem is None or lane_of(nextitem) != lane):
            prepared.lane_done(LANE_FIXTURES.get(lane, ()))


_module_s: defaultdict[str, float] = defaultdict(float)
_module_tests: Counter[str] = Counter()
_lane_span: dict[str, list[float]] = {}
_lane_of_nodeid: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "e2e" in report.keywords and (report.when == "call" or report.outcome == "skipped"):
        _e2e[report.outcome] += 1
    module = report.nodeid.split("::", 1)[0]
    _module_s[module] += report.duration
    if report.when == "call":
        _module_tests[module] += 1
    lane = report.nodeid.rsplit("@", 1)[1] if "@" in report.nodeid.rsplit("]", 1)[-1] else None
    lane = lane or _lane_of_nodeid.get(report.nodeid)
    if lane and getattr(report, "start", None):
        span = _lane_span.setdefault(lane, [report.start, report.stop])
        span[0], span[1] = min(span[0], report.start), max(span[1], report.stop)


def pytest_itemcollected(item: pytest.Item) -> None:
    _lane_of_nodeid[item.nodeid] = lane_of(item)


_started = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _module_s:
        return
    tr = terminalreporter
    tr.section("time per module (setup + call + teardown, summed over its tests)")
    for module, seconds in sorted(_module_s.items(), key=lambda kv: -kv[1]):
        tr.write_line(f"{seconds / 60:6.1f} min  {_module_tests[module]:4d} tests  {module}")
    if _lane_span:
        tr.section("time per lane (first start to last end; lanes run side by side under -n)")
        for lane, (start, stop) in sorted(_lane_span.items(), key=lambda kv: kv[1][0] - kv[1][1]):
            tr.write_line(f"{(stop - start) / 60:6.1f} min  {lane}")
    tr.write_line(f"wall: {(time.time() - _started) / 60:.1f} min, "
                  f"workers: {os.environ.get('PYTEST_XDIST_WORKER_COUNT') or getattr(tr.config.option, 'numprocesses', None) or 1}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller counts every report
        return
    if os.environ.get("EDGELAB_REQUIRE_E2E") != "1" or exitstatus not in (0, 5):
        return
    if _e2e["passed"] == 0 or _e2e["skipped"]:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"EDGELAB_REQUIRE_E2E: {_e2e['passed']} e2e passed, {_e2e['skipped']} skipped; CI needs them all run",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
