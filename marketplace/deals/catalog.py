"""The shopper's catalog: what is on sale now, found by category, type, text and distance.

This is the hottest read path. Every function here costs a fixed number of queries however
many deals exist: merchants and categories are joined in, popularity is one grouped
subquery, and "near me" prefilters by a bounding box in SQL before exact distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, lazyload

from marketplace.core.clock import local_today, local_zone, now
from marketplace.core.db import db, escape_like
from marketplace.core.geo import bounding_box, distance_m
from marketplace.deals import popup
from marketplace.deals.availability import on_sale
from marketplace.deals.errors import DealNotFound
from marketplace.deals.models import VISIBLE_STATUSES, Deal, DealDailySales
from merchants.models import Category, Merchant

POPULARITY_DAYS = 7
NEW_TODAY_LIMIT = 20


@dataclass
class Listed:
    deal: Deal
    popularity: int
    distance_m: int | None = None


def _popularity():
    since = local_today() - timedelta(days=POPULARITY_DAYS - 1)
    return (
        sa.select(DealDailySales.deal_id, sa.func.sum(DealDailySales.units).label("units"))
        .where(DealDailySales.day >= since)
        .group_by(DealDailySales.deal_id)
        .subquery("popularity")
    )


def _base(popularity) -> sa.Select:
    return (
        sa.select(Deal, sa.func.coalesce(popularity.c.units, 0).label("popularity"))
        .join(Deal.merchant)
        .join(Merchant.category)
        .outerjoin(popularity, popularity.c.deal_id == Deal.id)
        .options(
            contains_eager(Deal.merchant).contains_eager(Merchant.category),
            lazyload(Deal.merchant, Merchant.owner),
        )
    )


def _filtered(query: sa.Select, filters: dict[str, Any]) -> sa.Select:
    query = query.where(*on_sale(now()))
    if "category" in filters:
        query = query.where(Category.slug == filters["category"])
    if "type" in filters:
        query = query.where(Deal.type == filters["type"])
    if filters.get("q"):
        pattern = f"%{escape_like(filters['q'].lower())}%"
        query = query.where(
            sa.or_(
                sa.func.lower(Deal.title).like(pattern, escape="\\"),
                sa.func.lower(Merchant.name).like(pattern, escape="\\"),
            )
        )
    return query


def _order(sort: str, popularity) -> tuple:
    return {
        "newest": (Deal.published_at.desc(), Deal.id.desc()),
        "popularity": (
            sa.func.coalesce(popularity.c.units, 0).desc(),
            Deal.published_at.desc(),
            Deal.id.desc(),
        ),
        "grade": (
            Merchant.current_grade.desc().nulls_last(),
            Deal.published_at.desc(),
            Deal.id.desc(),
        ),
    }[sort]


def search(filters: dict[str, Any], page: int, page_size: int) -> dict[str, Any]:
    """One page of live deals. ``near`` (lat, lng) with ``radius`` (metres) restricts to
    deals within that distance and adds ``distance_m``; ``sort`` is newest, popularity,
    grade, or distance (the default when ``near`` is given)."""
    popularity = _popularity()
    near = filters.get("near")
    sort = filters.get("sort") or ("distance" if near else "newest")
    if near is None:
        query = _filtered(_base(popularity), filters).order_by(*_order(sort, popularity))
        total = db.session.scalar(
            sa.select(sa.func.count()).select_from(
                _filtered(
                    sa.select(Deal.id).join(Deal.merchant).join(Merchant.category), filters
                ).subquery()
            )
        )
        rows = db.session.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
        items = [Listed(deal, int(pop)) for deal, pop in rows]
        return {"items": items, "page": page, "page_size": page_size, "total": total}

    lat, lng = near
    radius = filters["radius"]
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, radius)
    candidates = db.session.execute(
        _filtered(
            sa.select(Deal.id, Merchant.latitude, Merchant.longitude)
            .join(Deal.merchant)
            .join(Merchant.category)
            .outerjoin(popularity, popularity.c.deal_id == Deal.id),
            filters,
        )
        .where(
            Merchant.latitude.between(min_lat, max_lat),
            Merchant.longitude.between(min_lng, max_lng),
        )
        .order_by(*_order("newest" if sort == "distance" else sort, popularity))
    ).all()
    within = []
    for deal_id, d_lat, d_lng in candidates:
        metres = distance_m(lat, lng, d_lat, d_lng)
        if metres <= radius:
            within.append((deal_id, round(metres)))
    if sort == "distance":
        within.sort(key=lambda pair: pair[1])  # stable: ties keep newest first
    page_ids = within[(page - 1) * page_size : page * page_size]
    loaded = (
        {
            deal.id: (deal, int(pop))
            for deal, pop in db.session.execute(
                _base(popularity).where(Deal.id.in_([i for i, _ in page_ids]))
            ).all()
        }
        if page_ids
        else {}
    )
    items = [Listed(loaded[i][0], loaded[i][1], metres) for i, metres in page_ids if i in loaded]
    return {"items": items, "page": page, "page_size": page_size, "total": len(within)}


def visible_deal(deal_id: int) -> Listed:
    """A deal's public page: live, paused, sold out or ended deals; drafts are not public."""
    popularity = _popularity()
    row = db.session.execute(
        _base(popularity).where(
            Deal.id == deal_id, Deal.status.in_([s.value for s in VISIBLE_STATUSES])
        )
    ).first()
    if row is None:
        raise DealNotFound()
    return Listed(row[0], int(row[1]))


def home() -> dict[str, Any]:
    """Today's popup deal (chosen by the rotation, or booked), categories with their live
    deal counts, and the deals published today."""
    moment = now()
    today = local_today()
    shown = popup.shown(today, moment)
    counts = dict(
        db.session.execute(
            sa.select(Category.id, sa.func.count(Deal.id))
            .select_from(Deal)
            .join(Deal.merchant)
            .join(Merchant.category)
            .where(*on_sale(moment))
            .group_by(Category.id)
        ).all()
    )
    categories = db.session.scalars(
        sa.select(Category)
        .where(Category.retired_at.is_(None))
        .order_by(Category.sort_order, Category.id)
    ).all()
    start_of_day = datetime.combine(today, datetime.min.time(), tzinfo=local_zone())
    popularity = _popularity()
    new_today = [
        Listed(deal, int(pop))
        for deal, pop in db.session.execute(
            _base(popularity)
            .where(*on_sale(moment), Deal.published_at >= start_of_day)
            .order_by(Deal.published_at.desc(), Deal.id.desc())
            .limit(NEW_TODAY_LIMIT)
        ).all()
    ]
    return {
        "popup": Listed(shown, 0) if shown is not None else None,
        "categories": [{"category": c, "live_deals": counts.get(c.id, 0)} for c in categories],
        "new_today": new_today,
    }
