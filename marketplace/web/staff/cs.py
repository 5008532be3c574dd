"""Customer service's pages (role ``cs``; the general manager holds it too): the refund
queue, the ticket dashboard with its SLA clocks and the conversations, the expired-unused
vouchers to call about, the Moments proofs to verify and the distributor applications.

Each page calls what its API route calls, with the route's role (``auth_required(Role.CS)``
in ``refunds/api.py``, ``tickets/api.py``, ``distribution/api.py``), so the same actions are
audited the same way:

- refunds: ``refunds.service.cs_queue`` (``queue`` with the requests stuck after provider
  failures first), ``approve_and_pay`` (with the form's Idempotency-Key), ``reject``;
- tickets: ``tickets.service.awaiting_first_response`` and ``seconds_left`` (the
  dashboard's clock), ``list_for``, ``get_ticket``, ``reply``, ``close``;
- ``refunds.service.expired_unused``; ``distribution.streaks.proofs``, ``review_proof``;
  ``distribution.distributors.list_distributors``, ``review_application``.
"""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.clock import local_zone, now
from marketplace.core.fields import ReasonSchema
from marketplace.core.files import image_mimetype
from marketplace.core.pagination import paginate
from marketplace.distribution import distributors, streaks
from marketplace.distribution.models import DistributorStatus, ProofStatus
from marketplace.distribution.schemas import ProofReviewSchema
from marketplace.refunds import service as refunds
from marketplace.refunds.models import RefundStatus
from marketplace.refunds.schemas import RefundDecisionSchema, RefundQueueItemSchema
from marketplace.tickets import service as tickets
from marketplace.tickets.models import TicketKind, TicketStatus
from marketplace.tickets.schemas import ReplySchema
from marketplace.tickets.sla import running_until
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import act, choice, load, new_key, page_of, render
from marketplace.web.texts import t

CS = Role.CS

menu_item("staff.refunds_queue", "staff_cs.menu_refunds", CS, order=50)
menu_item("staff.tickets_dashboard", "staff_cs.menu_tickets", CS, order=51)
menu_item("staff.expired_vouchers", "staff_cs.menu_expired", CS, order=52)
menu_item("staff.moments", "staff_cs.menu_moments", CS, order=53)
menu_item("staff.applications", "staff_cs.menu_applications", CS, order=54)


@bp.app_template_filter("waited")
def waited(seconds: int | float) -> str:
    """A wait or a time left in words: "2 天 3 小时", "3 小时 12 分", "45 秒"."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return t("staff_ops.days_hours", days=days, hours=hours)
    if hours:
        return t("staff_ops.hours_minutes", hours=hours, minutes=minutes)
    if minutes:
        return t("staff_ops.minutes_seconds", minutes=minutes, seconds=secs)
    return t("staff_ops.seconds", seconds=secs)


@bp.app_template_global("staff_cs_panel")
def cs_panel() -> dict[str, Any]:
    """The figures of customer service's landing panel (``templates/staff/home/_cs.html``)."""
    queue = refunds.queue_summary()
    waited_since = queue["oldest_at"]
    return {
        "refunds": queue,
        "oldest_wait": int((now() - waited_since).total_seconds()) if waited_since else None,
        "tickets": tickets.sla_summary(),
        "proofs": paginate(streaks.proofs({"status": ProofStatus.SUBMITTED.value}), 1, 1)["total"],
        "applications": paginate(
            distributors.list_distributors(DistributorStatus.APPLIED.value), 1, 1
        )["total"],
    }


# -- refunds -------------------------------------------------------------------------------

REFUND_FILTERS = [s.value for s in RefundStatus]


def _refunds_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    wanted = choice("status", REFUND_FILTERS)
    result = page_of(refunds.cs_queue(wanted))
    waits = RefundQueueItemSchema()  # the API's "waited_seconds"
    return render(
        "staff/cs/refunds.html",
        status=status,
        problem=problem,
        result=result,
        wanted=wanted,
        statuses=REFUND_FILTERS,
        waited={r.id: waits.dump_waited(r) for r in result["items"]},
        key=new_key(),
    )


@bp.get("/cs/refunds")
@page_login_required(CS)
def refunds_queue():
    """The refund queue: open requests (or those in ``?status=``), stuck ones first, then
    oldest first, with the shopper's phone and how long they have waited."""
    return _refunds_page()


