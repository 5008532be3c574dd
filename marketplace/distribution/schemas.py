"""Shapes of the distribution API. Money is integer fen."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from marketplace.core.fields import Day, Id, LocalDateTime, Month
from marketplace.core.pagination import PageArgsSchema
from marketplace.distribution.binding import masked_phone
from marketplace.distribution.models import CommissionKind, CommissionState, ProofStatus


class JoinSchema(ma.Schema):
    invite_code = ma.fields.String(validate=validate.Length(max=12))
    wechat_friends = ma.fields.Integer(
        strict=True,
        validate=validate.Range(0, 100_000),
        metadata={"description": "declared; customer service verifies it"},
    )


class TierSchema(ma.Schema):
    slug = ma.fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9-]{1,29}$"))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=40))
    level1_bonus = ma.fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(0, 100_000),
        metadata={"description": "fen per unit on top of level 1"},
    )
    sort_order = ma.fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 10_000))


class DistributorSchema(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    display_name = ma.fields.String(attribute="user.display_name")
    status = ma.fields.String()
    status_reason = ma.fields.String(allow_none=True)
    recruiter_id = ma.fields.Integer(allow_none=True)
    tier = ma.fields.String(attribute="tier.slug", allow_none=True)
    invite_code = ma.fields.String()
    wechat_friends = ma.fields.Integer(allow_none=True)
    friends_verified_at = LocalDateTime(allow_none=True)
    joined_at = LocalDateTime()


class DistributorUpdateSchema(ma.Schema):
    tier = ma.fields.String(validate=validate.Length(max=30))
    wechat_friends = ma.fields.Integer(
        strict=True,
        validate=validate.Range(0, 100_000),
        metadata={"description": "the count CS verified"},
    )


class MonthAmountSchema(ma.Schema):
    month = ma.fields.String()
    amount = ma.fields.Integer()


class TopDealSchema(ma.Schema):
    deal_id = ma.fields.Integer()
    title = ma.fields.String()
    units = ma.fields.Integer()


class SharesSchema(ma.Schema):
    links = ma.fields.Integer(metadata={"description": "links made today (Shanghai)"})
    visits = ma.fields.Integer(metadata={"description": "clicks on any of my links today"})


class MomentsRunSchema(ma.Schema):
    days = ma.fields.Integer(
        metadata={
            "description": "days in a row with a proof not rejected, ending today or "
            "yesterday (the bonus counts verified days only)"
        }
    )
    today = ma.fields.String(
        allow_none=True,
        validate=validate.OneOf([s.value for s in ProofStatus]),
        metadata={"description": "today's proof's status; null before it is sent"},
    )
    eligible = ma.fields.Boolean(
        metadata={"description": "customer service verified 1000+ WeChat friends"}
    )


class DashboardSchema(ma.Schema):
    distributor = ma.fields.Nested(DistributorSchema)
    bound_customers = ma.fields.Integer()
    orders = ma.fields.Integer(metadata={"description": "paid orders of bound customers"})
    commission = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "fen by state"},
    )
    commission_by_month = ma.fields.List(ma.fields.Nested(MonthAmountSchema))
    top_deals = ma.fields.List(ma.fields.Nested(TopDealSchema))
    shares_today = ma.fields.Nested(SharesSchema)
    moments = ma.fields.Nested(MomentsRunSchema)


class CustomerSchema(ma.Schema):
    shopper_id = ma.fields.Integer(attribute="binding.shopper_id")
    display_name = ma.fields.String(attribute="binding.shopper.display_name")
    phone = ma.fields.Function(
        lambda item: masked_phone(item["binding"].shopper.phone),
        metadata={"description": "masked: 138****5678"},
    )
    channel = ma.fields.String(
        attribute="binding.channel", metadata={"description": "login, order or admin"}
    )
    bound_at = LocalDateTime(attribute="binding.bound_at")
    orders = ma.fields.Integer(metadata={"description": "paid orders attributed to me"})
    amount = ma.fields.Integer(metadata={"description": "fen paid for those orders"})


class CommissionSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    state = ma.fields.String()
    amount = ma.fields.Integer(metadata={"description": "fen; negative for a clawback"})
    order_id = ma.fields.Integer(allow_none=True)
    voucher_id = ma.fields.Integer(allow_none=True)
    month = ma.fields.String(allow_none=True)
    note = ma.fields.String()
    created_at = LocalDateTime()
    earned_at = LocalDateTime(allow_none=True)
    settled_at = LocalDateTime(allow_none=True)
    cancelled_at = LocalDateTime(allow_none=True)


class CommissionArgsSchema(PageArgsSchema):
    state = ma.fields.String(validate=validate.OneOf([s.value for s in CommissionState]))
    kind = ma.fields.String(validate=validate.OneOf([k.value for k in CommissionKind]))


class LinkCreateSchema(ma.Schema):
    deal_id = Id(
        allow_none=True,
        load_default=None,
        metadata={"description": "omit for the home page"},
    )


class LinkSchema(ma.Schema):
    code = ma.fields.String()
    deal_id = ma.fields.Integer(allow_none=True)
    url = ma.fields.Function(lambda link: f"/s/{link.code}")
    qr = ma.fields.Function(lambda link: f"/api/v1/share-links/{link.code}/qr.png")
    visits = ma.fields.Integer()
    created_at = LocalDateTime()


class ProofUploadSchema(ma.Schema):
    day = Day(required=True, metadata={"description": "the day posted (Shanghai)"})
    file = Upload(required=True, metadata={"description": "the screenshot (JPEG/PNG/WebP)"})


class ProofSchema(ma.Schema):
    id = ma.fields.Integer()
    distributor_id = ma.fields.Integer()
    day = ma.fields.Date()
    status = ma.fields.String()
    note = ma.fields.String()
    submitted_at = LocalDateTime()
    reviewed_at = LocalDateTime(allow_none=True)


class ProofArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in ProofStatus]))


class ProofReviewSchema(ma.Schema):
    verified = ma.fields.Boolean(required=True)
    note = ma.fields.String(load_default="", validate=validate.Length(max=200))


class RebindSchema(ma.Schema):
    distributor_id = Id(required=True)
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=500))


class BindingSchema(ma.Schema):
    shopper_id = ma.fields.Integer()
    distributor_id = ma.fields.Integer()
    channel = ma.fields.String()
    bound_at = LocalDateTime()


class SettingsSchema(ma.Schema):
    join_policy = ma.fields.String(validate=validate.OneOf(["open", "application", "invitation"]))
    binding_mode = ma.fields.String(validate=validate.OneOf(["permanent", "time_limited"]))
    rebind_after_days = ma.fields.Integer(strict=True, validate=validate.Range(1, 365))
    self_purchase_commission = ma.fields.Boolean()


class MonthSchema(ma.Schema):
    month = Month(required=True)
