"""Refund requests and customer service for shoppers: asking for a refund of an order's
unused vouchers, and complaints and questions as tickets with their replies.

The API's domain calls: ``refunds.service.request_refund`` (which vouchers may be refunded,
one open request per order, the order's own 404), ``tickets.service`` (``open_ticket``,
``list_for``, ``get_ticket``, ``reply``: someone else's ticket is a 404). The forms are
parsed by the API's schemas; a refusal is shown on the form with its sentence.
"""

from __future__ import annotations

import math
from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.core.pagination import paginate
from marketplace.orders import service as orders
from marketplace.refunds import service as refunds
from marketplace.refunds.models import RefundReason
from marketplace.refunds.schemas import RefundCreateSchema
from marketplace.tickets import service as tickets
from marketplace.tickets.models import TicketKind
from marketplace.tickets.schemas import ReplySchema, TicketCreateSchema
from marketplace.vouchers import service as vouchers
from marketplace.web import session as page_session
from marketplace.web.routing import is_number
from marketplace.web.shop.checkout import int_arg
from marketplace.web.shop.views import bp
from marketplace.web.texts import error_sentence, t

PAGE_SIZE = 10


def _load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def _form_again(template: str, error: DomainError, **context: Any) -> FlaskResponse:
    """The form again with what went wrong: the API's status and the code's sentence, or
    the fields to fix."""
    fields = sorted(name for name in (error.fields or {}) if not name.startswith("_"))
    problem = t("forms.fix_fields") if fields else error_sentence(error.code, error.status)
    html = render_template(template, problem=problem, bad_fields=fields, **context)
    return FlaskResponse(html, status=error.status, mimetype="text/html")


# -- refunds -------------------------------------------------------------------------------


def _refund_context(order_id: int) -> dict[str, Any]:
    user = current_user()
    order = orders.get_order(order_id, user)  # someone else's: the 404 page
    mine = db.session.scalars(vouchers.my_vouchers(user, None, order_id=order.id)).all()
    return {
        "order": order,
        "refundable": [v for v in mine if v.status in refunds.SHOPPER_REFUNDABLE],
        "reasons": [r.value for r in RefundReason],
        "form": request.form,
    }


@bp.get("/orders/<int:order_id>/refund")
@page_session.page_login_required(Role.SHOPPER)
def refund_form(order_id: int):
    """Ask for a refund: which unused vouchers, and why."""
    return render_template("shop/refund.html", **_refund_context(order_id), problem=None)


@bp.post("/orders/<int:order_id>/refund")
@page_session.page_login_required(Role.SHOPPER)
def request_refund(order_id: int):
    """``refunds.service.request_refund``: customer service decides, the page shows it."""
    codes = request.form.getlist("voucher_codes")
    body = {
        "reason": request.form.get("reason", ""),
        "reason_text": request.form.get("reason_text", "").strip(),
        **({"voucher_codes": codes} if codes else {}),
    }
    try:
        form = _load(RefundCreateSchema(), body)
        refunds.request_refund(
            current_user(),
            order_id,
            reason=form["reason"],
            reason_text=form["reason_text"],
            voucher_codes=form.get("voucher_codes"),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return _form_again("shop/refund.html", error, **_refund_context(order_id))
    flash(t("refund.requested"))
    return redirect(url_for("shop.order", order_id=order_id), code=303)


# -- tickets -------------------------------------------------------------------------------


@bp.get("/tickets")
@page_session.page_login_required(Role.SHOPPER)
def my_tickets():
    """My complaints and questions, newest first, with where each stands."""
    page = max(1, int_arg("page", 1))
    result = paginate(tickets.list_for(current_user(), None), page, PAGE_SIZE)
    return render_template(
        "shop/tickets.html",
        tickets=result["items"],
        page=page,
        pages=max(1, math.ceil(result["total"] / PAGE_SIZE)),
    )


def _ticket_form_context() -> dict[str, Any]:
    order_id = request.values.get("order_id", "")
    return {
        "kinds": [k.value for k in TicketKind],
        "form": request.form,
        "order_id": order_id if is_number(order_id) else "",
    }


@bp.get("/tickets/new")
@page_session.page_login_required(Role.SHOPPER)
def new_ticket():
    """Complain or ask customer service (about an order, when opened from one)."""
    return render_template("shop/ticket_new.html", **_ticket_form_context(), problem=None)


@bp.post("/tickets/new")
@page_session.page_login_required(Role.SHOPPER)
def open_ticket():
    """``tickets.service.open_ticket``: the first response is due within the service
    level; the conversation page shows the replies."""
    body = {k: request.form.get(k, "").strip() for k in ("kind", "subject", "body")}
    order_id = request.form.get("order_id", "").strip()
    if order_id:  # the API's Id takes a JSON integer; a form sends text
        body["order_id"] = int(order_id) if is_number(order_id) else order_id
    try:
        form = _load(TicketCreateSchema(), body)
        ticket = tickets.open_ticket(current_user(), **form)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _form_again("shop/ticket_new.html", error, **_ticket_form_context())
    flash(t("tickets.opened"))
    return redirect(url_for("shop.ticket", ticket_id=ticket.id), code=303)


@bp.get("/tickets/<int:ticket_id>")
@page_session.page_login_required(Role.SHOPPER)
def ticket(ticket_id: int):
    """One ticket: the conversation with customer service, and a reply form."""
    found = tickets.get_ticket(ticket_id, current_user())
    return render_template("shop/ticket.html", ticket=found, problem=None)


@bp.post("/tickets/<int:ticket_id>/replies")
@page_session.page_login_required(Role.SHOPPER)
def reply_ticket(ticket_id: int):
    """Add to the conversation (``tickets.service.reply``)."""
    try:
        form = _load(ReplySchema(), {"body": request.form.get("body", "").strip()})
        tickets.reply(ticket_id, current_user(), form["body"])
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        found = tickets.get_ticket(ticket_id, current_user())
        return _form_again("shop/ticket.html", error, ticket=found)
    return redirect(url_for("shop.ticket", ticket_id=ticket_id) + "#latest", code=303)
