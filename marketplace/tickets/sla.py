"""Service-hours arithmetic: customer service works 09:00–23:00 Asia/Shanghai, every day, and
SLA clocks only run while it does."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

OPENS, CLOSES = time(9, 0), time(23, 0)


def _window(day_start: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    day = day_start.date()
    return (datetime.combine(day, OPENS, tzinfo=zone), datetime.combine(day, CLOSES, tzinfo=zone))


def add_service_time(start: datetime, duration: timedelta, zone: ZoneInfo) -> datetime:
    """The instant ``duration`` of service time after ``start``: a minute asked for at 22:59:30
    is due at 09:00:30 the next morning; at 02:00 it is due at 09:01."""
    if start.tzinfo is None:
        raise ValueError("naive datetime")
    moment = start.astimezone(zone)
    left = duration
    while True:
        opens, closes = _window(moment, zone)
        if moment < opens:
            moment = opens
        if moment >= closes:
            moment = datetime.combine(moment.date() + timedelta(days=1), OPENS, tzinfo=zone)
            continue
        available = closes - moment
        if left <= available:
            return moment + left
        left -= available
        moment = datetime.combine(moment.date() + timedelta(days=1), OPENS, tzinfo=zone)


def service_time_between(start: datetime, end: datetime, zone: ZoneInfo) -> timedelta:
    """Service time elapsed from ``start`` to ``end`` (negative if ``end`` is earlier)."""
    if end < start:
        return -service_time_between(end, start, zone)
    total = timedelta(0)
    moment = start.astimezone(zone)
    end = end.astimezone(zone)
    while moment < end:
        opens, closes = _window(moment, zone)
        segment_start = max(moment, opens)
        segment_end = min(end, closes)
        if segment_end > segment_start:
            total += segment_end - segment_start
        moment = datetime.combine(moment.date() + timedelta(days=1), time(0), tzinfo=zone)
    return total


def running_until(moment: datetime, zone: ZoneInfo) -> datetime | None:
    """Until when the SLA clocks keep running from ``moment``: today's closing time while
    service hours are on, None while they are off (a clock shown on a page stands still
    then, and starts again at 09:00)."""
    opens, closes = _window(moment.astimezone(zone), zone)
    return closes if opens <= moment < closes else None
