"""Time: UTC inside, Asia/Shanghai (the configured zone) outside.

Code asks ``now()`` for the current instant instead of calling ``datetime.now`` so that tests
can freeze or move the clock for the whole app (``FrozenClock``), and the demo seed can play
history back through the domain functions (``frozen``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
_KEY = "linli.clock"  # the app's clock in ``app.extensions``; the system clock if absent
# A clock stopped by ``frozen`` for the code of one thread (or task) only.
_STOPPED: ContextVar[Clock | None] = ContextVar("linli_stopped_clock", default=None)


def clock() -> Clock:
    stopped = _STOPPED.get()
    if stopped is not None:
        return stopped
    if has_app_context():
        return current_app.extensions.get(_KEY, _SYSTEM)
    return _SYSTEM


@contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    """Run the block with the clock stopped at ``at`` (the code inside sees ``now() == at``
    unless it moves the yielded clock), then go back to the clock there was, a test's
    frozen clock included. Only the calling thread's code sees it: requests that other
    threads serve meanwhile keep the app's clock."""
    token = _STOPPED.set(stopped := FrozenClock(at))
    try:
        yield stopped
    finally:
        _STOPPED.reset(token)


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


# -- months --------------------------------------------------------------------------------
# Every month Linli reports, settles or pays a bonus for is a calendar month in the
# platform's zone: a payment at 2026-11-30T17:30Z (01:30 on 1 December in Shanghai) is
# December's. These are the only place month boundaries are computed.


def month_days(month: str) -> tuple[date, date]:
    """First and last day of ``month`` ("YYYY-MM"). ValueError if it is not a month."""
    if len(month) != 7 or month[4] != "-":
        raise ValueError(f"not a month: {month!r}")
    first = date(int(month[:4]), int(month[5:]), 1)
    following = _next_month(first)
    return first, following - timedelta(days=1)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of ``month`` in the platform's zone, as aware UTC instants.
    ValueError if it is not a month or its bounds cannot be represented."""
    first, last = month_days(month)
    return day_start(first), day_start(last + timedelta(days=1))


def day_start(day: date) -> datetime:
    """Local midnight at the start of ``day``, as an aware UTC instant."""
    try:
        return datetime.combine(day, datetime.min.time(), tzinfo=local_zone()).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{day} is outside the representable range") from exc


def month_of(instant: datetime) -> str:
    """The local month ("YYYY-MM") an aware instant falls in."""
    return to_local(instant).strftime("%Y-%m")


def previous_month(instant: datetime | None = None) -> str:
    """The local month before the one ``instant`` (default: now) falls in."""
    first = to_local(instant or now()).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def shift_month(month: str, months: int) -> str:
    """``month`` moved by ``months`` (negative: back)."""
    first, _ = month_days(month)
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _next_month(first: date) -> date:
    try:
        return date(first.year + first.month // 12, first.month % 12 + 1, 1)
    except ValueError as exc:
        raise ValueError(f"no month after {first:%Y-%m}") from exc
