"""`edgelab lab run`'s refusals: each is one line saying what to do, before any store is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgelab.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # no store is up here
    monkeypatch.delenv("EDGELAB_NOT_SET_ANYWHERE", raising=False)
    return tmp_path


@pytest.mark.parametrize(("args", "said"), [
    (["no-such-lab", "--agent", "true"], "no-such-lab"),
    (["pos-down-4523", "--agent", "true"], "store 9999 is not up (run `edgelab up --store 9999` first)"),
    (["pos-down-4523", "--agent", "  "], "--agent is empty"),
    (["pos-down-4523", "--agent", "true", "--time-limit", "5x"], "must look like 90s, 15m or 2h"),
    (["pos-down-4523", "--agent", "true", "--env", "EDGELAB_NOT_SET_ANYWHERE"],
     "--env EDGELAB_NOT_SET_ANYWHERE: not set here"),
    (["pos-down-4523", "--agent", "true", "--mount", "/nonexistent/folder"], "is not a folder"),
])
def test_a_run_that_cannot_start_says_why_in_one_line(args: list[str], said: str) -> None:
    got = runner.invoke(app, ["lab", "run", *args, "--store", "9999"])
    assert got.exit_code == 1, got.output
    assert said in " ".join(got.output.split()), got.output
    assert "Traceback" not in got.output


def test_lab_run_help_teaches_the_interface() -> None:
    got = runner.invoke(app, ["lab", "run", "--help"], env={"COLUMNS": "200"})
    text = " ".join(got.output.split())
    for needed in ("$EDGELAB_TICKET", "$KUBECONFIG", "$EDGELAB_FINDINGS", "--time-limit", "Example: edgelab lab run"):
        assert needed in text, needed
