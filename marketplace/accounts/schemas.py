"""Request and response shapes of the accounts API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.accounts.models import Role
from marketplace.accounts.service import PHONE_INPUT
from marketplace.core.fields import LocalDateTime

PHONE = validate.Regexp(
    PHONE_INPUT, error="Enter an 11-digit mainland mobile number, e.g. 13812345678."
)


class OtpRequestSchema(ma.Schema):
    phone = ma.fields.String(
        required=True,
        validate=PHONE,
        metadata={"description": "mainland mobile number, e.g. 13812345678 or +86 138 1234 5678"},
    )


class OtpSentSchema(ma.Schema):
    phone = ma.fields.String(metadata={"description": "the normalised number the code went to"})
    expires_in = ma.fields.Integer(metadata={"description": "seconds the code stays valid"})
    resend_after = ma.fields.Integer(metadata={"description": "seconds before another code"})


class TokenRequestSchema(ma.Schema):
    """Either phone + code (shoppers) or username + password (staff, merchant staff)."""

    phone = ma.fields.String(validate=PHONE)
    code = ma.fields.String(validate=validate.Regexp(r"^[0-9]{6}$", error="The code is 6 digits."))
    username = ma.fields.String(validate=validate.Length(min=1, max=40))
    password = ma.fields.String(validate=validate.Length(min=1, max=128), load_only=True)
    ref = ma.fields.String(
        validate=validate.Length(max=16),
        metadata={"description": "share-link code the shopper arrived with (else the cookie)"},
    )

    @ma.validates_schema
    def one_method(self, data: dict, **kwargs: object) -> None:
        otp = "phone" in data or "code" in data
        password = "username" in data or "password" in data
        if otp and password:
            raise ma.ValidationError(
                "Send phone and code, or username and password, not both.", "_schema"
            )
        if otp:
            missing = [f for f in ("phone", "code") if f not in data]
        elif password:
            missing = [f for f in ("username", "password") if f not in data]
        else:
            raise ma.ValidationError("Send phone and code, or username and password.", "_schema")
        if missing:
            raise ma.ValidationError({f: ["Missing data for required field."] for f in missing})


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    phone = ma.fields.String(allow_none=True)
    username = ma.fields.String(allow_none=True)
    display_name = ma.fields.String()
    roles = ma.fields.Method("dump_roles", metadata={"description": "role names"})
    is_staff = ma.fields.Boolean()
    must_change_password = ma.fields.Boolean()
    merchant = ma.fields.Method(
        "dump_merchant",
        allow_none=True,
        metadata={"description": "for merchant staff: {id, role (owner or clerk)}"},
    )
    created_at = LocalDateTime()

    def dump_merchant(self, user: object) -> dict | None:
        # The merchants domain links portal accounts to shops (merchants.models adds this
        # backref); accounts sits below merchants, so it reads the attribute rather than
        # importing merchants.access.membership, and holds to that rule's condition (merchant
        # staff only), which also spares everyone else the lookup.
        if not user.has_role(Role.MERCHANT_STAFF):  # type: ignore[attr-defined]
            return None
        member = getattr(user, "merchant_membership", None)
        return {"id": member.merchant_id, "role": member.role} if member else None

    def dump_roles(self, user: object) -> list[str]:
        return sorted(r.value for r in user.roles)  # type: ignore[attr-defined]


class TokenSchema(ma.Schema):
    token = ma.fields.String(metadata={"description": "send as 'Authorization: Bearer <token>'"})
    token_type = ma.fields.String(dump_default="Bearer")
    expires_at = LocalDateTime()
    user = ma.fields.Nested(UserSchema)


class PasswordChangeSchema(ma.Schema):
    current_password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(max=128)
    )
    new_password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(max=128)
    )
