"""Shapes of orders and payments. Money is integer fen."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from marshmallow import validate

from marketplace.core.fields import Id, LocalDateTime
from marketplace.vouchers.schemas import OrderDealSchema

FEN = {"description": "integer fen"}


class OrderCreateSchema(ma.Schema):
    deal_id = Id(required=True)
    quantity = ma.fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 20))
    ref = ma.fields.String(
        validate=validate.Length(max=16),
        metadata={"description": "share-link code the shopper arrived with (else the cookie)"},
    )


class OrderSchema(ma.Schema):
    id = ma.fields.Integer()
    deal = ma.fields.Nested(OrderDealSchema)
    quantity = ma.fields.Integer()
    unit_price = ma.fields.Integer(metadata=FEN)
    amount = ma.fields.Integer(metadata=FEN)
    currency = ma.fields.String()
    status = ma.fields.String()
    expires_at = LocalDateTime(metadata={"description": "pay before this or the order expires"})
    paid_at = LocalDateTime(allow_none=True)
    closed_reason = ma.fields.String(allow_none=True)
    created_at = LocalDateTime()
    cs_phone = ma.fields.Function(
        lambda _: current_app.config["LINLI_CS_PHONE"],
        metadata={"description": "customer service (same number on WeChat)"},
    )


class PaymentSchema(ma.Schema):
    provider = ma.fields.String()
    payment_intent = ma.fields.String(allow_none=True)
    client_secret = ma.fields.String(
        allow_none=True, metadata={"description": "for Stripe.js to confirm the payment"}
    )
    publishable_key = ma.fields.String()


class CheckoutSchema(ma.Schema):
    order = ma.fields.Nested(OrderSchema)
    payment = ma.fields.Nested(PaymentSchema)
