"""What every portal page needs: the caller's place in their shop, page arguments, the
menu, and a refusal shown as a page with the API's status."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import render_template

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.web.session import page_login_required
from merchants.models import MerchantStaff, StaffRole
from merchants.service import my_merchant

# every portal page: a logged-in owner or clerk (else the portal's own login page)
portal_page = page_login_required(Role.MERCHANT_STAFF)


def member() -> MerchantStaff:
    """The logged-in user's place in their shop (404 ``no_merchant`` if none)."""
    return my_merchant(current_user())


def is_owner(place: MerchantStaff) -> bool:
    return place.role == StaffRole.OWNER


def load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def render_status(template: str, status: int, **context: Any) -> FlaskResponse:
    return FlaskResponse(render_template(template, **context), status=status, mimetype="text/html")


def problem_of(error: DomainError) -> tuple[str, list[str]]:
    """The sentence and the fields to fix of a refusal shown on a form."""
    from marketplace.web.texts import error_sentence, t

    fields = sorted(name for name in (error.fields or {}) if not name.startswith("_"))
    return (t("forms.fix_fields") if fields else error_sentence(error.code, error.status)), fields
