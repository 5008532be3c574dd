"""Customer service's care page (role ``cs``): today's list of lapsed customers (bought
before, not for 30 days, not contacted in the last 14) with a form to log a call or a
WeChat message; the contact log with what came of each contact (an order within 14 days:
won back); the shoppers' A/B/C segments; the expired unused vouchers of ``cs_call`` deals.
Each tab is ``care.service``'s query, paginated on the server, a constant number of
statements; logging calls ``care.service.log_contact`` as ``POST /api/v1/care/contacts``."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.care import service as care
from marketplace.care.models import Channel, Outcome
from marketplace.care.schemas import CareContactCreateSchema
from marketplace.refunds import service as refunds
from marketplace.web.routing import is_number
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import act, choice, load, page_of, render
from marketplace.web.texts import t

CS = Role.CS
TABS = ["lapsed", "contacts", "segments", "expired"]

menu_item("staff.care_page", "staff_care.menu", CS, order=85)


def _rows(query) -> dict:
    """A page of a multi-column query, with what the pager needs."""
    return page_of(query, fetch=care.page_rows)


def _page(problem: str | None = None, status: int = 200):
    tab = choice("tab", TABS, "lapsed")
    context: dict = {"tab": tab, "tab_names": TABS, "problem": problem, "status": status}
    if tab == "lapsed":
        context["result"] = _rows(care.lapsed(due_only=True))
        context["channels"] = [c.value for c in Channel]
        context["outcomes"] = [o.value for o in Outcome]
    elif tab == "contacts":
        result = page_of(care.contacts())
        context["result"], context["won"] = result, care.won_back(result["items"])
        context["summary"] = care.won_back_summary()
    elif tab == "segments":
        segment = choice("segment", list(care.SEGMENTS))
        context["segment"] = segment
        context["result"] = _rows(care.segments(segment=segment))
        context["counts"] = care.segment_counts()
    else:
        result = page_of(care.to_call())
        context["result"] = result
        context["phones"] = refunds.shopper_phones(result["items"])
    return render("staff/care/page.html", **context)


@bp.get("/care")
@page_login_required(CS)
def care_page():
    """Today's care list (``?tab=lapsed``), the contact log, the segments, the vouchers
    that expired unused."""
    return _page()


@bp.post("/care/contacts")
@page_login_required(CS)
def log_care_contact():
    """Log a call or WeChat message to a customer, with its outcome."""
    form = {
        "shopper_id": request.form.get("shopper_id", ""),
        "channel": request.form.get("channel", ""),
        "outcome": request.form.get("outcome", ""),
        "note": request.form.get("note", "").strip(),
    }

    def log():
        data = load(CareContactCreateSchema(), {**form, "shopper_id": _int(form["shopper_id"])})
        return care.log_contact(current_user(), **data)

    act(log, _page)
    flash(t("staff_care.logged"))
    return redirect(url_for("staff.care_page", tab="lapsed"), code=303)


def _int(raw: str) -> int | str:
    return int(raw) if is_number(raw) else raw
