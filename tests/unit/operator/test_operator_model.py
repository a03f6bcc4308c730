"""The operator's model: durations and how long a revert may take (pure)."""

from __future__ import annotations

import pytest

from edgelab_operator import model as m


def test_durations_and_the_time_a_revert_may_take() -> None:
    import datetime as dt

    from edgelab_operator import catalogue as cat

    assert m.parse_duration("90s") == dt.timedelta(seconds=90) and m.parse_duration("2h") == dt.timedelta(hours=2)
    for bad in ("", "90", "1d", "-5s", "5 m"):
        with pytest.raises(cat.InvalidFault, match="must look like 90s, 15m or 2h"):
            m.parse_duration(bad)
    node = cat.load().get("node-failure")
    assert m.recover_within({}, node) == dt.timedelta(seconds=150)
    assert m.recover_within({"recoverWithin": "15s"}, node) == dt.timedelta(seconds=15)
    assert m.recover_within({"recoverWithin": "15s"}, None) == dt.timedelta(seconds=15)  # an unknown type too
    assert m.recover_within({}, None) == dt.timedelta(seconds=cat.RECOVER_SECONDS)
