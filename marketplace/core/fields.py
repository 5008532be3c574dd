"""Marshmallow fields shared by every domain's schemas, and the limits every input obeys.

Every id, count, date and instant the API accepts is bounded here, at the edge: a value the
database or the calendar cannot hold is a 422 before any rule runs or any row is written
(``tests/core/test_input_bounds.py`` checks every schema a route loads uses these).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from marketplace.core.clock import local_zone, to_local

# Ids are PostgreSQL ``integer`` (int4) columns; SQLite would take up to 2^63 - 1, but one
# limit for both keeps the API the same whichever database runs it.
MAX_ID = 2**31 - 1
MAX_INT = 2**31 - 1

# The calendar Linli deals in: sale windows, validity, visits, statements. Anything outside
# it is a typo (9999-12-31, year 266) that would overflow the zone conversion or show a
# historical local mean time offset (+08:05:43) instead of +08:00.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
_RANGE_TEXT = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: 1 to MAX_ID (documented so), and an id no row can have is
    a 404 at once. (Werkzeug's own range check would only skip the rule, and a sibling
    rule with another method would turn that into a misleading 405.)"""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


def Id(**kwargs: Any) -> ma.fields.Integer:
    """A reference to a row by id, in a body or a query."""
    kwargs.setdefault("strict", True)
    return ma.fields.Integer(validate=validate.Range(1, MAX_ID), **kwargs)


class LocalDateTime(ma.fields.DateTime):
    """An instant: dumped in the platform's zone with its offset (2026-11-23T10:00:00+08:00),
    loaded from ISO 8601 with an offset, or without one meaning the platform's zone;
    always UTC inside. Loads only instants of the platform's calendar (2000 to 2099)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if not FIRST_DAY <= value.date() <= LAST_DAY:
            # A row written before the bounds existed must not break a page: outside the
            # platform's calendar the zone conversion can overflow (9999-12-31) or give a
            # historical offset (+08:05:43), so such an instant is shown in UTC, still exact.
            return value.astimezone(UTC).isoformat()
        return to_local(value).isoformat()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= parsed.date() <= LAST_DAY:
            raise self.make_error("out_of_range")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=local_zone())
        return parsed.astimezone(UTC)

    default_error_messages = {  # noqa: RUF012 - marshmallow's class attribute
        "out_of_range": f"Use a time {_RANGE_TEXT}.",
    }


class Day(ma.fields.Date):
    """A calendar date (Asia/Shanghai), 2000-01-01 to 2099-12-31."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's class attribute
        "out_of_range": f"Use a date {_RANGE_TEXT}.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not FIRST_DAY <= parsed <= LAST_DAY:
            raise self.make_error("out_of_range")
        return parsed


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Month(ma.fields.String):
    """A calendar month, ``YYYY-MM`` (an Asia/Shanghai month), 2000-01 to 2099-12: the one
    type of every month and settlement period the API accepts. Loads as the same text."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's class attribute
        "invalid_month": "Use YYYY-MM, e.g. 2026-11.",
        "out_of_range": f"Use a month between {FIRST_DAY:%Y-%m} and {LAST_DAY:%Y-%m}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": _MONTH.pattern, "example": "2026-11", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        match = _MONTH.match(text)
        if match is None:
            raise self.make_error("invalid_month")
        if not FIRST_DAY.year <= int(match.group(1)) <= LAST_DAY.year:
            raise self.make_error("out_of_range")
        return text


HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM, 24-hour.")


class UserRefSchema(ma.Schema):
    """Who did something: enough to show a name, nothing private."""

    id = ma.fields.Integer()
    display_name = ma.fields.String()


class ReasonSchema(ma.Schema):
    """A staff action's optional reason, kept in the audit trail."""

    reason = ma.fields.String(load_default="", validate=validate.Length(max=500))
