"""Request and response shapes of deals, publishing and the catalog. Money is integer fen."""

from __future__ import annotations

import re

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from marketplace.core.fields import HHMM, MAX_INT, Day, Id, LocalDateTime, UserRefSchema
from marketplace.core.pagination import PageArgsSchema
from marketplace.deals.models import DealStatus, DealType, ExpiryPolicy

FEN = {"description": "integer fen (3990 = ¥39.90)"}
MAX_FEN = 10_000_000  # ¥100,000: nothing on a local deal platform costs more per unit


def fen(required: bool = False, description: str = "") -> ma.fields.Integer:
    text = FEN["description"] + (f"; {description}" if description else "")
    return ma.fields.Integer(
        required=required,
        strict=True,
        validate=validate.Range(0, MAX_FEN),
        metadata={"description": text},
    )


class UsageHoursSchema(ma.Schema):
    open = ma.fields.String(required=True, validate=HHMM)
    close = ma.fields.String(required=True, validate=HHMM)


class DealFieldsSchema(ma.Schema):
    """Fields BD and editors set; required ones are marked on the create schema."""

    title = ma.fields.String(validate=validate.Length(min=1, max=60))
    description = ma.fields.String(validate=validate.Length(max=4000))
    images = ma.fields.List(
        ma.fields.Url(
            schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=500)
        ),
        validate=validate.Length(max=9),
    )
    party_size = ma.fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 50))
    list_price = fen()
    sale_price = fen()
    settlement_price = fen()
    subsidy = fen(description="platform money per unit that may fund commission")
    commission_l1 = fen(description="per unit, to the bound distributor")
    commission_l2 = fen(description="per unit, to that distributor's recruiter")
    stock = ma.fields.Integer(strict=True, validate=validate.Range(1, 1_000_000))
    per_shopper_limit = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(1, 100),
        metadata={"description": "units per shopper; flash deals default to 1"},
    )
    sale_starts_at = LocalDateTime(allow_none=True)
    sale_ends_at = LocalDateTime(allow_none=True)
    validity_days = ma.fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 366))
    valid_from = Day(allow_none=True)
    valid_until = Day(allow_none=True)
    reservation_required = ma.fields.Boolean()
    unavailable_weekdays = ma.fields.List(
        ma.fields.Integer(strict=True, validate=validate.Range(1, 7)),
        validate=validate.Length(max=7),
    )
    unavailable_dates = ma.fields.List(Day(), validate=validate.Length(max=60))
    usage_hours = ma.fields.Nested(UsageHoursSchema, allow_none=True)
    usage_notes = ma.fields.String(validate=validate.Length(max=1000))
    street_promotion = ma.fields.Boolean(
        metadata={"description": "promoted by street teams within 2 km; needs ≥ ¥9.90 margin"}
    )
    # [care] unused vouchers at expiry: customer service calls, or refunded the day after
    expiry_policy = ma.fields.String(validate=validate.OneOf([p.value for p in ExpiryPolicy]))

    @ma.post_load
    def dates_as_text(self, data: dict, **kwargs: object) -> dict:
        if "unavailable_dates" in data:
            data["unavailable_dates"] = [d.isoformat() for d in data["unavailable_dates"]]
        return data


class DealCreateSchema(DealFieldsSchema):
    merchant_id = Id(required=True)
    type = ma.fields.String(required=True, validate=validate.OneOf([t.value for t in DealType]))
    title = ma.fields.String(required=True, validate=validate.Length(min=1, max=60))
    list_price = fen(required=True)
    sale_price = fen(required=True)
    settlement_price = fen(required=True)
    stock = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, 1_000_000))


class DealUpdateSchema(DealFieldsSchema):
    version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_INT),
        metadata={"description": "the version you read"},
    )


class MerchantBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    category = ma.fields.String(attribute="category.slug")
    category_name = ma.fields.String(attribute="category.name_zh")
    grade = ma.fields.Integer(attribute="current_grade", allow_none=True)
    address = ma.fields.String()
    location = ma.fields.Dict(allow_none=True)
    phone = ma.fields.String()


class DealRulesSchema(ma.Schema):
    reservation_required = ma.fields.Boolean()
    unavailable_weekdays = ma.fields.List(ma.fields.Integer())
    unavailable_dates = ma.fields.List(ma.fields.String())
    usage_hours = ma.fields.Nested(UsageHoursSchema, allow_none=True)
    usage_notes = ma.fields.String()
    validity_days = ma.fields.Integer(allow_none=True)
    valid_from = ma.fields.Date(allow_none=True)
    valid_until = ma.fields.Date(allow_none=True)


