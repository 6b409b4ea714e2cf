"""The clocks a service can be given."""

from __future__ import annotations

import datetime as dt

import pytest

from kit.clock import FixedClock, SystemClock


def test_a_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock.on(dt.date(2030, 12, 31), hour=23)
    assert clock.today() == dt.date(2030, 12, 31)
    assert clock.now() == clock.now()
    clock.advance(dt.timedelta(hours=2))
    assert clock.today() == dt.date(2031, 1, 1)
    assert clock.now().tzinfo is not None


def test_a_fixed_clock_refuses_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(dt.datetime(2030, 1, 1, 12))


def test_the_system_clock_is_aware_and_agrees_with_the_date() -> None:
    clock = SystemClock()
    assert clock.now().tzinfo is dt.UTC
    assert abs(clock.today() - dt.date.today()) <= dt.timedelta(days=1)
