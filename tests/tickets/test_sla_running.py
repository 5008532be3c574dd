"""``tickets.sla.running_until``: the SLA clocks the staff console shows run until the
day's closing time while service hours are on, and stand still outside them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from marketplace.tickets.sla import running_until

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_clocks_run_until_23_00_during_service_hours():
    at_ten = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    assert running_until(at_ten, SHANGHAI) == datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
    opening = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 sharp
    assert running_until(opening, SHANGHAI) == datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)


def test_the_clocks_stand_still_outside_service_hours():
    for hour_utc in (15, 16, 0):  # 23:00, 00:00 and 08:00 in Shanghai
        moment = datetime(2026, 11, 23, hour_utc, 0, tzinfo=UTC)
        assert running_until(moment, SHANGHAI) is None, moment
