"""Shapes of settlement's input: a period to settle or read, a payout (the API's bodies and
query, and the staff console's forms)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.core.fields import Day, Month


class PeriodSchema(ma.Schema):
    period = Month(required=True)


class PayoutSchema(ma.Schema):
    reference = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    paid_on = Day(required=True)
