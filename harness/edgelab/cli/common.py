"""What every command group shares: the error wrapper, the progress renderer, the table and JSON renderers,
and the options several groups take."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

from edgelab.base.errors import EdgelabError

_value_metavar = typer.core.TyperOption.display_type_rich


def _flag_metavar(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so its help shows none (typer would show `<bool>`); an option shows its metavar."""
    return None if self.is_flag else _value_metavar(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_metavar  # type: ignore[method-assign]

out = Console()
err = Console(stderr=True)
STATE = {"debug": False}


def fail(exc: Exception) -> typer.Exit:
    """An error as one line on stderr (the traceback with --debug), and exit code 1."""
    if STATE["debug"]:
        raise exc
    err.print(f"[red]error:[/red] {exc}" if isinstance(exc, EdgelabError)
              else f"[red]error:[/red] unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)")
    return typer.Exit(1)


PASSES = (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort)


class Typer(typer.Typer):
    """Every command's errors are rendered once, here: one line, the traceback with --debug."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # type: ignore[override]
        register = super().command(*args, **kwargs)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def run(*a: Any, **kw: Any) -> Any:
                try:
                    return fn(*a, **kw)
                except PASSES:
                    raise
                except Exception as exc:
                    raise fail(exc) from exc

            register(run)
            return fn

        return decorate


class Reporter:
    """Progress on stderr: one line per finished step or message, each ended before anything else is written
    (what was already printed on stdout goes out first, so a progress line never lands on another line)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        sys.stdout.flush()
        err.print(text)
        sys.stderr.flush()

    def step(self, name: str, state: str, seconds: float) -> None:
        if self.quiet or state == "start":
            return
        if name == "host":
            self._line(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] host: {state}")
        elif state == "cached":
            self._line(f"[dim]{time.monotonic() - self.t0:6.0f}s {name}: cached[/dim]")
        else:
            colour = "green" if state == "done" else "red"
            self._line(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] {name}: [{colour}]{state}[/{colour}] in {seconds:.0f}s")

    def say(self, message: str) -> None:
        if not self.quiet:
            self._line(f"[dim]{time.monotonic() - self.t0:6.0f}s[/dim] {message}")


def show_json(value: Any, **dumps: Any) -> None:
    """A command's JSON result: one line on stdout."""
    sys.stderr.flush()
    print(json.dumps(value, **dumps))


def show_table(columns: Sequence[str], rows: Sequence[Sequence[str]], bold_last: bool = False, **table: Any) -> None:
    """Rows under their column names, no box; the last row bold (an overall row) when asked."""
    t = Table(*columns, box=None, **table)
    for i, row in enumerate(rows):
        t.add_row(*row, style="bold" if bold_last and i == len(rows) - 1 else None)
    out.print(t)


OfflineOpt = Annotated[
    bool | None,
    typer.Option("--offline/--online", help="Build every image from packages (--offline: Linux, root) or use stock "
                 "images (--online). Default: decided once by `setup` (offline only when no registry answers) "
                 "and recorded."),
]
MirrorOpt = Annotated[
    str | None,
    typer.Option("--registry-mirror", metavar="HOST[:PORT]",
                 help="Pull every image (node image, add-ons, our base image) through this registry mirror; "
                      "recorded. A loopback mirror is reached by the nodes at the kind network's gateway. "
                      "'' removes it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout, no progress.")]
StoreOpt = Annotated[str, typer.Option("--store", "-s", metavar="ID", help="Store number, e.g. 4523.")]
