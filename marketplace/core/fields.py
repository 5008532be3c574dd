"""Marshmallow fields shared by every domain's schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from marketplace.core.clock import local_zone, to_local


class LocalDateTime(ma.fields.DateTime):
    """An instant: dumped in the platform's zone with its offset (2026-11-23T10:00:00+08:00),
    loaded from ISO 8601 with an offset, or without one meaning the platform's zone;
    always UTC inside."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return to_local(value).isoformat()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=local_zone())
        return parsed.astimezone(UTC)


HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM, 24-hour.")


class UserRefSchema(ma.Schema):
    """Who did something: enough to show a name, nothing private."""

    id = ma.fields.Integer()
    display_name = ma.fields.String()


class ReasonSchema(ma.Schema):
    """A staff action's optional reason, kept in the audit trail."""

    reason = ma.fields.String(load_default="", validate=validate.Length(max=500))
