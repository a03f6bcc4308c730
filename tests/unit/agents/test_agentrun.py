"""The pure parts of a graded run: the container's command line and where findings come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgelab.agents import run as agentrun
from edgelab.labs import attempts, grading
from edgelab.labs import catalogue as labs

GOOD = "namespace: payment\nworkload: payment-processor\npod_state: NoPods\nroot_cause: dependency-down\nevidence: []\n"


def command(tmp_path: Path, mount: Path | None = None) -> list[str]:
    return agentrun.docker_command("edgelab-agent-x", "img:1", "python3 a.py", mount or tmp_path, tmp_path / "run",
                                   tmp_path / "out", {"KUBECONFIG": agentrun.KUBECONFIG_IN, "HOME": "/tmp"},
                                   ("EDGELAB_TICKET", "MY_API_KEY"))


def test_the_container_gets_its_folders_read_only_and_no_privilege(tmp_path: Path) -> None:
    cmd = command(tmp_path)
    joined = " ".join(cmd)
    assert f"{tmp_path}:/agent:ro" in cmd and f"{tmp_path / 'run'}:/run/edgelab:ro" in cmd
    for flag in ("--read-only", "--rm"):
        assert flag in cmd
    assert cmd[cmd.index("--cap-drop") + 1] == "ALL"
    assert cmd[cmd.index("--security-opt") + 1] == "no-new-privileges"
    assert cmd[cmd.index("--network") + 1] == "kind"
    assert "docker.sock" not in joined and "/.local/state" not in joined
    assert cmd[-4:] == ["img:1", "sh", "-c", "python3 a.py"]


def test_passed_variables_go_by_name_so_their_values_are_never_on_a_command_line(tmp_path: Path) -> None:
    cmd = command(tmp_path)
    es = [cmd[i + 1] for i, c in enumerate(cmd) if c == "-e"]
    assert "MY_API_KEY" in es and "EDGELAB_TICKET" in es
    assert f"KUBECONFIG={agentrun.KUBECONFIG_IN}" in es


def test_an_edgelab_checkouts_answers_are_hidden(tmp_path: Path) -> None:
    (tmp_path / "labs").mkdir()
    (tmp_path / "drills").mkdir()
    cmd = command(tmp_path)
    mounts = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--mount"]
    assert any("destination=/agent/labs" in m and "type=tmpfs" in m for m in mounts), mounts
    assert any("destination=/agent/drills" in m for m in mounts), mounts
    plain = command(tmp_path / "elsewhere")
    assert "--mount" not in plain


def test_the_user_is_never_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agentrun.os, "getuid", lambda: 0)
    assert agentrun._user() == agentrun.NOBODY
    monkeypatch.setattr(agentrun.os, "getuid", lambda: 1000)
    monkeypatch.setattr(agentrun.os, "getgid", lambda: 1000)
    assert agentrun._user() == "1000:1000"


def test_findings_come_from_the_file_first_then_stdout(tmp_path: Path) -> None:
    answer, source, problem = agentrun.read_findings(tmp_path, GOOD)
    assert (source, problem, answer.workload) == ("stdout", None, "payment-processor")
    (tmp_path / "findings.yaml").write_text(GOOD.replace("payment-processor", "order-service"))
    answer, source, _ = agentrun.read_findings(tmp_path, GOOD)
    assert (source, answer.workload) == ("file", "order-service")


def test_malformed_or_missing_findings_grade_as_empty_with_the_reason(tmp_path: Path) -> None:
    answer, source, problem = agentrun.read_findings(tmp_path, "checking pods...\nall done\n")
    assert source == "none" and answer.root_cause == "" and problem and "stdout" in problem
    (tmp_path / "findings.yaml").write_text("root_cause: gremlins\n")
    answer, source, problem = agentrun.read_findings(tmp_path, GOOD)  # a file that exists is the answer
    assert source == "none" and problem and problem.startswith("file:") and "gremlins" in problem
    answer, source, problem = agentrun.read_findings(tmp_path / "nothing", "")
    assert source == "none" and "neither" in (problem or "")


def test_empty_findings_are_graded_as_all_missed() -> None:
    lab = labs.get("pos-down-4523")
    attempt = attempts.draw(lab, targets=["payment/payment-processor"])
    empty, _, _ = agentrun.read_findings(Path("/nonexistent"), "")
    result = grading.grade(lab, attempt, [], empty)
    findings = [line for line in result.lines if line.part == "findings"]
    assert findings and all(line.earned == 0 for line in findings), result.explain()
    assert result.score == 0 and not result.passed
