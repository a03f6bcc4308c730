"""The small, flat set of errors edgelab raises.

Every message says what went wrong and what to do next; the CLI prints it
without a traceback (unless --debug).
"""

from __future__ import annotations

from pathlib import Path


class EdgelabError(Exception):
    """Base class: something the user can act on."""


class HostError(EdgelabError):
    """The machine is not ready (Docker missing or stopped, too little memory...)."""


class BuildError(EdgelabError):
    """A build step (offline build, or our images online) failed."""

    def __init__(self, step: str, log: Path, detail: str = "") -> None:
        self.step = step
        self.log = log
        tail = f"\n{detail}" if detail else ""
        super().__init__(
            f"build step {step!r} failed; its full log is {log}{tail}\n"
            "Fix the cause and run the same command again: finished steps are cached."
        )


class ClusterError(EdgelabError):
    """Creating, reaching or deleting a kind cluster failed."""


class ToolError(EdgelabError):
    """kind or kubectl of the pinned version is missing and could not be downloaded."""
