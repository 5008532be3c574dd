"""The free-meal giveaway's pages for shoppers: the campaign (rules, the countdown to the
window's end, my entry and its status, the winners once decided), the entry form with the
screenshot upload, and the link on the home page while a campaign takes entries.

The handlers call what ``giveaway/api.py`` calls (``giveaway.service``); a refused entry
(the window closed, a second entry, the same screenshot, not an image, too large) is the
form again with the API's status and the code's sentence."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.giveaway import service
from marketplace.giveaway.models import Campaign
from marketplace.giveaway.schemas import GiveawayEntryUploadSchema
from marketplace.web.session import page_login_required, signed_in
from marketplace.web.shop.views import bp
from marketplace.web.texts import error_sentence, t


@bp.app_template_global("open_giveaways")
def open_giveaways() -> list[Campaign]:
    """Campaigns taking entries now (the home page's link)."""
    return service.open_campaigns()


def _my_entry(campaign: Campaign):
    principal = signed_in()
    if principal is None or Role.SHOPPER not in principal.roles:
        return None
    return service.my_entry(campaign.id, current_user())


@bp.get("/giveaways/<int:campaign_id>")
def giveaway(campaign_id: int):
    """The campaign: rules, countdown, my entry, the winners once decided."""
    campaign = service.get_campaign(campaign_id)
    return render_template(
        "shop/giveaway/campaign.html",
        campaign=campaign,
        entry=_my_entry(campaign),
        taking=service.taking_entries(campaign),
        seconds_left=service.seconds_left(campaign),
        winners=service.winners(campaign.id),
    )


def _form(campaign: Campaign, status: int = 200, **context: Any) -> Response:
    html = render_template(
        "shop/giveaway/enter.html",
        campaign=campaign,
        seconds_left=service.seconds_left(campaign),
        likes=request.form.get("likes", ""),
        **{"problem": None, "invalid": [], **context},
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/giveaways/<int:campaign_id>/enter")
@page_login_required(Role.SHOPPER)
def giveaway_enter(campaign_id: int):
    """The entry form (a shopper who entered already sees the campaign page)."""
    campaign = service.get_campaign(campaign_id)
    if service.my_entry(campaign.id, current_user()) is not None:
        return redirect(url_for("shop.giveaway", campaign_id=campaign.id))
    if not service.taking_entries(campaign):
        return _form(campaign, 409, problem=error_sentence("giveaway_window_closed", 409))
    return _form(campaign)


@bp.post("/giveaways/<int:campaign_id>/enter")
@page_login_required(Role.SHOPPER)
def giveaway_enter_post(campaign_id: int):
    campaign = service.get_campaign(campaign_id)
    upload = request.files.get("screenshot")
    try:
        errors = GiveawayEntryUploadSchema(only=("likes",)).validate(
            {"likes": request.form.get("likes", "").strip()}
        )
        if errors:
            raise InvalidInput(fields=errors)
        if upload is None or not upload.filename:
            raise InvalidInput(fields={"file": ["Choose the screenshot."]})
        likes = int(request.form["likes"].strip())
        service.submit_entry(campaign.id, current_user(), upload.read(), likes)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        named = [n for n in (error.fields or {}) if not n.startswith("_")]
        if error.code == "validation_error" and named:
            problem = t("giveaway.fix_" + ("likes" if "likes" in named else "file"))
        else:
            problem = error_sentence(error.code, error.status)
        return _form(campaign, error.status, problem=problem, invalid=named)
    flash(t("giveaway.entered"))
    return redirect(url_for("shop.giveaway", campaign_id=campaign.id), code=303)


@bp.get("/giveaways/entries/<int:entry_id>/screenshot")
@page_login_required(Role.SHOPPER)
def giveaway_screenshot(entry_id: int):
    """My entry's screenshot (another shopper's is a 404)."""
    entry, data = service.screenshot(entry_id, current_user(), staff=False)
    mimetype = service.mimetype_of(entry)
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
