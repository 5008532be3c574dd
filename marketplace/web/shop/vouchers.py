"""My vouchers: the list by status, a voucher's page to show at the counter (the code large
and grouped for reading aloud, its QR, where and when to use it) and its QR image.

``vouchers.service.my_vouchers`` and ``shoppers_voucher`` are the API's: another shopper's
voucher, or its QR, is a 404 as if it did not exist.
"""

from __future__ import annotations

import math

from flask import Response, render_template, request

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core import qr
from marketplace.core.pagination import paginate
from marketplace.deals.schemas import DealRulesSchema
from marketplace.reviews import service as reviews
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import VoucherStatus
from marketplace.web import session as page_session
from marketplace.web.shop.checkout import int_arg
from marketplace.web.shop.content import ShopMerchantSchema
from marketplace.web.shop.views import bp

PAGE_SIZE = 10
# The tabs of "my vouchers": every status a shopper's voucher can have.
TABS = ("", *(s.value for s in VoucherStatus))


@bp.get("/vouchers")
@page_session.page_login_required(Role.SHOPPER)
def my_vouchers():
    """My vouchers, newest first, by status (usable first tab: all)."""
    status = request.args.get("status", "")
    if status not in TABS:
        status = ""
    page = max(1, int_arg("page", 1))
    result = paginate(vouchers.my_vouchers(current_user(), status or None), page, PAGE_SIZE)
    return render_template(
        "shop/vouchers.html",
        vouchers=result["items"],
        status=status,
        tabs=TABS,
        page=page,
        pages=max(1, math.ceil(result["total"] / PAGE_SIZE)),
    )


@bp.get("/vouchers/<voucher_code:code>")
@page_session.page_login_required(Role.SHOPPER)
def voucher(code: str):
    """One voucher, to show at the shop: code, QR, status, the shop and its hours,
    the validity and the usage rules."""
    found = vouchers.shoppers_voucher(code, current_user())
    merchant = ShopMerchantSchema().dump(found.deal.merchant)
    rules = DealRulesSchema().dump(found.deal)
    review = reviews.for_voucher(found.id)  # [reviews] "rate this visit" or "my review"
    return render_template(
        "shop/voucher.html", voucher=found, merchant=merchant, rules=rules, review=review
    )


@bp.get("/vouchers/<voucher_code:code>/qr.png")
@page_session.page_login_required(Role.SHOPPER)
def voucher_qr(code: str):
    """The voucher's code as a QR image (the shop's scanner reads the 12 digits)."""
    found = vouchers.shoppers_voucher(code, current_user())
    response = Response(qr.png(found.code), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
