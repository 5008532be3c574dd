"""Jinja filters for what pages show: money from integer fen, times in the platform's zone.

Values come either as Python objects or as the API schemas' JSON (ISO 8601 strings with
their offset), since the catalog pages render the same dumped data the API serves."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from marketplace.core.clock import local_today, to_local
from marketplace.web.routing import query_args
from marketplace.web.texts import t


def yuan(fen: int) -> str:
    """3990 → "39.90": integer arithmetic, never a float."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def price(fen: int) -> str:
    """3990 → "¥39.90"."""
    return f"¥{yuan(fen)}"


def _instant(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_local(moment)


def local_datetime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in the platform's zone (Asia/Shanghai), e.g. "2026-11-23 10:00"."""
    if value is None or value == "":
        return ""
    return _instant(value).strftime(fmt)


def when(value: datetime | str | None) -> str:
    """A short local time for shoppers: "11月23日 10:00" (with the year when not this year)."""
    if value is None or value == "":
        return ""
    moment = _instant(value)
    day = f"{moment.month}月{moment.day}日"
    if moment.year != local_today().year:
        day = f"{moment.year}年{day}"
    return f"{day} {moment:%H:%M}"


def local_date(value: date | str | None) -> str:
    """A calendar day (already local), e.g. "2026年11月23日"."""
    if value is None or value == "":
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def distance(metres: float | None) -> str:
    """ "800 米" under a kilometre, else "2.3 公里"."""
    if metres is None:
        return ""
    if metres < 1000:
        return t("units.metres", n=int(round(metres, -1)) or 10)
    return t("units.kilometres", n=f"{metres / 1000:.1f}")


def weekdays(days: list[int]) -> str:
    """ISO weekdays as words; a run of three or more as a range: [1,2,3,4,5] → "周一至周五"."""
    days = sorted(set(days))
    if days == list(range(1, 8)):
        return t("weekdays.every_day")
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(
                t("weekdays.range", first=t(f"weekdays.{run[0]}"), last=t(f"weekdays.{run[-1]}"))
            )
        else:
            parts.extend(t(f"weekdays.{day}") for day in run)
    return t("weekdays.joiner").join(parts)


def opening_hours(hours: list[dict[str, Any]]) -> list[str]:
    """A merchant's business hours as lines: "周一至周五 10:00–22:00"."""
    return [f"{weekdays(h['days'])} {h['open']}–{h['close']}" for h in hours or []]


def voucher_groups(code: str) -> list[str]:
    """A voucher's 12 digits in groups of four, as a person reads them out or types them:
    ["1234", "5678", "9012"]."""
    return [code[i : i + 4] for i in range(0, len(code), 4)]


def voucher_code(code: str) -> str:
    """The code as "1234 5678 9012", the grouping the clerk's form accepts too."""
    return " ".join(voucher_groups(code))


def map_url(location: Any, name: str) -> str | None:
    """A shop's place on the map (Amap's marker page, which opens the map app on a phone):
    a link the user follows, not an asset the page loads. None without a location."""
    if not location:
        return None

    def coordinate(key: str) -> Any:  # the API's JSON or a model's value
        return location[key] if isinstance(location, dict) else getattr(location, key)

    query = urlencode(
        {
            "position": f"{coordinate('lng')},{coordinate('lat')}",
            "name": name,
            "coordinate": "wgs84",
            "callnative": 1,
        },
        safe=",",
    )
    return f"https://uri.amap.com/marker?{query}"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(query_args=query_args, map_url=map_url)
    app.jinja_env.filters.update(
        yuan=yuan,
        price=price,
        local_datetime=local_datetime,
        when=when,
        local_date=local_date,
        distance=distance,
        weekdays=weekdays,
        opening_hours=opening_hours,
        voucher_code=voucher_code,
        voucher_groups=voucher_groups,
    )
