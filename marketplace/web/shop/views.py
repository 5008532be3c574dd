"""The shoppers' pages. Each handler parses, calls the catalog (through ``content``, the
same functions and schemas as the API) and renders; none holds a rule of its own."""

from __future__ import annotations

import math
from typing import Any

import marshmallow as ma
from flask import Blueprint, flash, redirect, render_template, request
from marshmallow import validate

from marketplace.core.clock import local_today
from marketplace.core.errors import InvalidInput, NotFound
from marketplace.deals.schemas import CatalogArgsSchema
from marketplace.web.routing import is_htmx_request
from marketplace.web.shop import content, location
from marketplace.web.texts import t

bp = Blueprint("shop", __name__)
PAGE_SIZE = 10
NEAR_HOME = 6
NEAR_HOME_RADIUS_M = 10_000
SORTS = ("newest", "popularity", "grade", "distance")


@bp.app_template_global()
def category_tone(slug: str | None) -> int:
    """One of eight colours per category: its place in the display order, so the eight
    default categories never share one (a category unknown here falls back to a hash)."""
    order = [c["slug"] for c in content.home()["categories"]]
    return order.index(slug) % 8 if slug in order else sum(map(ord, slug or "")) % 8


def _parse(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def _with_distances(items: list[dict[str, Any]], here: location.Here) -> list[dict[str, Any]]:
    for item in items:
        item["distance_m"] = here.distance_to(item["merchant"].get("location"))
    return items


@bp.get("/")
def home():
    """Today's popup, the categories with counts, today's new deals, deals near the
    shopper (or the city centre), the customer-service phone."""
    here = location.current()
    near = content.search(
        {"near": (here.lat, here.lng), "radius": NEAR_HOME_RADIUS_M, "sort": "distance"},
        1,
        NEAR_HOME,
    )
    data = content.home()
    return render_template(
        "shop/home.html",
        home=data,
        new_today=_with_distances(data["new_today"], here),
        near=_with_distances(near["items"], here),
        here=here,
        today=local_today().isoformat(),
    )


@bp.get("/deals")
def deals():
    """Live deals by category or search text, sorted and in pages."""
    here = location.current()
    query = {
        key: value.strip()
        for key in ("category", "q", "sort", "page")
        if (value := request.args.get(key, "")).strip()
    }
    query.setdefault("sort", "newest")
    if query["sort"] == "distance":
        query.update(near=here.near, radius=str(location.SERVICE_RADIUS_M))
    args = _parse(CatalogArgsSchema(), {**query, "page_size": PAGE_SIZE})
    page, page_size = args.pop("page"), args.pop("page_size")
    categories = content.home()["categories"]
    category = next((c for c in categories if c["slug"] == args.get("category")), None)
    if "category" in args and category is None:
        raise NotFound(code="category_not_found")
    result = content.search(args, page, page_size)
    context = {
        "items": _with_distances(result["items"], here),
        "page": page,
        "pages": max(1, math.ceil(result["total"] / page_size)),
        "total": result["total"],
        "query": {k: v for k, v in query.items() if k in ("category", "q", "sort")},
        "category": category,
        "categories": categories,
        "sorts": SORTS,
        "here": here,
    }
    if is_htmx_request():
        return render_template("shop/_deal_items.html", **context)
    return render_template("shop/list.html", **context)


@bp.get("/deals/<int:deal_id>")
def deal(deal_id: int):
    """A deal's page, with the buy button or the reason it is off."""
    here = location.current()
    data = content.deal(deal_id)
    return render_template(
        "shop/deal.html",
        deal=data,
        distance_m=here.distance_to(data["merchant"].get("location")),
        # The shopper's own limit (purchase_limit_reached) joins here with the page login.
        unavailable=data["unavailable"],
        here=here,
    )


class LocationFormSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # csrf_token

    use = ma.fields.String(required=True, validate=validate.OneOf(["device", "centre"]))
    lat = ma.fields.Float(validate=validate.Range(-90, 90))
    lng = ma.fields.Float(validate=validate.Range(-180, 180))
    next = ma.fields.String(load_default="/", validate=validate.Length(max=500))

    @ma.validates_schema
    def position_with_device(self, data: dict, **kwargs: object) -> None:
        if data["use"] == "device" and ("lat" not in data or "lng" not in data):
            raise ma.ValidationError("lat and lng come with use=device.", "lat")


def _local_path(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.post("/location")
def choose_location():
    """The shopper shares their position (filled in by the browser on consent) or goes
    back to the city centre."""
    form = _parse(LocationFormSchema(), request.form.to_dict())
    if form["use"] == "centre":
        location.forget()
        flash(t("location.saved_centre"))
    elif location.choose(form["lat"], form["lng"]):
        flash(t("location.saved_device"))
    else:
        flash(t("location.out_of_area"))
    return redirect(_local_path(form["next"]), code=303)
