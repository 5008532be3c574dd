"""HTTP routes of deals: BD and editors manage them, shoppers browse the catalog."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import time
from types import SimpleNamespace
from typing import Any

import flask_smorest
from flask import current_app, request

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core import cache
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.clock import local_today
from marketplace.core.db import db
from marketplace.core.errors import NotFound
from marketplace.core.fields import ReasonSchema
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.deals import catalog, publishing, service, weekly
from marketplace.deals.schemas import (
    CATALOG_PARAMS,
    CatalogArgsSchema,
    CatalogPageSchema,
    DealCreateSchema,
    DealPageSchema,
    DealStaffSchema,
    DealUpdateSchema,
    HomeSchema,
    ImageUploadSchema,
    ManageArgsSchema,
    PopupBookingCreateSchema,
    PopupBookingSchema,
    PriceChangeSchema,
    ScheduleSchema,
    SlotArgsSchema,
    SlotCalendarSchema,
    WeeklyPageSchema,
)
from marketplace.distribution import distributors
from marketplace.providers.storage import public_image

blp = Blueprint("deals", __name__, description="Deals, publishing slots, popup days, catalog")
# At the root like /healthz: images are linked from pages, not part of the JSON API.
media = flask_smorest.Blueprint(
    "media", __name__, url_prefix="/media", description="Public deal images"
)
EDITORS = (Role.BD, Role.EDITOR)


# One instance for every request: webargs would otherwise build the schema (and copy its
# fields) on each catalog read that misses the cache.
CATALOG_ARGS = CatalogArgsSchema()
NOT_MODIFIED = "the client's copy is current (If-None-Match with the ETag it holds)"


# -- staff: deals --------------------------------------------------------------------------


@blp.post("/deals")
@auth_required(*EDITORS)
@blp.arguments(DealCreateSchema)
@blp.response(201, DealStaffSchema)
def create_deal(body: dict):
    """Create a draft deal (flash, small_set or large_set) under its type's rules

    422 codes: flash_margin_not_zero, flash_stock_required, flash_stock_too_large,
    flash_window_required, flash_commission_unfunded, settlement_above_sale,
    party_size_invalid, commission_exceeds_margin, street_margin_too_low,
    list_price_below_sale, validity_required, deal_rules_violated (several at once)."""
    deal = service.create_deal(
        body, current_user(), max_tier_bonus=distributors.largest_tier_bonus()
    )
    db.session.commit()
    return deal


@blp.patch("/deals/<int:deal_id>")
@auth_required(*EDITORS)
@blp.arguments(DealUpdateSchema)
@blp.response(200, DealStaffSchema)
@documents_errors(404, 409)
def update_deal(body: dict, deal_id: int):
    """Edit a deal (send the version you read); money changes after draft are kept as
    price history"""
    version = body.pop("version")
    deal = service.update_deal(
        service.get_deal(deal_id),
        body,
        version,
        current_user(),
        max_tier_bonus=distributors.largest_tier_bonus(),
    )
    db.session.commit()
    return deal


@blp.get("/manage/deals")
@auth_required(*EDITORS)
@blp.arguments(ManageArgsSchema, location="query")
@blp.response(200, page_of(DealStaffSchema))
def manage_deals(args: dict):
    """Every deal in any status, for BD and editors"""
    page, page_size = args.pop("page"), args.pop("page_size")
    return paginate(service.manage_query(args), page, page_size)


@blp.get("/manage/deals/<int:deal_id>")
@auth_required(*EDITORS)
@blp.response(200, DealStaffSchema)
@documents_errors(404)
def manage_deal(deal_id: int):
    """One deal with its economics, for BD and editors"""
    return service.get_deal(deal_id)


@blp.get("/deals/<int:deal_id>/price-history")
@auth_required(*EDITORS)
@blp.response(200, PriceChangeSchema(many=True))
@documents_errors(404)
def price_history(deal_id: int):
    """Money changes made after the deal left draft, newest first"""
    return service.price_history(service.get_deal(deal_id))


@blp.post("/deals/<int:deal_id>/pause")
@auth_required(Role.BD)
@blp.arguments(ReasonSchema)
@blp.response(200, DealStaffSchema)
@documents_errors(404, 409)
def pause_deal(body: dict, deal_id: int):
    """Take a live (or sold-out) deal off sale"""
    deal = service.pause(service.get_deal(deal_id), current_user(), reason=body["reason"])
    db.session.commit()
    return deal


@blp.post("/deals/<int:deal_id>/resume")
@auth_required(Role.BD)
@blp.arguments(ReasonSchema)
@blp.response(200, DealStaffSchema)
@documents_errors(404, 409)
def resume_deal(body: dict, deal_id: int):
    """Put a paused deal back on sale"""
    deal = service.resume(service.get_deal(deal_id), current_user(), reason=body["reason"])
    db.session.commit()
    return deal


@blp.post("/deals/<int:deal_id>/images")
@auth_required(*EDITORS)
@blp.arguments(ImageUploadSchema, location="multipart")
@blp.response(201, DealStaffSchema)
@documents_errors(404, 409, 413)
def upload_image(body: dict, deal_id: int):
    """Upload a picture (JPEG, PNG or WebP, ≤ 5 MiB); its URL is appended to images"""
    deal = service.get_deal(deal_id)
    service.add_image(deal, body["file"].read(), current_user())
    db.session.commit()
    return deal


# -- staff: publishing ---------------------------------------------------------------------


@blp.post("/deals/<int:deal_id>/schedule")
@auth_required(*EDITORS)
@blp.arguments(ScheduleSchema)
@blp.response(200, DealStaffSchema)
@documents_errors(404, 409)
def schedule_deal(body: dict, deal_id: int):
    """Put a deal in a publishing slot (date + 10:00 or 15:00, Asia/Shanghai); one deal per
    slot (409 slot_taken); the merchant must be live (409 merchant_not_live)"""
    hour, minute = (int(x) for x in body["slot"].split(":"))
    deal = publishing.schedule(
        service.get_deal(deal_id), body["date"], time(hour, minute), current_user()
    )
    db.session.commit()
    return deal


@blp.delete("/deals/<int:deal_id>/schedule")
@auth_required(*EDITORS)
@blp.response(200, DealStaffSchema)
@documents_errors(404, 409)
def unschedule_deal(deal_id: int):
    """Take a scheduled deal out of its slot (back to draft)"""
    deal = publishing.unschedule(service.get_deal(deal_id), current_user())
    db.session.commit()
    return deal


@blp.get("/publishing-slots")
@auth_required(*EDITORS)
@blp.arguments(SlotArgsSchema, location="query")
@blp.response(200, SlotCalendarSchema)
def publishing_slots(args: dict):
    """The coming slots and which are empty: the platform must never skip a day"""
    return publishing.calendar(args.get("start") or local_today(), args["days"])


@blp.post("/popup-bookings")
@auth_required(Role.BD)
@blp.arguments(PopupBookingCreateSchema)
@blp.response(201, PopupBookingSchema)
@documents_errors(404, 409)
def book_popup(body: dict):
    """Promise a deal the home-page popup on a day (409 popup_day_taken)"""
    booking = publishing.book_popup(
        service.get_deal(body["deal_id"]), body["date"], current_user(), note=body["note"]
    )
    db.session.commit()
    return booking


@blp.get("/popup-bookings")
@auth_required(Role.BD)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(PopupBookingSchema))
def list_popup_bookings(args: dict):
    """Popup promises from today on"""
    return paginate(publishing.popup_bookings(local_today()), args["page"], args["page_size"])


@blp.delete("/popup-bookings/<int:booking_id>")
@auth_required(Role.BD)
@blp.response(204)
@documents_errors(404)
def cancel_popup_booking(booking_id: int):
    """Withdraw a popup promise"""
    publishing.cancel_popup(booking_id, current_user())
    db.session.commit()


# -- the public catalog --------------------------------------------------------------------


# The catalog's answers come from the cache as ready bytes (``core.cache``): a hit sends
# them as they are, with an ETag; the schemas serialise only when an entry is rebuilt.


def _query_as_sent() -> dict[str, list[str]]:
    """The catalog's parameters as the client sent them, unknown ones (cache busters,
    tracking tags) left out: the list's cache key, known before any parsing."""
    return {
        name: request.args.getlist(name) for name in sorted(CATALOG_PARAMS & request.args.keys())
    }


