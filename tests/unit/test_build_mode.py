"""`EDGELAB_OFFLINE` decides stock-or-offline without asking the network."""

from __future__ import annotations

import urllib.request

import pytest

from edgelab.offline import pulls_possible


@pytest.mark.parametrize(("value", "expected"), [("0", True), ("1", False)])
def test_forced_mode_skips_the_network(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("pulls_possible went to the network although EDGELAB_OFFLINE is set")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("EDGELAB_OFFLINE", value)
    assert pulls_possible() is expected
