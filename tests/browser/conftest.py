"""Browser tests: pages of ours loaded in a real headless chromium (Debian's), read back from the DOM it built.

`load(url)` runs `chromium --headless --dump-dom` with a virtual-time budget (scripts, fetches and timers run
to completion without real waiting) and parses the serialized DOM into a small tree (`Element`) whose
`find`/`find_all` select by tag, class and attributes, the data attributes the pages give for tests.

Without chromium the tests skip and say how to get it; with EDGELAB_REQUIRE_E2E=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from edgelab.drill import page as drillpage

FIX = "run hack/ensure-chromium.sh (as root it runs `apt-get install -y chromium`)"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        """Descendants (self included) by tag, one class, and attributes (data_name= means data-name=)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter()
                if (tag is None or e.tag == tag)
                and (cls is None or cls in e.attrs.get("class", "").split())
                and all(e.attrs.get(k) == v for k, v in want.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} class={cls} {attrs}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(markup: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def _chromium() -> str:
    """The browser's path; without one the test skips, or fails (in its call, as a failed test) under CI's flag."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = f"chromium is not installed: {FIX}"
        if os.environ.get("EDGELAB_REQUIRE_E2E") == "1":
            pytest.fail(f"EDGELAB_REQUIRE_E2E=1 needs the browser tests: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., Element]:
    """load(url, budget_ms=5000): the DOM chromium built for url once scripts and timers had budget_ms of virtual time."""

    def _load(url: str, budget_ms: int = 5000) -> Element:
        chromium = _chromium()
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                f"--user-data-dir={profile}", "--dump-dom", f"--virtual-time-budget={budget_ms}", url]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "<html" in done.stdout, (
            f"chromium could not load {url} (exit {done.returncode}): {done.stderr[-2000:]}")
        return parse(done.stdout)

    return _load


@contextmanager
def _serving(get_report: Callable[[], dict[str, Any]]) -> Iterator[str]:
    server = drillpage.serve(get_report, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def serving() -> Callable[[Callable[[], dict[str, Any]]], AbstractContextManager[str]]:
    """with serving(get_report) as url: drillpage.serve on 127.0.0.1, a free port, in a thread, at url."""
    return _serving
