"""What a distributor's links and bindings sold: the order figures distribution needs but
cannot ask for itself. Distribution sits below orders (checkout and payment call it), so its
dashboard and its streak bonus take these figures from their caller: the distribution views
and the monthly close pass them in (``dashboard(d)`` below,
``streaks.compute_streak_bonuses(month, converted_orders)``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from marketplace.core.db import db
from marketplace.core.pagination import paginate
from marketplace.deals.models import Deal
from marketplace.distribution import binding, dashboards
from marketplace.distribution.dashboards import AttributedSales
from marketplace.distribution.models import Distributor, ShareLink
from marketplace.orders.models import PAID_STATUSES, Order

# Orders that were paid and not (wholly) given back.
_PAID = [s.value for s in PAID_STATUSES]


def dashboard(distributor: Distributor) -> dict[str, Any]:
    """The distributor's dashboard with its order figures: what the API and the pages show."""
    return dashboards.dashboard(distributor, attributed_sales(distributor.id))


def customers(distributor: Distributor, page: int, page_size: int) -> dict[str, Any]:
    """A page of the distributor's bound customers, each with the paid orders (and their
    amount, fen) attributed to the distributor at level 1: what the API and the pages
    show as "my customers"."""
    result = paginate(binding.customers(distributor), page, page_size)
    ids = [b.shopper_id for b in result["items"]]
    bought = {
        shopper: (int(orders), int(amount))
        for shopper, orders, amount in db.session.execute(
            sa.select(Order.shopper_id, sa.func.count(), sa.func.sum(Order.amount))
            .where(
                Order.shopper_id.in_(ids),
                Order.distributor_l1_id == distributor.id,
                Order.status.in_(_PAID),
            )
            .group_by(Order.shopper_id)
        ).all()
    }
    items = []
    for bound in result["items"]:
        orders, amount = bought.get(bound.shopper_id, (0, 0))
        items.append({"binding": bound, "orders": orders, "amount": amount})
    return {**result, "items": items}


def attributed_sales(distributor_id: int) -> AttributedSales:
    """The paid orders attributed to the distributor at level 1, and their top five deals."""
    orders = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Order)
        .where(Order.distributor_l1_id == distributor_id, Order.status.in_(_PAID))
    )
    top = [
        {"deal_id": d, "title": t, "units": int(u)}
        for d, t, u in db.session.execute(
            sa.select(Order.deal_id, Deal.title, sa.func.sum(Order.quantity))
            .join(Deal, Deal.id == Order.deal_id)
            .where(Order.distributor_l1_id == distributor_id, Order.status.in_(_PAID))
            .group_by(Order.deal_id, Deal.title)
            .order_by(sa.func.sum(Order.quantity).desc())
            .limit(5)
        ).all()
    ]
    return AttributedSales(orders=orders, top_deals=top)


def converted_orders(distributor_id: int, since: datetime, until: datetime) -> int:
    """Orders paid in [since, until) through one of the distributor's share links (a
    ``streaks.ConvertedOrders``)."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Order)
        .join(ShareLink, ShareLink.id == Order.share_link_id)
        .where(
            ShareLink.distributor_id == distributor_id,
            Order.status.in_(_PAID),
            Order.paid_at >= since,
            Order.paid_at < until,
        )
    )
