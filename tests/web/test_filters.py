"""Money from fen and times in Asia/Shanghai, as the pages show them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from marketplace.web import filters


def test_prices_from_integer_fen():
    assert filters.price(3990) == "¥39.90"
    assert filters.price(5) == "¥0.05"
    assert filters.price(100000) == "¥1000.00"
    assert filters.yuan(-120) == "-1.20"


def test_times_are_shown_in_shanghai():
    instant = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)

    assert filters.local_datetime(instant) == "2026-11-23 10:00"
    assert filters.local_datetime("2026-11-23T10:00:00+08:00") == "2026-11-23 10:00"
    assert filters.local_datetime("2026-11-23T16:30:00Z") == "2026-11-24 00:30"
    assert filters.when(datetime(2031, 1, 2, 4, 5, tzinfo=UTC)) == "2031年1月2日 12:05"
    assert filters.local_date(date(2026, 12, 1)) == "2026年12月1日"
    assert filters.local_date("2026-12-01") == "2026年12月1日"
    assert filters.local_datetime(None) == ""


def test_distances_and_weekdays_in_words():
    assert filters.distance(149) == "150 米"
    assert filters.distance(2345) == "2.3 公里"
    assert filters.weekdays([1, 2, 3, 4, 5]) == "周一至周五"
    assert filters.weekdays([6, 7]) == "周六、周日"
    assert filters.weekdays(list(range(1, 8))) == "每天"
    assert filters.opening_hours([{"days": [1, 3], "open": "10:00", "close": "22:00"}]) == [
        "周一、周三 10:00–22:00"
    ]
