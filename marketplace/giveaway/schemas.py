"""Shapes of giveaway campaigns and entries."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from marketplace.core.fields import Id, LocalDateTime
from marketplace.core.pagination import PageArgsSchema
from marketplace.giveaway import service
from marketplace.giveaway.models import MAX_MEALS, MIN_MEALS, CampaignStatus, EntryStatus, Payer

MAX_LIKES = 100_000


class GiveawayCampaignCreateSchema(ma.Schema):
    deal_id = Id(required=True)
    meals = ma.fields.Integer(
        required=True, strict=True, validate=validate.Range(min=MIN_MEALS, max=MAX_MEALS)
    )
    payer = ma.fields.String(
        required=True,
        validate=validate.OneOf([p.value for p in Payer]),
        metadata={"description": "merchant: the shop's promotion; platform: at settlement price"},
    )
    window_hours = ma.fields.Integer(
        load_default=service.DEFAULT_WINDOW_HOURS,
        strict=True,
        validate=validate.Range(min=1, max=168),
    )


class GiveawayCampaignSchema(ma.Schema):
    id = ma.fields.Integer()
    deal_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    deal_title = ma.fields.Function(lambda c: c.deal.title)
    merchant_name = ma.fields.Function(lambda c: c.deal.merchant.name)
    meals = ma.fields.Integer()
    payer = ma.fields.String()
    status = ma.fields.String()
    opens_at = LocalDateTime()
    closes_at = LocalDateTime()
    taking_entries = ma.fields.Function(lambda c: service.taking_entries(c))
    seconds_left = ma.fields.Function(lambda c: service.seconds_left(c))
    closed_at = LocalDateTime(allow_none=True)


class GiveawayWinnerSchema(ma.Schema):
    rank = ma.fields.Integer()
    name = ma.fields.Function(lambda e: e.shopper.masked_name)
    verified_likes = ma.fields.Integer()


class GiveawayCampaignDetailSchema(GiveawayCampaignSchema):
    winners = ma.fields.Function(
        lambda c: GiveawayWinnerSchema(many=True).dump(service.winners(c.id)),
        metadata={"description": "once decided; names masked"},
    )


class GiveawayCampaignArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in CampaignStatus]))


class GiveawayEntryUploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "the screenshot (JPEG/PNG/WebP, 5 MiB)"})
    likes = ma.fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_LIKES))


class GiveawayEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    claimed_likes = ma.fields.Integer()
    verified_likes = ma.fields.Integer(allow_none=True)
    status = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    submitted_at = LocalDateTime()
    outcome = ma.fields.String(allow_none=True)
    rank = ma.fields.Integer(allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)


class GiveawayStaffEntrySchema(GiveawayEntrySchema):
    shopper_id = ma.fields.Integer()
    shopper_name = ma.fields.Function(lambda e: e.shopper.display_name)
    reviewed_at = LocalDateTime(allow_none=True)
    reviewed_by_id = ma.fields.Integer(allow_none=True)


class GiveawayEntryArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in EntryStatus]))


class GiveawayReviewSchema(ma.Schema):
    verified = ma.fields.Boolean(required=True)
    likes = ma.fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_LIKES),
        metadata={"description": "when verified"},
    )
    reason = ma.fields.String(
        load_default="", validate=validate.Length(max=200), metadata={"description": "rejected"}
    )


class GiveawayCloseSummarySchema(ma.Schema):
    campaign_id = ma.fields.Integer()
    prizes = ma.fields.Integer()
    messages = ma.fields.Integer()
