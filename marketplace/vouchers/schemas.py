"""Shapes of vouchers."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.core.fields import LocalDateTime
from marketplace.core.pagination import PageArgsSchema
from marketplace.vouchers.models import VoucherStatus


class OrderDealSchema(ma.Schema):
    """The deal a voucher or an order is for, in brief. It lives here, the lower of the two
    domains that show it, so ``orders.schemas`` nests it too (vouchers may not import
    orders). The class name is the OpenAPI component's (``OrderDeal``, by flask-smorest's
    default naming), a public name clients may have generated code from."""

    id = ma.fields.Integer()
    title = ma.fields.String()
    type = ma.fields.String()
    merchant = ma.fields.String(attribute="merchant.name")


class VoucherSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "12 digits; show it (or its QR) at the shop"})
    status = ma.fields.String()
    order_id = ma.fields.Integer()
    deal = ma.fields.Nested(OrderDealSchema)
    valid_from = ma.fields.Date()
    valid_until = ma.fields.Date()
    issued_at = LocalDateTime()
    redeemed_at = LocalDateTime(allow_none=True)


class VoucherArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in VoucherStatus]))