@bp.post("/cs/refunds/<int:request_id>/approve")
@page_login_required(CS)
def approve_refund(request_id: int):
    """Approve and pay back at once (``approve_and_pay``, which commits its own steps);
    on a request stuck after provider failures it tries the provider again."""
    key = request.form.get("key", "")[:80] or None

    def approve() -> Any:
        form = load(RefundDecisionSchema(), {"note": request.form.get("note", "").strip()})
        return refunds.approve_and_pay(request_id, current_user(), note=form["note"], key=key)

    refund = act(approve, _refunds_page)
    outcome = {
        RefundStatus.REFUNDED.value: "staff_cs.refund_paid",
        RefundStatus.APPROVED_PENDING_REFUND.value: "staff_cs.refund_waiting",
        RefundStatus.FAILED.value: "staff_cs.refund_failed",
    }.get(refund.status, "staff_cs.refund_paid")
    flash(t(outcome, id=refund.id))
    return redirect(_back("staff.refunds_queue"), code=303)


@bp.post("/cs/refunds/<int:request_id>/reject")
@page_login_required(CS)
def reject_refund(request_id: int):
    """Reject, telling the shopper why (the note is required, as the domain says)."""
    note = request.form.get("note", "").strip()
    act(
        lambda: refunds.reject(
            request_id, current_user(), note=load(RefundDecisionSchema(), {"note": note})["note"]
        ),
        _refunds_page,
    )
    flash(t("staff_cs.refund_rejected", id=request_id))
    return redirect(_back("staff.refunds_queue"), code=303)


def _back(endpoint: str, **values: Any) -> str:
    """The list the form was posted from, with its filters and page (same site only)."""
    target = request.form.get("back", "")
    if target.startswith(url_for(endpoint, **values)) and "//" not in target:
        return target
    return url_for(endpoint, **values)


# -- tickets -------------------------------------------------------------------------------

TICKET_VIEWS = ["waiting", *[s.value for s in TicketStatus]]
KINDS = [k.value for k in TicketKind]


def _ticket_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    moment = now()
    return [
        {"ticket": ticket, "seconds_left": tickets.seconds_left(ticket, moment)}
        for ticket in result["items"]
    ]


def _tickets_context() -> dict[str, Any]:
    view = choice("view", TICKET_VIEWS, "waiting")
    kind = choice("kind", KINDS)
    if view == "waiting":
        late = {"late": True, "on_time": False}.get(request.args.get("late", ""))
        result = page_of(tickets.awaiting_first_response(kind=kind, late=late))
    else:
        result = page_of(tickets.list_for(current_user(), view, kind=kind))
    moment = now()
    until = running_until(moment, local_zone())
    return {
        "view": view,
        "kind": kind,
        "late": request.args.get("late", ""),
        "views": TICKET_VIEWS,
        "kinds": KINDS,
        "result": result,
        "rows": _ticket_rows(result),
        # the clocks run until this instant (ms since the epoch); 0: outside service hours
        "running_until": int(until.timestamp() * 1000) if until else 0,
        "rendered_at": int(moment.timestamp() * 1000),
    }


@bp.get("/cs/tickets")
@page_login_required(CS)
def tickets_dashboard():
    """Tickets waiting for a first reply with their SLA clocks (service seconds left, late
    ones in red), or the conversations by status."""
    return render("staff/cs/tickets.html", **_tickets_context())


@bp.get("/cs/tickets/rows")
@page_login_required(CS)
def ticket_rows():
    """The dashboard's table again (htmx, every 30 s): the clocks set right by the server."""
    return render("staff/cs/_ticket_rows.html", **_tickets_context())


def _ticket_page(ticket_id: int, problem: str | None = None, status: int = 200) -> FlaskResponse:
    ticket = tickets.get_ticket(ticket_id, current_user())
    return render(
        "staff/cs/ticket.html",
        status=status,
        problem=problem,
        ticket=ticket,
        seconds_left=tickets.seconds_left(ticket) if ticket.first_responded_at is None else None,
        body=request.form.get("body", ""),
    )


@bp.get("/cs/tickets/<int:ticket_id>")
@page_login_required(CS)
def ticket(ticket_id: int):
    """One conversation: the messages, a reply (the first one stops the clock), close."""
    return _ticket_page(ticket_id)