class DealStaffSchema(ma.Schema):
    """Everything about a deal, for BD and editors."""

    id = ma.fields.Integer()
    merchant = ma.fields.Nested(MerchantBriefSchema)
    type = ma.fields.String()
    title = ma.fields.String()
    description = ma.fields.String()
    images = ma.fields.List(ma.fields.String())
    party_size = ma.fields.Integer(allow_none=True)
    list_price = ma.fields.Integer(metadata=FEN)
    sale_price = ma.fields.Integer(metadata=FEN)
    settlement_price = ma.fields.Integer(metadata=FEN)
    subsidy = ma.fields.Integer(metadata=FEN)
    commission_l1 = ma.fields.Integer(metadata=FEN)
    commission_l2 = ma.fields.Integer(metadata=FEN)
    margin = ma.fields.Integer(metadata={"description": "sale − settlement, fen per unit"})
    stock = ma.fields.Integer()
    stock_left = ma.fields.Integer()
    sold_count = ma.fields.Integer()
    per_shopper_limit = ma.fields.Integer(allow_none=True)
    sale_starts_at = LocalDateTime(allow_none=True)
    sale_ends_at = LocalDateTime(allow_none=True)
    validity_days = ma.fields.Integer(allow_none=True)
    valid_from = ma.fields.Date(allow_none=True)
    valid_until = ma.fields.Date(allow_none=True)
    reservation_required = ma.fields.Boolean()
    unavailable_weekdays = ma.fields.List(ma.fields.Integer())
    unavailable_dates = ma.fields.List(ma.fields.String())
    usage_hours = ma.fields.Nested(UsageHoursSchema, allow_none=True)
    usage_notes = ma.fields.String()
    street_promotion = ma.fields.Boolean()
    expiry_policy = ma.fields.String()  # [care]
    status = ma.fields.String()
    publish_at = LocalDateTime(allow_none=True)
    published_at = LocalDateTime(allow_none=True)
    version = ma.fields.Integer()
    created_at = LocalDateTime()
    updated_at = LocalDateTime()


class ManageArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in DealStatus]))
    merchant_id = Id(strict=False)
    type = ma.fields.String(validate=validate.OneOf([t.value for t in DealType]))


class PriceChangeSchema(ma.Schema):
    field = ma.fields.String()
    old_value = ma.fields.Integer(metadata=FEN)
    new_value = ma.fields.Integer(metadata=FEN)
    changed_by = ma.fields.Nested(UserRefSchema, allow_none=True)
    changed_at = LocalDateTime()


class ScheduleSchema(ma.Schema):
    date = Day(required=True, metadata={"description": "Asia/Shanghai date"})
    slot = ma.fields.String(required=True, validate=validate.OneOf(["10:00", "15:00"]))


class SlotArgsSchema(ma.Schema):
    start = Day(metadata={"description": "first day (default today, Asia/Shanghai)"})
    days = ma.fields.Integer(load_default=14, validate=validate.Range(1, 60))


class SlotDealSchema(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    type = ma.fields.String()
    status = ma.fields.String()
    merchant = ma.fields.String(attribute="merchant.name")


class SlotSchema(ma.Schema):
    date = ma.fields.Date(attribute="day")
    slot = ma.fields.Function(lambda s: s.at.strftime("%H:%M"))
    starts_at = LocalDateTime()
    deal = ma.fields.Nested(SlotDealSchema, allow_none=True)
    empty = ma.fields.Function(lambda s: s.deal is None)


class SlotCalendarSchema(ma.Schema):
    slots = ma.fields.List(ma.fields.Nested(SlotSchema))
    empty_slots = ma.fields.Integer()
    days_without_a_deal = ma.fields.List(
        ma.fields.Date(), metadata={"description": "days with both slots empty: never allowed"}
    )


class PopupBookingCreateSchema(ma.Schema):
    deal_id = Id(required=True)
    date = Day(required=True, metadata={"description": "Asia/Shanghai date"})
    note = ma.fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "what was promised to the merchant"},
    )


class PopupBookingSchema(ma.Schema):
    id = ma.fields.Integer()
    date = ma.fields.Date(attribute="day")
    deal = ma.fields.Nested(SlotDealSchema)
    note = ma.fields.String()
    booked_by = ma.fields.Nested(UserRefSchema, allow_none=True)
    booked_at = LocalDateTime()


class ImageUploadSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or WebP, at most 5 MiB"})


# -- catalog (public) ----------------------------------------------------------------------


NEAR = r"^-?[0-9]{1,3}(\.[0-9]{1,10})?,-?[0-9]{1,3}(\.[0-9]{1,10})?$"


def _near(value: str) -> tuple[float, float]:
    if not re.match(NEAR, value):
        raise ma.ValidationError("Use near=lat,lng, e.g. near=27.3383,103.7172")
    lat, lng = (float(part) for part in value.split(","))
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ma.ValidationError("Latitude is -90..90 and longitude -180..180.")
    return lat, lng


