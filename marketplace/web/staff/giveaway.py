"""The free-meal giveaway in the staff console: BD (and the general manager) start a
campaign; customer service looks at the entries with their screenshots, verifies each with
the likes it counted or rejects it with a reason, reads the ranking and closes a campaign
now. Each page takes its API route's roles (``giveaway/api.py``): creating is ``bd``'s,
reviewing and closing ``cs``'s, reading both; the general manager holds every role.

Handlers call what the API calls (``giveaway.service``): closing now is
``close_campaign(..., early=True)``, the function the ``close_giveaways`` job runs."""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.giveaway import service
from marketplace.giveaway.models import EntryStatus
from marketplace.giveaway.schemas import GiveawayCampaignCreateSchema, GiveawayReviewSchema
from marketplace.web.routing import is_number
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import act, choice, load, page_of, render
from marketplace.web.texts import t

CS, BD = Role.CS, Role.BD
ENTRY_FILTERS = [s.value for s in EntryStatus]

menu_item("staff.giveaways", "staff_giveaway.menu", CS, BD, order=75)


def _list_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    user = current_user()
    creates = user.has_role(BD)
    return render(
        "staff/giveaway/list.html",
        status=status,
        problem=problem,
        result=page_of(service.campaigns()),
        creates=creates,
        deals=service.eligible_deals() if creates else [],
        form=request.form,
        default_hours=service.DEFAULT_WINDOW_HOURS,
    )


@bp.get("/giveaways")
@page_login_required(CS, BD)
def giveaways():
    """Every campaign, newest first; BD's form to start one."""
    return _list_page()


@bp.post("/giveaways")
@page_login_required(BD)
def create_giveaway():
    def create() -> Any:
        data: dict[str, Any] = {
            key: request.form.get(key, "").strip()
            for key in ("deal_id", "meals", "payer", "window_hours")
            if request.form.get(key, "").strip()
        }
        for key in ("deal_id", "meals", "window_hours"):  # the API's numbers are JSON numbers
            if is_number(data.get(key, "")):
                data[key] = int(data[key])
        form = load(GiveawayCampaignCreateSchema(), data)
        return service.create_campaign(current_user(), **form)

    campaign = act(create, _list_page)
    flash(t("staff_giveaway.created", id=campaign.id))
    return redirect(url_for("staff.giveaway_detail", campaign_id=campaign.id), code=303)


def _detail(campaign_id: int, problem: str | None = None, status: int = 200) -> FlaskResponse:
    campaign = service.get_campaign(campaign_id)
    wanted = choice("status", ENTRY_FILTERS)
    return render(
        "staff/giveaway/detail.html",
        status=status,
        problem=problem,
        campaign=campaign,
        result=page_of(service.entries(campaign.id, wanted), path={"campaign_id": campaign.id}),
        ranking=page_of(service.ranking(campaign.id), page_size=campaign.meals + 10),
        wanted=wanted,
        statuses=ENTRY_FILTERS,
        reviews=current_user().has_role(CS),
        taking=service.taking_entries(campaign),
        seconds_left=service.seconds_left(campaign),
    )


@bp.get("/giveaways/<int:campaign_id>")
@page_login_required(CS, BD)
def giveaway_detail(campaign_id: int):
    """The campaign's entries with their screenshots (``?status=``), the ranking, and
    customer service's verify / reject / close-now forms."""
    return _detail(campaign_id)


@bp.get("/giveaways/entries/<int:entry_id>/screenshot")
@page_login_required(CS, BD)
def giveaway_entry_screenshot(entry_id: int):
    entry, data = service.screenshot(entry_id, current_user(), staff=True)
    response = FlaskResponse(data, mimetype=service.mimetype_of(entry))
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.post("/giveaways/entries/<int:entry_id>/review")
@page_login_required(CS)
def review_giveaway_entry(entry_id: int):
    entry = service.get_entry(entry_id)

    def review() -> Any:
        data = {
            "verified": request.form.get("verified", ""),
            "reason": request.form.get("reason", "").strip(),
        }
        likes = request.form.get("likes", "").strip()
        if likes:  # the API's likes are a JSON number; anything else is refused by the schema
            data["likes"] = int(likes) if is_number(likes) else likes
        form = load(GiveawayReviewSchema(), data)
        return service.review_entry(entry_id, current_user(), **form)

    reviewed = act(review, lambda **kw: _detail(entry.campaign_id, **kw))
    flash(t(f"staff_giveaway.entry_{reviewed.status}", id=reviewed.id))
    return redirect(_back(entry.campaign_id), code=303)


@bp.post("/giveaways/<int:campaign_id>/close")
@page_login_required(CS)
def close_giveaway(campaign_id: int):
    """Close now: what the job does at the window's end (a repeat changes nothing)."""
    service.get_campaign(campaign_id)
    summary = act(
        lambda: service.close_campaign(campaign_id, actor_id=current_user().id, early=True),
        lambda **kw: _detail(campaign_id, **kw),
    )
    flash(t("staff_giveaway.closed", prizes=summary["prizes"], messages=summary["messages"]))
    return redirect(url_for("staff.giveaway_detail", campaign_id=campaign_id), code=303)


def _back(campaign_id: int) -> str:
    back = request.form.get("back", "")
    prefix = url_for("staff.giveaway_detail", campaign_id=campaign_id)
    return back if back.startswith(prefix) else prefix
