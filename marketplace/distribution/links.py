"""Share links: an active distributor's short link to a deal or the home page, and the
clicks on it."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from marketplace.core.clock import day_start
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.deals.models import VISIBLE_STATUSES, Deal
from marketplace.distribution.distributors import new_code
from marketplace.distribution.models import Distributor, DistributorStatus, LinkVisit, ShareLink


def create_link(distributor: Distributor, deal_id: int | None) -> ShareLink:
    if distributor.status != DistributorStatus.ACTIVE.value:
        raise Conflict(
            "Only an active distributor can create links.", code="distributor_not_active"
        )
    if deal_id is not None:
        deal = db.session.get(Deal, deal_id)
        if deal is None or deal.status not in [s.value for s in VISIBLE_STATUSES]:
            raise InvalidInput(fields={"deal_id": ["No such deal on sale."]})
    link = ShareLink(code=new_code(8), distributor_id=distributor.id, deal_id=deal_id)
    db.session.add(link)
    db.session.flush()
    return link


def share_deal(distributor: Distributor, deal_id: int) -> ShareLink:
    """The distributor's link to the deal: the one they made before if there is one (so a
    poster printed yesterday and the link sent today count as one link), else a new one.
    Only an active distributor shares, and only a deal on sale."""
    if distributor.status != DistributorStatus.ACTIVE.value:
        raise Conflict(
            "Only an active distributor can create links.", code="distributor_not_active"
        )
    existing = db.session.scalars(
        sa.select(ShareLink)
        .where(ShareLink.distributor_id == distributor.id, ShareLink.deal_id == deal_id)
        .order_by(ShareLink.id.desc())
        .limit(1)
    ).first()
    deal = db.session.get(Deal, deal_id)
    if deal is None or deal.status not in [s.value for s in VISIBLE_STATUSES]:
        raise NotFound("No such deal on sale.", code="deal_not_found")
    return existing or create_link(distributor, deal_id)


def links_of(distributor: Distributor) -> sa.Select:
    """The distributor's links, newest first; the caller paginates."""
    return (
        sa.select(ShareLink)
        .where(ShareLink.distributor_id == distributor.id)
        .order_by(ShareLink.id.desc())
    )


def shares_on(distributor: Distributor, day: date) -> dict[str, int]:
    """What the distributor's sharing did on a local day: links made, and clicks on any of
    their links."""
    start, end = day_start(day), day_start(day + timedelta(days=1))
    made = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(ShareLink)
        .where(
            ShareLink.distributor_id == distributor.id,
            ShareLink.created_at >= start,
            ShareLink.created_at < end,
        )
    )
    visits = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LinkVisit)
        .join(ShareLink, ShareLink.id == LinkVisit.link_id)
        .where(
            ShareLink.distributor_id == distributor.id,
            LinkVisit.visited_at >= start,
            LinkVisit.visited_at < end,
        )
    )
    return {"links": made, "visits": visits}


def link_by_code(code: str) -> ShareLink | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalars(sa.select(ShareLink).where(ShareLink.code == code)).first()


def record_click(code: str, *, ip: str | None, user_agent: str | None) -> ShareLink:
    """Someone followed the link: count the click (a visit row and the link's counter)."""
    link = link_by_code(code)
    if link is None:
        raise NotFound("That link does not exist.", code="link_not_found")
    db.session.add(LinkVisit(link_id=link.id, ip=ip, user_agent=(user_agent or "")[:200] or None))
    table = ShareLink.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == link.id).values(visits=table.c.visits + 1)
    )
    return link
