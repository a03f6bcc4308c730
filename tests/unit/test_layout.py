"""Test modules need unique basenames: tests/ has no packages, so pytest imports them by name."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []


def test_every_real_cluster_test_module_is_marked_e2e() -> None:
    """`make test-fast` (-m "not e2e") must not bring up a store: every test module of tests/e2e says e2e."""
    unmarked = [p.name for p in sorted((TESTS / "e2e").glob("test_*.py")) if "pytest.mark.e2e" not in p.read_text()]
    assert unmarked == []
