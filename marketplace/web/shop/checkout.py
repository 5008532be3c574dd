"""Buying and paying: the checkout form, the payment with Stripe.js, and the order page
that waits for the payment to be confirmed.

The same domain calls as the API's ``POST /orders``, ``POST /orders/{id}/payment`` and
``GET /orders/{id}``: ``orders.actions.place_order`` (the screen, the reservation, the
PaymentIntent; a repeated Idempotency-Key returns the first order, so a double tap buys
once), ``actions.start_payment`` (the intent of a pending order: its client secret for
Stripe.js, also after a declined card), ``orders.service.get_order`` (someone else's
order is a 404). Whether the provider took the money is learnt from its webhook or, while
the order page waits, from ``payments.sync.check_payment`` (what the reconciliation job
does), so a page never decides that an order is paid.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import current_app, redirect, render_template, request, url_for
from marshmallow import validate

from marketplace.accounts.auth import current_principal, current_user
from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import Conflict, DomainError, InvalidInput
from marketplace.core.pagination import paginate
from marketplace.orders import actions, stock
from marketplace.orders import service as orders
from marketplace.orders.models import PAID_STATUSES, OrderStatus
from marketplace.payments import sync
from marketplace.refunds import service as refunds
from marketplace.refunds.models import OPEN_STATUSES
from marketplace.vouchers import service as vouchers
from marketplace.web import session as page_session
from marketplace.web.routing import is_number
from marketplace.web.security import stripe_js_url
from marketplace.web.shop import content
from marketplace.web.shop.login import REF_COOKIE
from marketplace.web.shop.views import bp
from marketplace.web.texts import error_sentence

# How long the order page keeps asking whether a payment went through (polls ~1.5 s
# apart) before it says "still confirming" and leaves it to the webhook and the job.
MAX_POLLS = 40
ORDERS_PAGE_SIZE = 10
# Refusals of a purchase that get the refusal page rather than the generic error page.
REFUSALS = {
    "sold_out",
    "purchase_limit_reached",
    "deal_not_on_sale",
    "sale_not_started",
    "sale_ended",
    "deal_paused",
    "idempotency_key_reused",
}


class CheckoutFormSchema(ma.Schema):
    """The checkout form: the API's quantity range, the form's own Idempotency-Key."""

    class Meta:
        unknown = ma.EXCLUDE  # csrf_token

    quantity = ma.fields.Integer(required=True, validate=validate.Range(1, orders.MAX_QUANTITY))
    key = ma.fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{32}$"))
    ref = ma.fields.String(load_default=None, validate=validate.Length(max=16))


def _load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def _refused(code: str, deal: dict[str, Any] | None, status: int = 409) -> FlaskResponse:
    html = render_template(
        "shop/refused.html", code=code, sentence=error_sentence(code, status), deal=deal
    )
    return FlaskResponse(html, status=status, mimetype="text/html")


@bp.get("/deals/<int:deal_id>/buy")
@page_session.page_login_required(Role.SHOPPER)
def checkout(deal_id: int):
    """The checkout form: quantity (up to what the shopper may still buy), price, and a
    fresh Idempotency-Key for this form, so its double submission is one purchase."""
    deal = content.deal(deal_id)
    reason = deal["unavailable"] or content.limit_reason(deal)
    if reason:
        return _refused(reason, deal)
    left = stock.allowance(deal_id, deal.get("per_shopper_limit"), current_principal().id)
    most = min(orders.MAX_QUANTITY, deal["stock_left"], left if left is not None else math.inf)
    return render_template(
        "shop/checkout.html",
        deal=deal,
        most=int(most),
        key=uuid.uuid4().hex,
        ref=(request.args.get("ref") or "")[:16],
    )


@bp.post("/deals/<int:deal_id>/buy")
@page_session.page_login_required(Role.SHOPPER)
def place_order(deal_id: int):
    """Buy (``orders.actions.place_order``, the API's checkout), then pay."""
    form = _load(CheckoutFormSchema(), request.form.to_dict())
    try:
        order, _created = actions.place_order(
            current_principal(),
            deal_id,
            form["quantity"],
            idempotency_key=form["key"],
            ref=form["ref"] or request.cookies.get(REF_COOKIE),
        )
    except DomainError as error:
        if error.code not in REFUSALS:
            raise
        return _refused(error.code, _deal_or_none(deal_id), error.status)
    return redirect(url_for("shop.pay", order_id=order.id), code=303)


def _deal_or_none(deal_id: int) -> dict[str, Any] | None:
    try:
        return content.deal(deal_id)
    except DomainError:
        return None


@bp.get("/orders/<int:order_id>/pay")
@page_session.page_login_required(Role.SHOPPER)
def pay(order_id: int):
    """Pay a pending order with Stripe.js: the card element and ``confirmCardPayment``
    with the PaymentIntent's client secret (``actions.start_payment`` makes sure there is
    one, e.g. after the provider was down). A declined card leaves the intent waiting for
    another card; the page lets the shopper try again."""
    try:
        order = actions.start_payment(order_id, current_user())
    except Conflict as error:  # paid already, or expired: the order page says which
        if error.code in ("order_already_paid", "order_expired"):
            return redirect(url_for("shop.order", order_id=order_id), code=303)
        raise
    return render_template(
        "shop/pay.html",
        order=order,
        client_secret=orders.client_secret(order),
        publishable_key=current_app.config["LINLI_STRIPE_PUBLISHABLE_KEY"],
        stripe_js=stripe_js_url(),
    )


def _order_context(order_id: int) -> dict[str, Any]:
    user = current_user()
    order = orders.get_order(order_id, user)  # someone else's: the 404 page
    mine = db.session.scalars(vouchers.my_vouchers(user, None, order_id=order.id)).all()
    requests = refunds.for_order(order.id, user)
    open_statuses = {s.value for s in OPEN_STATUSES}
    return {
        "order": order,
        "vouchers": mine,
        "refund_requests": requests,
        "pending": order.status == OrderStatus.PENDING_PAYMENT.value,
        # The refund link, where request_refund would take the request (it decides).
        "may_ask_refund": order.status in {s.value for s in PAID_STATUSES}
        and any(v.status in refunds.SHOPPER_REFUNDABLE for v in mine)
        and not any(r.status in open_statuses for r in requests),
    }


def int_arg(name: str, default: int = 0) -> int:
    """A small non-negative integer from the query (a page number, a poll count)."""
    raw = request.args.get(name, "")
    return min(int(raw), 10_000) if is_number(raw) else default


@bp.get("/orders/<int:order_id>")
@page_session.page_login_required(Role.SHOPPER)
def order(order_id: int):
    """One of my orders: what I bought, its status, its vouchers, refund requests. A
    pending one waits for the payment's confirmation (``order_status``)."""
    return render_template(
        "shop/order.html", **_order_context(order_id), polls=0, max_polls=MAX_POLLS
    )


@bp.get("/orders/<int:order_id>/status")
@page_session.page_login_required(Role.SHOPPER)
def order_status(order_id: int):
    """htmx, while the order page waits: ask the provider about the pending order
    (``payments.sync.check_payment``); once it is no longer pending the page reloads
    with its vouchers."""
    polls = min(int_arg("n"), MAX_POLLS)
    current = orders.get_order(order_id, current_user())
    if current.status == OrderStatus.PENDING_PAYMENT.value and current.payment_intent_id:
        sync.check_payment(current.id)
        current = orders.get_order(order_id, current_user())
    if current.status != OrderStatus.PENDING_PAYMENT.value:
        response = FlaskResponse(status=204)
        response.headers["HX-Refresh"] = "true"
        return response
    return render_template(
        "shop/_order_waiting.html", order=current, polls=polls + 1, max_polls=MAX_POLLS
    )


@bp.get("/orders")
@page_session.page_login_required(Role.SHOPPER)
def my_orders():
    """My orders, newest first, a page at a time."""
    page = max(1, int_arg("page", 1))
    result = paginate(orders.my_orders(current_user()), page, ORDERS_PAGE_SIZE)
    pages = max(1, math.ceil(result["total"] / ORDERS_PAGE_SIZE))
    return render_template("shop/orders.html", orders=result["items"], page=page, pages=pages)
