"""The publishing calendar in the staff console: the coming weeks' 10:00 and 15:00 slots
with the empty ones (and any day without a new deal) highlighted, a deal put into a slot
or taken out; the home page's popup days (the bookings promised to merchants, the
rotation's past picks and its next); the weekly page of hot and high-commission deals.

Roles as in ``deals.api``: the slots for BD and editors (``EDITORS``), popup bookings for
BD only; the weekly page is public in the API and shown here to BD and editors. Each
action is the API's domain call (``deals.publishing.schedule``, ``unschedule``,
``book_popup``, ``cancel_popup``), which also writes the audit trail.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.core.errors import DomainError
from marketplace.core.pagination import paginate
from marketplace.deals import popup, publishing, service, weekly
from marketplace.deals.models import DealStatus
from marketplace.deals.schemas import PopupBookingCreateSchema, ScheduleSchema, SlotArgsSchema
from marketplace.web.routing import is_number
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.bdkit import int_arg, load, page_count, sentence
from marketplace.web.texts import t

EDITORS = (Role.BD, Role.EDITOR)
DAYS = 14  # two weeks a page
CHOICES = 100  # deals offered for a slot or a popup day, newest first
BOOKINGS_SIZE = 10
PAST_PICKS = 14

menu_item("staff.calendar", "staff_calendar.menu", *EDITORS, order=30)
menu_item("staff.popup_calendar", "staff_calendar.menu_popup", Role.BD, order=32)
menu_item("staff.weekly_page", "staff_calendar.menu_weekly", *EDITORS, order=34)


def _deal_choices(status: DealStatus) -> list[Any]:
    """Deals in ``status`` of live merchants (only theirs can be slotted or promised the
    popup: ``deals.service.ensure_merchant_live``), newest first."""
    return service.of_live_merchants(status, CHOICES)


def _calendar_context(**extra: Any) -> dict[str, Any]:
    raw = {"start": request.args["start"]} if request.args.get("start") else {}
    args = load(SlotArgsSchema(), {**raw, "days": DAYS})
    first = args.get("start") or local_today()
    cal = publishing.calendar(first, DAYS)
    days: list[dict[str, Any]] = []
    for slot in cal["slots"]:
        if not days or days[-1]["day"] != slot.day:
            days.append(
                {"day": slot.day, "slots": [], "empty": slot.day in cal["days_without_a_deal"]}
            )
        days[-1]["slots"].append(slot)
    chosen = request.values.get("deal_id", "")
    return {
        "days": days,
        "first": first,
        "previous": first - timedelta(days=DAYS),
        "next": first + timedelta(days=DAYS),
        "today": local_today(),
        "moment": now(),
        "empty_slots": cal["empty_slots"],
        "days_without": cal["days_without_a_deal"],
        "drafts": _deal_choices(DealStatus.DRAFT),
        "chosen": int(chosen) if is_number(chosen) else None,
        "problem": None,
        "problem_slot": None,
        **extra,
    }


@bp.get("/calendar")
@page_login_required(*EDITORS)
def calendar():
    """Two weeks of publishing slots from ``start`` (today by default)."""
    return render_template("staff/calendar/slots.html", **_calendar_context())


def _calendar_again(error: DomainError, slot_key: str | None) -> FlaskResponse:
    if error.status == 404:
        raise error
    html = render_template(
        "staff/calendar/slots.html",
        **_calendar_context(problem=sentence(error), problem_slot=slot_key),
    )
    return FlaskResponse(html, status=error.status, mimetype="text/html")


def _back_to_calendar() -> FlaskResponse:
    start = request.form.get("start", "")
    target = url_for("staff.calendar", start=start) if start else url_for("staff.calendar")
    return redirect(target, code=303)


def _deal_id() -> int:
    raw = request.form.get("deal_id", "")
    return int(raw) if is_number(raw) and len(raw) < 12 else 0


@bp.post("/calendar/slots")
@page_login_required(*EDITORS)
def schedule():
    """``deals.publishing.schedule``: one deal per slot (409 ``slot_taken``), a live
    merchant's (409 ``merchant_not_live``), a slot still to come."""
    slot_key = f"{request.form.get('date', '')} {request.form.get('slot', '')}"
    try:
        body = load(
            ScheduleSchema(),
            {"date": request.form.get("date", ""), "slot": request.form.get("slot", "")},
        )
        deal = service.get_deal(_deal_id())
        hour, minute = (int(x) for x in body["slot"].split(":"))
        publishing.schedule(deal, body["date"], time(hour, minute), current_user())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _calendar_again(error, slot_key)
    flash(t("staff_calendar.scheduled", title=deal.title, slot=slot_key))
    return _back_to_calendar()


