"""HTTP routes of the giveaway: shoppers see campaigns and enter; BD creates campaigns;
customer service reviews the entries and closes a campaign now (the job closes it at the
window's end with the same function)."""

from __future__ import annotations

from flask import Response

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import page_of, paginate
from marketplace.giveaway import service
from marketplace.giveaway.errors import EntryNotFound
from marketplace.giveaway.schemas import (
    GiveawayCampaignArgsSchema,
    GiveawayCampaignCreateSchema,
    GiveawayCampaignDetailSchema,
    GiveawayCampaignSchema,
    GiveawayCloseSummarySchema,
    GiveawayEntryArgsSchema,
    GiveawayEntrySchema,
    GiveawayEntryUploadSchema,
    GiveawayReviewSchema,
    GiveawayStaffEntrySchema,
)

blp = Blueprint("giveaway", __name__, description="The weekly free-meal giveaway (霸王餐)")


@blp.get("/giveaways")
@blp.arguments(GiveawayCampaignArgsSchema, location="query")
@blp.response(200, page_of(GiveawayCampaignSchema))
def list_campaigns(args: dict):
    """Giveaway campaigns, newest first (anyone)"""
    return paginate(service.campaigns(args.get("status")), args["page"], args["page_size"])


@blp.get("/giveaways/<int:campaign_id>")
@blp.response(200, GiveawayCampaignDetailSchema)
@documents_errors(404)
def get_campaign(campaign_id: int):
    """One campaign with its winners once decided (anyone)"""
    return service.get_campaign(campaign_id)


@blp.post("/giveaways")
@auth_required(Role.BD)
@blp.arguments(GiveawayCampaignCreateSchema)
@blp.response(201, GiveawayCampaignSchema)
@documents_errors(409)
def create_campaign(body: dict):
    """Start a campaign: the deal, 5–10 meals, who pays, the entry window (24 h)"""
    campaign = service.create_campaign(current_user(), **body)
    db.session.commit()
    return campaign


@blp.post("/giveaways/<int:campaign_id>/entries")
@auth_required(Role.SHOPPER)
@blp.arguments(GiveawayEntryUploadSchema, location="multipart")
@blp.response(201, GiveawayEntrySchema)
@documents_errors(404, 409, 413)
def enter(body: dict, campaign_id: int):
    """Enter with a screenshot of the Moments post and its likes: once per shopper, the
    same image once per campaign, during the window (multipart: file, likes)"""
    entry = service.submit_entry(campaign_id, current_user(), body["file"].read(), body["likes"])
    db.session.commit()
    return entry


@blp.get("/giveaways/<int:campaign_id>/entries/me")
@auth_required(Role.SHOPPER)
@blp.response(200, GiveawayEntrySchema)
@documents_errors(404)
def my_entry(campaign_id: int):
    """My entry and its status"""
    service.get_campaign(campaign_id)
    entry = service.my_entry(campaign_id, current_user())
    if entry is None:
        raise EntryNotFound()
    return entry


@blp.get("/giveaways/<int:campaign_id>/entries")
@auth_required(Role.CS, Role.BD)
@blp.arguments(GiveawayEntryArgsSchema, location="query")
@blp.response(200, page_of(GiveawayStaffEntrySchema))
@documents_errors(404)
def list_entries(args: dict, campaign_id: int):
    """The campaign's entries, oldest first (customer service, BD)"""
    service.get_campaign(campaign_id)
    query = service.entries(campaign_id, args.get("status"))
    return paginate(query, args["page"], args["page_size"])


@blp.get("/giveaways/<int:campaign_id>/ranking")
@auth_required(Role.CS, Role.BD)
@blp.arguments(GiveawayEntryArgsSchema, location="query")
@blp.response(200, page_of(GiveawayStaffEntrySchema))
@documents_errors(404)
def ranking(args: dict, campaign_id: int):
    """Verified entries by verified likes, ties by the earlier entry"""
    service.get_campaign(campaign_id)
    return paginate(service.ranking(campaign_id), args["page"], args["page_size"])


@blp.get("/giveaway-entries/<int:entry_id>/screenshot")
@auth_required(Role.SHOPPER, Role.CS, Role.BD)
@blp.response(200, description="the image")
@documents_errors(404)
def entry_screenshot(entry_id: int):
    """An entry's screenshot (its shopper, customer service, BD)"""
    user = current_user()
    entry, data = service.screenshot(entry_id, user, staff=user.has_role(Role.CS, Role.BD))
    mimetype = service.mimetype_of(entry)
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "private, max-age=300"})


@blp.post("/giveaway-entries/<int:entry_id>/review")
@auth_required(Role.CS)
@blp.arguments(GiveawayReviewSchema)
@blp.response(200, GiveawayStaffEntrySchema)
@documents_errors(404, 409)
def review(body: dict, entry_id: int):
    """Verify an entry with the likes counted, or reject it with a reason (audited)"""
    entry = service.review_entry(entry_id, current_user(), **body)
    db.session.commit()
    return entry


@blp.post("/giveaways/<int:campaign_id>/close")
@auth_required(Role.CS)
@blp.response(200, GiveawayCloseSummarySchema)
@documents_errors(404)
def close(campaign_id: int):
    """Close now: decide the winners, issue their free vouchers and send the messages (what
    the close_giveaways job does at the window's end; a repeat changes nothing)"""
    return service.close_campaign(campaign_id, actor_id=current_user().id, early=True)
