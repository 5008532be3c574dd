"""Months are Asia/Shanghai months, defined once in marketplace.core.clock."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from marketplace.core import clock

DEC_1ST_0130_SHANGHAI = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


def test_a_moment_after_midnight_on_the_1st_in_shanghai_belongs_to_the_new_month():
    start, end = clock.month_bounds("2026-12")

    assert clock.month_of(DEC_1ST_0130_SHANGHAI) == "2026-12"
    assert start <= DEC_1ST_0130_SHANGHAI < end
    assert not (clock.month_bounds("2026-11")[1] > DEC_1ST_0130_SHANGHAI)
    assert clock.previous_month(DEC_1ST_0130_SHANGHAI) == "2026-11"


def test_month_bounds_are_local_midnights_in_utc():
    assert clock.month_bounds("2026-12") == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert clock.month_bounds("2024-02")[1] == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)
    assert clock.month_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert clock.month_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))


def test_months_shift_across_years():
    assert clock.shift_month("2026-12", 1) == "2027-01"
    assert clock.shift_month("2026-01", -1) == "2025-12"
    assert clock.shift_month("2026-12", -11) == "2026-01"
    assert clock.previous_month(datetime(2027, 1, 1, 1, tzinfo=UTC)) == "2026-12"


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "0000-01", "9999-12", "0001-01", "abcd"])
def test_a_month_without_bounds_is_a_value_error_not_a_crash(month):
    with pytest.raises(ValueError):
        clock.month_bounds(month)


def test_frozen_stops_the_apps_clock_for_a_block_and_gives_the_old_one_back(app):
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    with app.app_context():
        before = clock.clock()
        with clock.frozen(moment) as stopped:
            assert clock.now() == moment
            stopped.advance(minutes=5)
            assert clock.now() == datetime(2026, 1, 2, 3, 9, tzinfo=UTC)
        assert clock.clock() is before


@pytest.mark.usefixtures("clock")  # a test's frozen clock
def test_frozen_inside_a_frozen_test_clock_restores_it(app):
    with app.app_context():
        outer = clock.now()
        with clock.frozen(datetime(2020, 5, 1, tzinfo=UTC)):
            assert clock.now() == datetime(2020, 5, 1, tzinfo=UTC)
        assert clock.now() == outer == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_frozen_is_seen_only_by_the_thread_that_stopped_the_clock(app):
    """A test builder stops the clock while the live server's threads answer webhooks: those
    requests must keep the app's clock."""
    seen = {}

    def other_thread() -> None:
        with app.app_context():
            seen["other"] = clock.now()

    with app.app_context(), clock.frozen(datetime(2020, 5, 1, tzinfo=UTC)):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        seen["own"] = clock.now()

    assert seen["own"] == datetime(2020, 5, 1, tzinfo=UTC)
    assert seen["other"].year >= 2026