@bp.post("/calendar/slots/remove")
@page_login_required(*EDITORS)
def unschedule():
    """``deals.publishing.unschedule``: the deal goes back to draft, its slot is empty."""
    try:
        deal = service.get_deal(_deal_id())
        publishing.unschedule(deal, current_user())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _calendar_again(error, None)
    flash(t("staff_calendar.unscheduled", title=deal.title))
    return _back_to_calendar()


# -- popup days ----------------------------------------------------------------------------


def _popup_context(**extra: Any) -> dict[str, Any]:
    today = local_today()
    page = int_arg("page")
    bookings = paginate(publishing.popup_bookings(today), page, BOOKINGS_SIZE)
    tomorrow = today + timedelta(days=1)
    next_pick, _ = popup.choose(tomorrow)
    return {
        "bookings": bookings["items"],
        "page": page,
        "pages": page_count(bookings["total"], BOOKINGS_SIZE),
        "past": popup.featured(today - timedelta(days=PAST_PICKS), today),
        "today": today,
        "tomorrow": tomorrow,
        "next_pick": next_pick,
        "candidates": _deal_choices(DealStatus.LIVE) + _deal_choices(DealStatus.SCHEDULED),
        "form": request.form if request.method == "POST" else {},
        "problem": None,
        **extra,
    }


@bp.get("/calendar/popup")
@page_login_required(Role.BD)
def popup_calendar():
    """Popup days: promises to merchants from today on (paginated), what the rotation
    showed in the last two weeks, and what it would pick tomorrow if nothing is booked."""
    return render_template("staff/calendar/popup.html", **_popup_context())


@bp.post("/calendar/popup")
@page_login_required(Role.BD)
def book_popup():
    """``deals.publishing.book_popup``: one deal a day (409 ``popup_day_taken``)."""
    try:
        body = load(
            PopupBookingCreateSchema(),
            {
                "deal_id": _deal_id() or request.form.get("deal_id", ""),
                "date": request.form.get("date", ""),
                "note": request.form.get("note", "").strip(),
            },
        )
        booking = publishing.book_popup(
            service.get_deal(body["deal_id"]), body["date"], current_user(), note=body["note"]
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        html = render_template(
            "staff/calendar/popup.html", **_popup_context(problem=sentence(error))
        )
        return FlaskResponse(html, status=error.status, mimetype="text/html")
    flash(t("staff_calendar.booked", day=booking.day.isoformat(), title=booking.deal.title))
    return redirect(url_for("staff.popup_calendar"), code=303)


@bp.post("/calendar/popup/<int:booking_id>/cancel")
@page_login_required(Role.BD)
def cancel_popup(booking_id: int):
    """``deals.publishing.cancel_popup``: the promise is withdrawn (audited on the deal)."""
    publishing.cancel_popup(booking_id, current_user())
    db.session.commit()
    flash(t("staff_calendar.cancelled"))
    return redirect(url_for("staff.popup_calendar"), code=303)


# -- the weekly page -----------------------------------------------------------------------


@bp.get("/calendar/weekly")
@page_login_required(*EDITORS)
def weekly_page():
    """The latest weekly page (made Fridays at 17:00 by ``deals.weekly.build_hot_page``):
    the hot deals and the high-commission deals, as the WeCom push and
    ``GET /weekly-hot`` give them."""
    return render_template("staff/calendar/weekly.html", page=weekly.latest_page())


# -- the editors' panel of the landing page ------------------------------------------------


@bp.app_template_global()
def staff_calendar_week() -> dict[str, Any]:
    """The next seven days' slots: how many are empty, which days have no deal at all."""
    cal = publishing.calendar(local_today(), 7)
    return {"empty_slots": cal["empty_slots"], "days_without": cal["days_without_a_deal"]}


def slot_has_passed(day: date, at: time) -> bool:
    return publishing.slot_instant(day, at) <= now()


bp.add_app_template_global(slot_has_passed, "staff_slot_passed")
