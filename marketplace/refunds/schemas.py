"""Shapes of refund requests. Money is integer fen."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.core.clock import now
from marketplace.core.fields import LocalDateTime
from marketplace.core.pagination import PageArgsSchema
from marketplace.refunds.models import RefundReason, RefundStatus


class RefundCreateSchema(ma.Schema):
    reason = ma.fields.String(
        required=True, validate=validate.OneOf([r.value for r in RefundReason])
    )
    reason_text = ma.fields.String(load_default="", validate=validate.Length(max=500))
    voucher_codes = ma.fields.List(
        ma.fields.String(validate=validate.Length(equal=12)),
        validate=validate.Length(max=20),
        metadata={"description": "omit for every unused voucher of the order"},
    )


class RefundDecisionSchema(ma.Schema):
    note = ma.fields.String(load_default="", validate=validate.Length(max=500))


class OverrideSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=500))
    voucher_codes = ma.fields.List(
        ma.fields.String(validate=validate.Length(equal=12)), validate=validate.Length(max=20)
    )


class RefundSchema(ma.Schema):
    id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    reason = ma.fields.String()
    reason_text = ma.fields.String()
    amount = ma.fields.Integer(metadata={"description": "fen"})
    cs_note = ma.fields.String()
    admin_override = ma.fields.Boolean()
    failure_code = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()
    decided_at = LocalDateTime(allow_none=True)
    refunded_at = LocalDateTime(allow_none=True)


class RefundQueueItemSchema(RefundSchema):
    deal = ma.fields.String(attribute="order.deal.title")
    merchant = ma.fields.String(attribute="order.deal.merchant.name")
    shopper_phone = ma.fields.String(attribute="shopper.phone", allow_none=True)
    waited_seconds = ma.fields.Method("dump_waited")
    provider_attempts = ma.fields.Integer()
    last_error = ma.fields.String(allow_none=True)

    def dump_waited(self, request) -> int:
        return int(((request.decided_at or now()) - request.created_at).total_seconds())


class QueueArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in RefundStatus]))


class ExpiredVoucherSchema(ma.Schema):
    code = ma.fields.String()
    order_id = ma.fields.Integer()
    deal = ma.fields.String(attribute="deal.title")
    valid_until = ma.fields.Date()
    shopper_id = ma.fields.Integer()
