"""Share links: an active distributor's short link to a deal or the home page, and the
clicks on it."""

from __future__ import annotations

import sqlalchemy as sa

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
