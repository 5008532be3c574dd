"""Service-hours arithmetic (09:00–23:00 Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.tickets.sla import add_service_time, service_time_between

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SH)


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        (at(23, 10, 0), 1, at(23, 10, 1)),  # inside hours
        (at(23, 22, 59, 30), 1, at(24, 9, 0, 30)),  # across the 23:00–09:00 gap
        (at(23, 22, 58), 5, at(24, 9, 3)),
        (at(24, 2, 0), 1, at(24, 9, 1)),  # opened at night: the clock starts at 09:00
        (at(23, 23, 0), 5, at(24, 9, 5)),  # exactly at closing
        (at(24, 9, 0), 1, at(24, 9, 1)),  # exactly at opening
        (at(23, 8, 59, 59), 1, at(23, 9, 1)),
        (at(23, 20, 0), 15 * 60, at(24, 21, 0)),  # 3 h tonight + 12 h tomorrow
        (at(23, 20, 0), 17 * 60, at(24, 23, 0)),  # 3 h + a whole 14 h service day
    ],
)
def test_add_service_time(start, minutes, due):
    assert add_service_time(start, timedelta(minutes=minutes), SH) == due


def test_utc_in_shanghai_out():
    from datetime import UTC

    start = datetime(2026, 11, 23, 14, 59, 30, tzinfo=UTC)  # 22:59:30 in Shanghai

    assert add_service_time(start, timedelta(minutes=1), SH) == at(24, 9, 0, 30)


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (at(23, 10, 0), at(23, 10, 5), 300),
        (at(23, 22, 59, 30), at(24, 9, 0, 30), 60),
        (at(23, 23, 30), at(24, 8, 0), 0),
        (at(23, 22, 0), at(25, 10, 0), 3600 + 14 * 3600 + 3600),
        (at(24, 9, 1), at(24, 9, 0), -60),
    ],
)
def test_service_time_between(start, end, seconds):
    assert service_time_between(start, end, SH) == timedelta(seconds=seconds)
