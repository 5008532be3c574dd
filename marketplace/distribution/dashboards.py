"""The distributor's dashboard: bound customers, commission by state and by month,
today's sharing and the Moments run. The figures about orders come from the caller
(``AttributedSales``): distribution sits below orders, so ``orders.attribution`` asks the
orders and hands them in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from marketplace.core.clock import local_today, month_bounds, month_of, now, shift_month
from marketplace.core.db import db
from marketplace.distribution import links, streaks
from marketplace.distribution.models import (
    CommissionEntry,
    CommissionState,
    CustomerBinding,
    Distributor,
)


@dataclass(frozen=True)
class AttributedSales:
    """Paid orders attributed to a distributor at level 1, and their five best deals
    (``{"deal_id", "title", "units"}``, most units first)."""

    orders: int = 0
    top_deals: list[dict[str, Any]] = field(default_factory=list)


def dashboard(distributor: Distributor, sales: AttributedSales) -> dict[str, Any]:
    """Bound customers, attributed orders, commission by state and by month, top deals,
    today's sharing (links made, clicks) and the Moments run the distributor is on."""
    today = local_today()
    customers = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CustomerBinding)
        .where(CustomerBinding.distributor_id == distributor.id)
    )
    by_state = dict(
        db.session.execute(
            sa.select(CommissionEntry.state, sa.func.sum(CommissionEntry.amount))
            .where(CommissionEntry.distributor_id == distributor.id)
            .group_by(CommissionEntry.state)
        ).all()
    )
    return {
        "distributor": distributor,
        "bound_customers": customers,
        "orders": sales.orders,
        "commission": {s.value: int(by_state.get(s.value) or 0) for s in CommissionState},
        "commission_by_month": commission_by_month(distributor),
        "top_deals": sales.top_deals,
        "shares_today": links.shares_on(distributor, today),
        "moments": streaks.current_streak(distributor, today),
    }


def commission_by_month(distributor: Distributor, months: int = 12) -> list[dict[str, Any]]:
    """The last ``months`` Asia/Shanghai months' commission, newest first, summed in SQL:
    each entry's month is its bonus month (a bonus counts in the month it is for) or the
    local month it was made in. Cancelled entries do not count."""
    wanted = [shift_month(month_of(now()), -offset) for offset in range(months)]
    made_in = sa.case(
        *[
            (sa.and_(CommissionEntry.created_at >= start, CommissionEntry.created_at < end), m)
            for m, (start, end) in ((m, month_bounds(m)) for m in wanted)
        ],
        else_=None,
    )
    month = sa.func.coalesce(CommissionEntry.month, made_in)
    since, _ = month_bounds(wanted[-1])
    return [
        {"month": m, "amount": int(a)}
        for m, a in db.session.execute(
            sa.select(month, sa.func.sum(CommissionEntry.amount))
            .where(
                CommissionEntry.distributor_id == distributor.id,
                CommissionEntry.state != CommissionState.CANCELLED.value,
                CommissionEntry.created_at >= since,
                month.in_(wanted),
            )
            .group_by(month)
            .order_by(month.desc())
        ).all()
    ]
