"""A shop's day and month at a glance, for its owner and clerks (``GET
/api/v1/merchant/summary`` and the portal's pages): units sold and redeemed, refunds, and
the money it is owed. Money it is owed comes from the ledger (what was posted when each
voucher was redeemed), never recomputed from prices; units and sales from the orders and
vouchers themselves. Days and months are Asia/Shanghai."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketplace.core.clock import day_start, local_today, month_bounds
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.ledger import service as ledger
from marketplace.orders.models import Order
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher

# the order states in which the shopper paid (whatever happened to the vouchers since)
_PAID = Order.paid_at.is_not(None)


def _sales(merchant_id: int, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    """Per deal: units sold and the money shoppers paid, for orders paid in [start, end)."""
    rows = db.session.execute(
        sa.select(Order.deal_id, sa.func.sum(Order.quantity), sa.func.sum(Order.amount))
        .where(Order.merchant_id == merchant_id, _PAID, Order.paid_at >= start, Order.paid_at < end)
        .group_by(Order.deal_id)
    ).all()
    return {deal_id: (int(units), int(amount)) for deal_id, units, amount in rows}


def _redeemed(merchant_id: int, start: datetime, end: datetime) -> dict[int, int]:
    rows = db.session.execute(
        sa.select(Voucher.deal_id, sa.func.count())
        .where(
            Voucher.merchant_id == merchant_id,
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
        )
        .group_by(Voucher.deal_id)
    ).all()
    return {deal_id: int(n) for deal_id, n in rows}


def _refunded(merchant_id: int, start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
    """Per deal: vouchers refunded in [start, end) and the money that went back (ledger)."""
    mine = sa.select(Voucher.id).where(Voucher.merchant_id == merchant_id)
    by_voucher = ledger.refunded_between(start, end, mine)
    if not by_voucher:
        return {}
    deal_of = dict(
        db.session.execute(
            sa.select(Voucher.id, Voucher.deal_id).where(Voucher.id.in_(list(by_voucher)))
        ).all()
    )
    out: dict[int, tuple[int, int]] = {}
    for voucher_id, amount in by_voucher.items():
        units, money = out.get(deal_of[voucher_id], (0, 0))
        out[deal_of[voucher_id]] = (units + 1, money + amount)
    return out


def day(merchant_id: int, on: date | None = None) -> dict[str, Any]:
    """One local day of the shop: sold (units, money paid), redeemed (count, owed for
    them), and the vouchers sold and still usable now."""
    on = on or local_today()
    start, end = day_start(on), day_start(on + timedelta(days=1))
    sales = _sales(merchant_id, start, end)
    counts = vouchers.counts_for_merchant(merchant_id, start, end)
    return {
        "date": on,
        "sold_units": sum(units for units, _ in sales.values()),
        "sales": sum(money for _, money in sales.values()),
        "redeemed": counts["redeemed"],
        "redeemed_value": ledger.owed_between(ledger.merchant(merchant_id), start, end),
        "unused": counts["unused"],
    }


def month(merchant_id: int, period: str | None = None) -> dict[str, Any]:
    """One local month of the shop, so far: per deal units sold, redeemed and refunded;
    the totals; and what the platform owes for it (ledger)."""
    period = period or local_today().strftime("%Y-%m")
    start, end = month_bounds(period)
    sales = _sales(merchant_id, start, end)
    redeemed = _redeemed(merchant_id, start, end)
    refunded = _refunded(merchant_id, start, end)
    deal_ids = set(sales) | set(redeemed) | set(refunded)
    titles = dict(
        db.session.execute(sa.select(Deal.id, Deal.title).where(Deal.id.in_(deal_ids))).all()
        if deal_ids
        else []
    )
    deals = [
        {
            "deal_id": deal_id,
            "title": titles.get(deal_id, ""),
            "sold_units": sales.get(deal_id, (0, 0))[0],
            "sales": sales.get(deal_id, (0, 0))[1],
            "redeemed": redeemed.get(deal_id, 0),
            "refunded_units": refunded.get(deal_id, (0, 0))[0],
            "refunds": refunded.get(deal_id, (0, 0))[1],
        }
        for deal_id in sorted(deal_ids, key=lambda d: (-sales.get(d, (0, 0))[0], d))
    ]
    return {
        "period": period,
        "sold_units": sum(d["sold_units"] for d in deals),
        "sales": sum(d["sales"] for d in deals),
        "redeemed": sum(d["redeemed"] for d in deals),
        "refunded_units": sum(d["refunded_units"] for d in deals),
        "refunds": sum(d["refunds"] for d in deals),
        "settlement_owed": ledger.owed_between(ledger.merchant(merchant_id), start, end),
        "deals": deals,
    }


def unpaid_balance(merchant_id: int) -> int:
    """Fen the platform owes the shop now: every redemption not yet paid out (ledger)."""
    return -ledger.balance(ledger.merchant(merchant_id))


def summary(merchant_id: int) -> dict[str, Any]:
    """Today and this month, and what the platform owes the shop now (every redemption not
    yet paid out, earlier months' unpaid statements included)."""
    return {
        "today": day(merchant_id),
        "month": month(merchant_id),
        "unpaid_balance": unpaid_balance(merchant_id),
    }
