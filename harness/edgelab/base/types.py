"""The callbacks through which the library tells its caller what it is doing (the CLI renders them)."""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]  # one line of progress: "creating kind cluster store-4523 ..."
Report = Callable[[str, str, float], None]  # a build step's (name, state, seconds): the set-up's pipeline
