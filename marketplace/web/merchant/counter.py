"""Redeeming a voucher at the counter, in three steps a clerk can do in seconds:

1. ``GET /merchant/redeem``: type the 12 digits (grouped 4-4-4; ``static/js/merchant.js``
   checks the Damm check digit before anything is sent) or scan the shopper's QR code;
2. ``GET /merchant/redeem/check?code=…``: what the voucher is (deal, party size, the
   order's quantity, its state), or the reason it cannot be used, before anything changes
   (``vouchers.service.find_redeemable``, the API's own checks);
3. ``POST /merchant/redeem``: redeem (``orders.actions.redeem_voucher``, the API's call),
   then a big unmistakable success or the reason in words.

The confirmation form carries an idempotency key made when it is rendered: a retry after a
lost answer (the script retries a timed-out attempt with the same form) gets the first
result, and a double tap or two clerks redeem once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Response as FlaskResponse
from flask import redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.core.db import db
from marketplace.core.errors import DomainError
from marketplace.orders import actions
from marketplace.vouchers import service as vouchers
from marketplace.web.merchant import bp
from marketplace.web.merchant.common import member, portal_page, render_status
from marketplace.web.texts import error_sentence

KEY = re.compile(r"^[0-9a-f]{32}$")


def _code_arg(source: dict) -> str:
    """The code as typed (digits and spaces, at most a few more than 12)."""
    return (source.get("code") or "").strip()[:20]


def _refused(error: DomainError, code: str) -> FlaskResponse:
    """The reason in words, with the status the API gives (404, 403, 409, 422)."""
    context: dict[str, Any] = {
        "error_code": error.code,
        "reason": error_sentence(error.code, error.status),
        "code": code.replace(" ", ""),
        "used": None,
    }
    if isinstance(error, vouchers.AlreadyRedeemed) and error.voucher is not None:
        used = error.voucher
        context["used"] = {
            "at": used.redeemed_at,
            "by": (used.redeemed_by.display_name or used.redeemed_by.username)
            if used.redeemed_by
            else None,
            "deal": used.deal.title,
        }
    return render_status(
        "merchant/redeem_refused.html", error.status, place=member(), active="redeem", **context
    )


@bp.get("/redeem")
@portal_page
def redeem_form():
    """Type or scan a code."""
    return render_template(
        "merchant/redeem.html", place=member(), code=_code_arg(request.args), active="redeem"
    )


@bp.get("/redeem/check")
@portal_page
def redeem_check():
    """The voucher before it is redeemed, or why it cannot be."""
    code = _code_arg(request.args)
    if not code:
        return redirect(url_for("merchant.redeem_form"))
    try:
        voucher = vouchers.find_redeemable(code, current_user())
    except DomainError as error:
        db.session.rollback()
        return _refused(error, code)
    return render_template(
        "merchant/redeem_confirm.html",
        place=member(),
        active="redeem",
        voucher=voucher,
        units=vouchers.order_units(voucher),
        key=secrets.token_hex(16),
    )


@bp.post("/redeem")
@portal_page
def redeem():
    """Redeem once; a repeat of the same form (same key) answers with the first result."""
    code = _code_arg(request.form)
    key = request.form.get("key", "")
    try:
        voucher = actions.redeem_voucher(
            code, current_user(), idempotency_key=key if KEY.match(key) else None
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _refused(error, code)
    return render_template(
        "merchant/redeem_done.html",
        place=member(),
        active="redeem",
        voucher=voucher,
        units=vouchers.order_units(voucher),
    )
