"""Time: UTC inside, Asia/Shanghai (the configured zone) outside.

Code asks ``now()`` for the current instant instead of calling ``datetime.now`` so that tests
can freeze or move the clock for the whole app (``FrozenClock``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def now(self) -> datetime:
        return self._now


_SYSTEM = Clock()


def clock() -> Clock:
    if has_app_context():
        return current_app.extensions.get("linli.clock", _SYSTEM)
    return _SYSTEM


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return clock().now()


def local_zone() -> ZoneInfo:
    name = current_app.config["LINLI_TIME_ZONE"] if has_app_context() else "Asia/Shanghai"
    return ZoneInfo(name)


def to_local(instant: datetime) -> datetime:
    """An aware UTC instant shown in the platform's zone."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: Linli never compares or shows naive times")
    return instant.astimezone(local_zone())


def local_today() -> date:
    """Today's date in the platform's zone (what a shop or BD calls "today")."""
    return to_local(now()).date()
