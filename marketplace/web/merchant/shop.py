"""The shop itself: its profile (the owner edits the description, phone and opening hours;
``merchants.service.update_merchant`` with the version read, the API's call and rules),
its portal accounts (the owner sees them and asks BD for a new one: a ticket customer
service hands to the shop's BD, who creates it as today), and its tickets to customer
service (urgent ones are answered within a service minute) with the replies."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput, NotFound
from marketplace.tickets import service as tickets
from marketplace.tickets.models import TicketKind
from marketplace.tickets.schemas import ReplySchema, TicketCreateSchema
from marketplace.web.merchant import bp
from marketplace.web.merchant.common import (
    is_owner,
    load,
    member,
    portal_page,
    problem_of,
    render_status,
)
from marketplace.web.routing import is_number, page_of
from marketplace.web.texts import t
from merchants import service as merchants
from merchants.schemas import MerchantUpdateSchema

HOURS_ROWS = 3  # rows the hours form shows (existing ones plus empty ones)


def _hours_rows(hours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [dict(h) for h in hours or []]
    target = max(HOURS_ROWS, len(rows) + 1)
    while len(rows) < target:
        rows.append({"days": [], "open": "", "close": ""})
    return rows


def _hours_from_form() -> list[dict[str, Any]]:
    """The opening hours rows of the form; a row with no day ticked is left out."""
    hours = []
    for i in range(10):
        days = request.form.getlist(f"hours-{i}-days")
        opens = request.form.get(f"hours-{i}-open", "").strip()
        closes = request.form.get(f"hours-{i}-close", "").strip()
        if f"hours-{i}-open" not in request.form:
            break
        if not days and not opens and not closes:
            continue
        hours.append(
            {"days": [int(d) for d in days if is_number(d)], "open": opens, "close": closes}
        )
    return hours


def _profile(place, *, problem=None, bad_fields=(), form=None, status=200):
    merchant = place.merchant
    hours = _hours_rows(form["business_hours"] if form else merchant.business_hours)
    return render_status(
        "merchant/shop.html",
        status,
        place=place,
        merchant=merchant,
        owner=is_owner(place),
        form=form or {},
        hours=hours,
        problem=problem,
        bad_fields=list(bad_fields),
        active="shop",
    )


@bp.get("/shop")
@portal_page
def profile():
    """The shop as shoppers see it; the owner's form to change what is theirs to change."""
    return _profile(member())


@bp.post("/shop")
@portal_page
def update_profile():
    place = member()
    raw = {
        "description": request.form.get("description", "").strip(),
        "phone": request.form.get("phone", "").strip(),
        "hours_note": request.form.get("hours_note", "").strip(),
        "business_hours": _hours_from_form(),
        "version": int(v) if is_number(v := request.form.get("version", "")) else v,
    }
    try:
        data = load(MerchantUpdateSchema(), raw)
        version = data.pop("version")
        merchants.update_merchant(place.merchant, data, version, current_user())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        problem, fields = problem_of(error)
        return _profile(member(), problem=problem, bad_fields=fields, form=raw, status=error.status)
    flash(t("merchant.shop_saved"))
    return redirect(url_for("merchant.profile"), code=303)


# -- staff -----------------------------------------------------------------------------------


@bp.get("/staff")
@portal_page
def staff():
    """The shop's portal accounts (owner only: ``merchants.service.list_staff``)."""
    place = member()
    accounts = merchants.list_staff(place.merchant, current_user())  # a clerk: the 403 page
    return render_template(
        "merchant/staff.html",
        place=place,
        accounts=accounts,
        bd=place.merchant.owner,
        form={},
        problem=None,
        bad_fields=[],
        active="staff",
    )


@bp.post("/staff/request")
@portal_page
def request_login():
    """Ask BD for a new login: a ticket to customer service, who hand it to the shop's BD."""
    place = member()
    merchants.list_staff(place.merchant, current_user())  # owners only
    name = request.form.get("name", "").strip()[:40]
    phone = request.form.get("phone", "").strip()[:20]
    role = "owner" if request.form.get("role") == "owner" else "clerk"
    try:
        if not name:
            raise InvalidInput(fields={"name": ["Required."]})
        ticket = tickets.open_ticket(
            current_user(),
            kind=TicketKind.QUESTION.value,
            subject=t("merchant.login_request_subject", shop=place.merchant.name)[:120],
            body=t(
                "merchant.login_request_body",
                name=name,
                phone=phone or "-",
                role=t(f"merchant.role_{role}"),
            ),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        problem, fields = problem_of(error)
        return render_status(
            "merchant/staff.html",
            error.status,
            place=place,
            accounts=merchants.list_staff(place.merchant, current_user()),
            bd=place.merchant.owner,
            form=request.form,
            problem=problem,
            bad_fields=fields,
            active="staff",
        )
    flash(t("merchant.login_requested"))
    return redirect(url_for("merchant.ticket", ticket_id=ticket.id), code=303)


# -- tickets ---------------------------------------------------------------------------------


@bp.get("/tickets")
@portal_page
def tickets_list():
    place = member()
    listed = page_of(tickets.list_for(current_user(), None))
    return render_template(
        "merchant/tickets.html",
        place=place,
        items=listed["items"],
        page=listed["page"],
        pages=listed["pages"],
        active="tickets",
    )


def _new_ticket(place, *, problem=None, bad_fields=(), status=200):
    return render_status(
        "merchant/ticket_new.html",
        status,
        place=place,
        kinds=[k.value for k in TicketKind],
        form=request.form,
        problem=problem,
        bad_fields=list(bad_fields),
        active="tickets",
    )


@bp.get("/tickets/new")
@portal_page
def new_ticket():
    return _new_ticket(member())


@bp.post("/tickets/new")
@portal_page
def open_ticket():
    """``tickets.service.open_ticket``: an urgent one is due within a service minute."""
    place = member()
    body: dict[str, Any] = {k: request.form.get(k, "").strip() for k in ("kind", "subject", "body")}
    body["urgent"] = request.form.get("urgent") == "1"
    order_id = request.form.get("order_id", "").strip()
    if order_id:
        body["order_id"] = int(order_id) if is_number(order_id) else order_id
    try:
        form = load(TicketCreateSchema(), body)
        ticket = tickets.open_ticket(current_user(), **form)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        problem, fields = problem_of(error)
        return _new_ticket(place, problem=problem, bad_fields=fields, status=error.status)
    flash(t("merchant.ticket_opened"))
    return redirect(url_for("merchant.ticket", ticket_id=ticket.id), code=303)


@bp.get("/tickets/<int:ticket_id>")
@portal_page
def ticket(ticket_id: int):
    """One ticket and its replies (someone else's: the 404 page)."""
    place = member()
    found = tickets.get_ticket(ticket_id, current_user())
    return render_template(
        "merchant/ticket.html", place=place, ticket=found, problem=None, active="tickets"
    )


@bp.post("/tickets/<int:ticket_id>/replies")
@portal_page
def reply_ticket(ticket_id: int):
    place = member()
    try:
        form = load(ReplySchema(), {"body": request.form.get("body", "").strip()})
        tickets.reply(ticket_id, current_user(), form["body"])
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if isinstance(error, NotFound):
            raise
        problem, _ = problem_of(error)
        found = tickets.get_ticket(ticket_id, current_user())
        return render_status(
            "merchant/ticket.html", error.status, place=place, ticket=found, problem=problem,
            active="tickets",
        )  # fmt: skip
    return redirect(url_for("merchant.ticket", ticket_id=ticket_id) + "#latest", code=303)
