"""The `edgelab` command's parsing, through Typer's CliRunner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edgelab import cli

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    assert "setup" in result.output
    assert "cluster" in result.output


def test_cluster_up_help_mentions_nodes() -> None:
    result = runner.invoke(cli.app, ["cluster", "up", "--help"])
    assert result.exit_code == 0
    assert "--nodes" in result.output


@pytest.mark.parametrize("nodes", ["4", "0"])
def test_cluster_up_rejects_node_count_at_parse_time(monkeypatch: pytest.MonkeyPatch, nodes: str) -> None:
    called: list[object] = []

    def tripwire(*args: object, **kwargs: object) -> None:
        called.append((args, kwargs))
        raise AssertionError("build() ran although --nodes was out of range")

    monkeypatch.setattr(cli, "build", tripwire)
    result = runner.invoke(cli.app, ["cluster", "up", "--nodes", nodes])
    assert result.exit_code == 2, result.output
    assert "--nodes" in result.output
    assert called == []
