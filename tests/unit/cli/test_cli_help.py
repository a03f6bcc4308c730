"""Every command's --help reads right: a flag shows no value to give, an option names what to give, and the help
ends with one real example."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from edgelab.cli import app


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            yield from _commands(command.get_command(None, name), [*path, name])


COMMANDS = list(_commands(typer.main.get_command(app), []))


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "setup", "up", "lab submit", "drill serve", "bench compare", "images load"} <= names
    assert len(names) >= 45


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "edgelab")
def test_help_shows_no_bool_and_ends_with_an_example(path: list[str]) -> None:
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "<bool>" not in shown.output
    command = dict((" ".join(p), c) for p, c in COMMANDS)[" ".join(path)]
    last = [line.strip() for line in (command.help or "").splitlines() if line.strip()][-1]
    assert last.startswith(("Example: ", "Examples: ")) and "edgelab " in last
    assert last in " ".join(shown.output.split())


def test_options_name_what_to_give() -> None:
    shown = CliRunner().invoke(app, ["lab", "submit", "--help"], env={"COLUMNS": "200"})
    said = " ".join(shown.output.split())
    assert "--store -s ID" in said and "--findings FILE" in said and "--learner NAME" in said