def _list_from_cache(view: Callable) -> Callable:
    """Answer the list from a fresh cache entry before its parameters are parsed: an entry
    exists only for parameters that parsed (it is stored by the view, after webargs), so a
    hit skips the parsing and a malformed query still gets its 422 from the view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        entry = cache.fresh("deals", _query_as_sent())
        return entry.response() if entry is not None else view(*args, **kwargs)

    return wrapper


@blp.get("/deals")
@_list_from_cache
@blp.arguments(CATALOG_ARGS, location="query")
@blp.response(200, CatalogPageSchema)
@blp.alt_response(304, description=NOT_MODIFIED)
def list_deals(args: dict):
    """Live deals: filter by category, type, q (title or shop), near=lat,lng within radius
    metres (adds distance_m); sort by distance, newest, popularity (units sold in the last
    7 days) or grade. Public."""
    page, page_size = args.pop("page"), args.pop("page_size")

    def build():
        return CatalogPageSchema().dump(catalog.search(args, page, page_size))

    return cache.cached_answer("deals", _query_as_sent(), build).response()


@blp.get("/deals/<int:deal_id>")
@blp.response(200, DealPageSchema)
@blp.alt_response(304, description=NOT_MODIFIED)
@documents_errors(404)
def get_deal(deal_id: int):
    """A deal's page: merchant, grade, address, location, usage rules, stock left, sold
    count and the customer-service phone. Public."""

    def build():
        listed = catalog.visible_deal(deal_id)
        page = SimpleNamespace(**vars(listed), cs_phone=current_app.config["LINLI_CS_PHONE"])
        return DealPageSchema().dump(page)

    return cache.cached_answer("deal", {"id": deal_id}, build).response()


@blp.get("/home")
@blp.response(200, HomeSchema)
@blp.alt_response(304, description=NOT_MODIFIED)
def home():
    """Today's popup deal (or null), categories with live deal counts, today's new deals,
    the customer-service phone. Public."""

    def build():
        return HomeSchema().dump(
            {**catalog.home(), "cs_phone": current_app.config["LINLI_CS_PHONE"]}
        )

    return cache.cached_answer("home", {"day": local_today().isoformat()}, build).response()


@media.get("/deals/<int:deal_id>/<string:name>")
@media.response(200, content_type="image/*", description="the image bytes")
@documents_errors(404)
def deal_image(deal_id: int, name: str):
    """A deal picture uploaded by staff"""
    return public_image(f"deals/{deal_id}/{name}")


@blp.get("/weekly-hot")
@blp.response(200, WeeklyPageSchema)
@documents_errors(404)
def weekly_hot():
    """This week's page of hot, high-commission deals (made Fridays at 17:00). Public."""
    page = weekly.latest_page()
    if page is None:
        raise NotFound("No weekly page yet.", code="weekly_page_not_found")
    return page
