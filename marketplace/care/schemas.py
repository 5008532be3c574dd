"""What the care API reads and answers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.care.models import Channel, Outcome
from marketplace.core.fields import Id
from marketplace.core.pagination import PageArgsSchema


class CareSegmentArgsSchema(PageArgsSchema):
    segment = ma.fields.String(validate=validate.OneOf(["A", "B", "C"]))


class CareSegmentRowSchema(ma.Schema):
    shopper_id = ma.fields.Integer()
    display_name = ma.fields.String()
    phone = ma.fields.String(allow_none=True)
    segment = ma.fields.String()
    purchases_90d = ma.fields.Integer()
    last_paid_at = ma.fields.DateTime(allow_none=True)


class CareSegmentPageSchema(ma.Schema):
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    items = ma.fields.List(ma.fields.Nested(CareSegmentRowSchema))
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()


class CareContactCreateSchema(ma.Schema):
    shopper_id = Id(required=True)
    channel = ma.fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    outcome = ma.fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    note = ma.fields.String(load_default="", validate=validate.Length(max=500))


class CareContactSchema(ma.Schema):
    id = ma.fields.Integer()
    shopper_id = ma.fields.Integer()
    agent_id = ma.fields.Integer()
    contacted_at = ma.fields.DateTime()
    channel = ma.fields.String()
    outcome = ma.fields.String()
    note = ma.fields.String()
    won_back_order_id = ma.fields.Integer(allow_none=True)
