"""The shop's day and month: ``/merchant/`` (today: the figures, the day's redemptions with
times and clerks, the way to redeem), ``/merchant/month`` (units sold, redeemed and refunded
per deal, the settlement owed so far) and ``/merchant/vouchers`` (sold, by state: the unused
ones are what shoppers may still bring). The figures are ``settlement.summary``, the
numbers ``GET /api/v1/merchant/summary`` serves."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template, request

from marketplace.core.clock import day_start, local_today
from marketplace.core.errors import NotFound
from marketplace.settlement import summary
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import VoucherStatus
from marketplace.web.merchant import bp
from marketplace.web.merchant.common import member, portal_page
from marketplace.web.routing import page_of
from marketplace.web.texts import error_sentence


@bp.get("/")
@portal_page
def home():
    """Today: what was sold and redeemed, who redeemed what and when. An account not (or
    no longer) on a shop's staff lands on a page that says so, not on an error."""
    try:
        place = member()
    except NotFound as error:
        return render_template("merchant/no_shop.html", problem=error_sentence(error.code, 404))
    today = local_today()
    listed = page_of(
        vouchers.redemptions_between(
            place.merchant_id, day_start(today), day_start(today + timedelta(days=1))
        ),
    )
    return render_template(
        "merchant/today.html",
        place=place,
        day=summary.day(place.merchant_id, today),
        redemptions=listed["items"],
        page=listed["page"],
        pages=listed["pages"],
        active="home",
    )


@bp.get("/month")
@portal_page
def month():
    """This month so far, per deal, and what the platform owes the shop."""
    place = member()
    return render_template(
        "merchant/month.html",
        place=place,
        month=summary.month(place.merchant_id),
        unpaid=summary.unpaid_balance(place.merchant_id),
        active="month",
    )


STATES = [s.value for s in VoucherStatus]


@bp.get("/vouchers")
@portal_page
def voucher_list():
    """The shop's vouchers by state (default: sold and not yet used)."""
    place = member()
    status = request.args.get("status", VoucherStatus.ACTIVE.value)
    status = status if status in STATES else VoucherStatus.ACTIVE.value
    listed = page_of(vouchers.merchant_vouchers(place.merchant_id, status))
    return render_template(
        "merchant/vouchers.html",
        place=place,
        status=status,
        states=STATES,
        items=listed["items"],
        total=listed["total"],
        page=listed["page"],
        pages=listed["pages"],
        active="vouchers",
    )