@bp.post("/cs/tickets/<int:ticket_id>/replies")
@page_login_required(CS)
def reply_ticket(ticket_id: int):
    def again(**kwargs: Any) -> FlaskResponse:
        return _ticket_page(ticket_id, **kwargs)

    act(
        lambda: tickets.reply(
            ticket_id,
            current_user(),
            load(ReplySchema(), {"body": request.form.get("body", "").strip()})["body"],
        ),
        again,
    )
    flash(t("staff_cs.reply_sent"))
    return redirect(url_for("staff.ticket", ticket_id=ticket_id), code=303)


@bp.post("/cs/tickets/<int:ticket_id>/close")
@page_login_required(CS)
def close_ticket(ticket_id: int):
    act(
        lambda: tickets.close(ticket_id, current_user()),
        lambda **kwargs: _ticket_page(ticket_id, **kwargs),
    )
    flash(t("staff_cs.ticket_closed", id=ticket_id))
    return redirect(url_for("staff.ticket", ticket_id=ticket_id), code=303)


# -- expired-unused vouchers ---------------------------------------------------------------


@bp.get("/cs/vouchers/expired")
@page_login_required(CS)
def expired_vouchers():
    """Vouchers that expired unused, the longest expired first: whom to call."""
    result = page_of(refunds.expired_unused())
    return render(
        "staff/cs/expired.html", result=result, phones=refunds.shopper_phones(result["items"])
    )


# -- Moments proofs ------------------------------------------------------------------------

PROOF_FILTERS = [s.value for s in ProofStatus]


def _moments_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    wanted = choice("status", PROOF_FILTERS, ProofStatus.SUBMITTED.value)
    result = page_of(streaks.proofs({"status": wanted}))
    return render(
        "staff/cs/moments.html",
        status=status,
        problem=problem,
        result=result,
        wanted=wanted,
        statuses=PROOF_FILTERS,
    )


@bp.get("/cs/moments")
@page_login_required(CS)
def moments():
    """Distributors' daily Moments proofs to verify (oldest first), with their screenshots."""
    return _moments_page()


@bp.get("/cs/moments/<int:proof_id>/screenshot")
@page_login_required(CS)
def moments_screenshot(proof_id: int):
    proof, data = streaks.proof_screenshot(proof_id)
    response = FlaskResponse(data, mimetype=image_mimetype(proof.file_key))
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/cs/moments/<int:proof_id>/review")
@page_login_required(CS)
def review_moments(proof_id: int):
    def review() -> Any:
        form = load(
            ProofReviewSchema(),
            {
                "verified": request.form.get("verified", ""),
                "note": request.form.get("note", "").strip(),
            },
        )
        return streaks.review_proof(proof_id, form["verified"], current_user(), note=form["note"])

    proof = act(review, _moments_page)
    flash(t(f"staff_cs.proof_{proof.status}"))
    return redirect(_back("staff.moments"), code=303)


# -- distributor applications --------------------------------------------------------------

DISTRIBUTOR_FILTERS = [s.value for s in DistributorStatus]


def _applications_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    wanted = choice("status", DISTRIBUTOR_FILTERS, DistributorStatus.APPLIED.value)
    return render(
        "staff/cs/applications.html",
        status=status,
        problem=problem,
        result=page_of(distributors.list_distributors(wanted)),
        wanted=wanted,
        statuses=DISTRIBUTOR_FILTERS,
    )


@bp.get("/cs/distributors")
@page_login_required(CS)
def applications():
    """Applications to join as a distributor (join policy ``application``), and every
    distributor by status."""
    return _applications_page()


@bp.post("/cs/distributors/<int:distributor_id>/<any(approve, reject):decision>")
@page_login_required(CS)
def review_application(distributor_id: int, decision: str):
    def review() -> Any:
        reason = load(ReasonSchema(), {"reason": request.form.get("reason", "").strip()})
        return distributors.review_application(
            distributors.get_distributor(distributor_id),
            decision == "approve",
            current_user(),
            reason=reason["reason"],
        )

    act(review, _applications_page)
    flash(
        t(
            "staff_cs.application_approved"
            if decision == "approve"
            else "staff_cs.application_rejected"
        )
    )
    return redirect(_back("staff.applications"), code=303)
