"""Request and response shapes of the merchant API."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from marketplace.accounts.service import USERNAME_INPUT
from marketplace.core.fields import HHMM, MAX_ID, MAX_INT, Day, Id, LocalDateTime, UserRefSchema
from marketplace.core.pagination import PageArgsSchema
from merchants.models import ContractKind, StaffRole, Stage, VisitChannel
from merchants.service import missing_contracts

SLUG = validate.Regexp(r"^[a-z][a-z0-9-]{1,39}$", error="lowercase letters, digits and '-'.")
PHONE = validate.Regexp(r"^[0-9+\- ]{5,20}$", error="Digits, spaces, '+' and '-' only.")


def one_of(enum_type) -> validate.OneOf:
    return validate.OneOf([e.value for e in enum_type])


# -- categories ----------------------------------------------------------------------------


class CategorySchema(ma.Schema):
    slug = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    sort_order = ma.fields.Integer()
    retired = ma.fields.Boolean(attribute="is_retired")


class CategoryArgsSchema(ma.Schema):
    include_retired = ma.fields.Boolean(load_default=False)


class CategoryCreateSchema(ma.Schema):
    slug = ma.fields.String(required=True, validate=SLUG)
    name_zh = ma.fields.String(required=True, validate=validate.Length(min=1, max=40))
    name_en = ma.fields.String(required=True, validate=validate.Length(min=1, max=60))
    sort_order = ma.fields.Integer(
        strict=True, load_default=100, validate=validate.Range(0, 10_000)
    )


class CategoryUpdateSchema(ma.Schema):
    name_zh = ma.fields.String(validate=validate.Length(min=1, max=40))
    name_en = ma.fields.String(validate=validate.Length(min=1, max=60))
    sort_order = ma.fields.Integer(strict=True, validate=validate.Range(0, 10_000))
    retired = ma.fields.Boolean(metadata={"description": "true retires, false restores"})


# -- merchants -----------------------------------------------------------------------------


class LocationSchema(ma.Schema):
    lat = ma.fields.Float(required=True, validate=validate.Range(-90, 90))
    lng = ma.fields.Float(required=True, validate=validate.Range(-180, 180))


class BusinessHoursSchema(ma.Schema):
    days = ma.fields.List(
        ma.fields.Integer(strict=True, validate=validate.Range(1, 7)),
        required=True,
        validate=validate.Length(min=1, max=7),
        metadata={"description": "ISO weekdays, 1 = Monday"},
    )
    open = ma.fields.String(required=True, validate=HHMM)
    close = ma.fields.String(
        required=True,
        validate=HHMM,
        metadata={"description": "before `open` means past midnight (KTV until 02:00)"},
    )


class MerchantProfileSchema(ma.Schema):
    name = ma.fields.String(validate=validate.Length(min=1, max=80))
    category = ma.fields.String(validate=validate.Length(max=40), metadata={"description": "slug"})
    description = ma.fields.String(validate=validate.Length(max=2000))
    address = ma.fields.String(validate=validate.Length(max=200))
    location = ma.fields.Nested(LocationSchema, allow_none=True)
    phone = ma.fields.String(validate=PHONE)
    business_hours = ma.fields.List(
        ma.fields.Nested(BusinessHoursSchema), validate=validate.Length(max=14)
    )
    hours_note = ma.fields.String(validate=validate.Length(max=200))
    is_headliner = ma.fields.Boolean(
        metadata={"description": "a leading shop of its trade (头部商家)"}
    )
    owner_id = Id(
        allow_none=True, metadata={"description": "the BD user who owns the relationship"}
    )


class MerchantCreateSchema(MerchantProfileSchema):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=80))
    category = ma.fields.String(
        required=True, validate=validate.Length(max=40), metadata={"description": "slug"}
    )


class MerchantUpdateSchema(MerchantProfileSchema):
    version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_INT),
        metadata={"description": "the version you read; a stale one is a 409"},
    )


class CategoryRefSchema(ma.Schema):
    slug = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()


class MerchantSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    category = ma.fields.Nested(CategoryRefSchema)
    description = ma.fields.String()
    address = ma.fields.String()
    location = ma.fields.Nested(LocationSchema, allow_none=True)
    phone = ma.fields.String()
    business_hours = ma.fields.List(ma.fields.Nested(BusinessHoursSchema))
    hours_note = ma.fields.String()
    is_headliner = ma.fields.Boolean()
    owner = ma.fields.Nested(UserRefSchema, allow_none=True)
    stage = ma.fields.String()
    stage_changed_at = LocalDateTime()
    current_grade = ma.fields.Integer(allow_none=True, metadata={"description": "1–5 stars"})
    follow_up_due = ma.fields.Date(allow_none=True)
    version = ma.fields.Integer()
    created_at = LocalDateTime()
    updated_at = LocalDateTime()


class MerchantDetailSchema(MerchantSchema):
    missing_contracts = ma.fields.Method(
        "dump_missing_contracts",
        metadata={"description": "documents still to sign before contracting (kinds)"},
    )

    def dump_missing_contracts(self, merchant) -> list[str]:
        return [kind.value for kind in missing_contracts(merchant)]


class OwnerField(ma.fields.String):
    """A BD owner in a filter: ``me`` or a user id (bounded like every id)."""

    default_error_messages = {"invalid_owner": "A user id or 'me'."}  # noqa: RUF012

    def __init__(self, **kwargs: object) -> None:
        super().__init__(metadata={"pattern": r"^(me|[1-9][0-9]{0,9})$"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str | int:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text == "me":
            return text
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID):
            raise self.make_error("invalid_owner")
        return int(text)


class MerchantListArgsSchema(PageArgsSchema):
    category = ma.fields.String(validate=validate.Length(max=40))
    grade = ma.fields.Integer(validate=validate.Range(1, 5))
    min_grade = ma.fields.Integer(validate=validate.Range(1, 5))
    stage = ma.fields.String(validate=one_of(Stage))
    owner = OwnerField()
    headliner = ma.fields.Boolean()
    q = ma.fields.String(
        validate=validate.Length(min=1, max=80), metadata={"description": "name or address"}
    )
    sort = ma.fields.String(
        load_default="newest", validate=validate.OneOf(["newest", "name", "grade"])
    )


class StageChangeSchema(ma.Schema):
    stage = ma.fields.String(required=True, validate=one_of(Stage))
    reason = ma.fields.String(load_default="", validate=validate.Length(max=500))
    version = ma.fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_INT),
        metadata={"description": "optional: refuse if the merchant changed"},
    )


# -- grades, contracts, visits, staff, audit -----------------------------------------------


class GradeCreateSchema(ma.Schema):
    grade = ma.fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    note = ma.fields.String(required=True, validate=validate.Length(min=1, max=500))
    reference = ma.fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "e.g. 大众点评 4.6, 美团 4.8"},
    )


class GradeSchema(ma.Schema):
    id = ma.fields.Integer()
    grade = ma.fields.Integer()
    previous_grade = ma.fields.Integer(allow_none=True)
    note = ma.fields.String()
    reference = ma.fields.String()
    graded_by = ma.fields.Nested(UserRefSchema, allow_none=True)
    graded_at = LocalDateTime()


class ContractUploadSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=one_of(ContractKind))
    signatory = ma.fields.String(required=True, validate=validate.Length(min=1, max=60))
    signed_on = Day(required=True)
    file = Upload(required=True, metadata={"description": "PDF, JPEG or PNG, at most 10 MiB"})


class ContractSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    signatory = ma.fields.String()
    signed_on = ma.fields.Date()
    recorded_by = ma.fields.Nested(UserRefSchema, allow_none=True)
    recorded_at = LocalDateTime()
    file_name = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer(metadata={"description": "bytes"})
    sha256 = ma.fields.String()


class VisitCreateSchema(ma.Schema):
    visited_on = Day(required=True)
    channel = ma.fields.String(required=True, validate=one_of(VisitChannel))
    notes = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "what the merchant said"},
    )
    follow_up_due = Day(allow_none=True, load_default=None)


class VisitSchema(ma.Schema):
    id = ma.fields.Integer()
    visited_on = ma.fields.Date()
    channel = ma.fields.String()
    notes = ma.fields.String()
    follow_up_due = ma.fields.Date(allow_none=True)
    recorded_by = ma.fields.Nested(UserRefSchema, allow_none=True)
    recorded_at = LocalDateTime()


class OverdueArgsSchema(PageArgsSchema):
    owner = OwnerField()


class StaffCreateSchema(ma.Schema):
    username = ma.fields.String(
        required=True,
        validate=validate.Regexp(
            USERNAME_INPUT, error="2–40 characters: letters, digits, '.', '_' or '-'."
        ),
        metadata={"description": "stored in lower case"},
    )
    role = ma.fields.String(required=True, validate=one_of(StaffRole))
    display_name = ma.fields.String(load_default="", validate=validate.Length(max=60))
    password = ma.fields.String(
        load_only=True,
        validate=validate.Length(max=128),
        metadata={"description": "initial password; generated when omitted"},
    )


class StaffSchema(ma.Schema):
    user_id = ma.fields.Integer()
    username = ma.fields.String(attribute="user.username")
    display_name = ma.fields.String(attribute="user.display_name")
    role = ma.fields.String()
    must_change_password = ma.fields.Boolean(attribute="user.must_change_password")
    is_active = ma.fields.Boolean(attribute="user.is_active")
    created_at = LocalDateTime()


class StaffCreatedSchema(ma.Schema):
    account = ma.fields.Nested(StaffSchema)
    initial_password = ma.fields.String(
        metadata={"description": "shown once; the holder must change it at first login"}
    )


class MyMerchantSchema(ma.Schema):
    role = ma.fields.String(metadata={"description": "owner or clerk"})
    merchant = ma.fields.Nested(MerchantSchema)


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    occurred_at = LocalDateTime()
    actor = ma.fields.Nested(UserRefSchema, allow_none=True)
    action = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    data = ma.fields.Dict(allow_none=True)