class NearField(ma.fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        return _near(str(value))


class CatalogArgsSchema(ma.Schema):
    category = ma.fields.String(validate=validate.Length(max=40))
    type = ma.fields.String(validate=validate.OneOf([t.value for t in DealType]))
    q = ma.fields.String(validate=validate.Length(min=1, max=60))
    near = NearField(metadata={"description": "lat,lng", "type": "string", "pattern": NEAR})
    radius = ma.fields.Integer(
        load_default=5000,
        validate=validate.Range(100, 50_000),
        metadata={"description": "metres, with near"},
    )
    sort = ma.fields.String(validate=validate.OneOf(["distance", "newest", "popularity", "grade"]))
    page = ma.fields.Integer(load_default=1, validate=validate.Range(1, 1000))
    page_size = ma.fields.Integer(
        load_default=20, validate=validate.Range(1, 50), metadata={"description": "at most 50"}
    )

    @ma.validates_schema
    def distance_needs_near(self, data: dict, **kwargs: object) -> None:
        if data.get("sort") == "distance" and "near" not in data:
            raise ma.ValidationError("Sorting by distance needs near=lat,lng.", "sort")


# The catalog's parameters: what the list's cache key is made of (``deals.api``, and the
# catalog's lane at the front door, ``deals.door``, which must agree with it).
CATALOG_PARAMS = frozenset(CatalogArgsSchema().fields)


class CatalogItemSchema(ma.Schema):
    id = ma.fields.Integer(attribute="deal.id")
    type = ma.fields.String(attribute="deal.type")
    title = ma.fields.String(attribute="deal.title")
    cover = ma.fields.Function(lambda item: item.deal.images[0] if item.deal.images else None)
    party_size = ma.fields.Integer(attribute="deal.party_size", allow_none=True)
    list_price = ma.fields.Integer(attribute="deal.list_price", metadata=FEN)
    sale_price = ma.fields.Integer(attribute="deal.sale_price", metadata=FEN)
    stock_left = ma.fields.Integer(attribute="deal.stock_left")
    sold_count = ma.fields.Integer(attribute="deal.sold_count")
    sold_last_7_days = ma.fields.Integer(attribute="popularity")
    sale_ends_at = LocalDateTime(attribute="deal.sale_ends_at", allow_none=True)
    published_at = LocalDateTime(attribute="deal.published_at", allow_none=True)
    merchant = ma.fields.Nested(MerchantBriefSchema, attribute="deal.merchant")
    distance_m = ma.fields.Integer(allow_none=True, metadata={"description": "with near"})


class CatalogPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(CatalogItemSchema))
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()


class DealPageSchema(CatalogItemSchema):
    """A deal's public page."""

    description = ma.fields.String(attribute="deal.description")
    images = ma.fields.List(ma.fields.String(), attribute="deal.images")
    status = ma.fields.String(attribute="deal.status")
    per_shopper_limit = ma.fields.Integer(attribute="deal.per_shopper_limit", allow_none=True)
    sale_starts_at = LocalDateTime(attribute="deal.sale_starts_at", allow_none=True)
    rules = ma.fields.Nested(DealRulesSchema, attribute="deal")
    cs_phone = ma.fields.String(metadata={"description": "customer service, same as WeChat"})


class HomeCategorySchema(ma.Schema):
    slug = ma.fields.String(attribute="category.slug")
    name_zh = ma.fields.String(attribute="category.name_zh")
    name_en = ma.fields.String(attribute="category.name_en")
    live_deals = ma.fields.Integer()


class HomeSchema(ma.Schema):
    popup = ma.fields.Nested(CatalogItemSchema, allow_none=True)
    categories = ma.fields.List(ma.fields.Nested(HomeCategorySchema))
    new_today = ma.fields.List(ma.fields.Nested(CatalogItemSchema))
    cs_phone = ma.fields.String()


class WeeklyItemSchema(ma.Schema):
    deal_id = ma.fields.Integer()
    title = ma.fields.String()
    merchant = ma.fields.String()
    sale_price = ma.fields.Integer(metadata=FEN)
    commission_l1 = ma.fields.Integer(metadata=FEN)
    sold_last_7_days = ma.fields.Integer()


class WeeklyPageSchema(ma.Schema):
    week_of = ma.fields.Date()
    generated_at = LocalDateTime()
    hot = ma.fields.List(ma.fields.Nested(WeeklyItemSchema), attribute="content.hot")
    high_commission = ma.fields.List(
        ma.fields.Nested(WeeklyItemSchema), attribute="content.high_commission"
    )
