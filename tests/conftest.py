"""Suite-wide rules.

With EDGELAB_REQUIRE_E2E=1 (CI), a run in which no real-cluster test passed,
or one was skipped, fails: the e2e tests are the point, not an option.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

_e2e: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "e2e" in report.keywords and (report.when == "call" or report.outcome == "skipped"):
        _e2e[report.outcome] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
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
