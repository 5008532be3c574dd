"""What the shoppers' pages show: the catalog functions the API calls, dumped by the API's
own schemas and cached the same way (the catalog's generation and the clock's minute), so
a page and ``GET /api/v1/...`` always tell the same story and a busy page is one Redis read.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import marshmallow as ma
from flask import current_app

from marketplace.core.cache import cached_json
from marketplace.core.clock import local_today, now
from marketplace.deals import catalog
from marketplace.deals.availability import unavailable_reason
from marketplace.deals.schemas import (
    CatalogPageSchema,
    DealPageSchema,
    HomeSchema,
    MerchantBriefSchema,
)
from merchants.schemas import BusinessHoursSchema


class ShopMerchantSchema(MerchantBriefSchema):
    """The deal page also shows the shop's opening hours."""

    business_hours = ma.fields.List(ma.fields.Nested(BusinessHoursSchema))
    hours_note = ma.fields.String()


class DealViewSchema(DealPageSchema):
    """The API's deal page, the shop's hours, and why it cannot be bought (if it cannot)."""

    merchant = ma.fields.Nested(ShopMerchantSchema, attribute="deal.merchant")
    unavailable = ma.fields.String(allow_none=True)


def _cached(name: str, params: dict[str, Any], build) -> dict[str, Any]:
    return json.loads(cached_json(f"page:{name}", params, build))


def home() -> dict[str, Any]:
    def build() -> dict[str, Any]:
        return HomeSchema().dump(
            {**catalog.home(), "cs_phone": current_app.config["LINLI_CS_PHONE"]}
        )

    return _cached("home", {"day": local_today().isoformat()}, build)


def search(args: dict[str, Any], page: int, page_size: int) -> dict[str, Any]:
    """One page of live deals (``catalog.search``'s filters and sorts)."""

    def build() -> dict[str, Any]:
        return CatalogPageSchema().dump(catalog.search(args, page, page_size))

    return _cached("deals", {**args, "page": page, "page_size": page_size}, build)


def deal(deal_id: int) -> dict[str, Any]:
    """A deal's page; ``DealNotFound`` (a 404 page) for drafts and unknown ids."""

    def build() -> dict[str, Any]:
        listed = catalog.visible_deal(deal_id)
        return DealViewSchema().dump(
            SimpleNamespace(
                **vars(listed),
                cs_phone=current_app.config["LINLI_CS_PHONE"],
                unavailable=unavailable_reason(listed.deal, now()),
            )
        )

    return _cached("deal", {"id": deal_id}, build)
