"""cluster.poll: the project's one waiting loop (faults, lab resets, cluster set-up use it)."""

from __future__ import annotations

import itertools

import pytest

from edgelab.base.errors import ClusterError
from edgelab.kube import cluster


def test_returns_the_first_true_result() -> None:
    answers = iter([None, False, {}, {"phase": "Active"}, {"phase": "later"}])
    assert cluster.poll("a fault", lambda: next(answers), timeout=5, interval=0) == {"phase": "Active"}


def test_asks_once_even_without_time_left() -> None:
    calls = itertools.count(1)
    assert cluster.poll("x", lambda: next(calls), timeout=0) == 1


def test_a_timeout_names_what_it_waited_for() -> None:
    calls = itertools.count()
    with pytest.raises(ClusterError, match=r"timed out after 0s waiting for a healthy store"):
        cluster.poll("a healthy store", lambda: next(calls) < 0, timeout=0.05, interval=0.01)
    assert next(calls) > 2  # it kept asking until the deadline
