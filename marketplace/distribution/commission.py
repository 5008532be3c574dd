"""Commission on attributed orders: the attribution snapshot at purchase (two levels and
the tier bonus, capped by the deal's budget), pending per voucher when paid, earned (and
owed in the ledger) when redeemed, cancelled or clawed back when refunded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.deals import rules
from marketplace.distribution.binding import bind_customer
from marketplace.distribution.distributors import distributor_of
from marketplace.distribution.models import (
    CommissionEntry,
    CommissionKind,
    CommissionState,
    Distributor,
    DistributorStatus,
)
from marketplace.distribution.settings import setting
from marketplace.ledger import service as ledger


def snapshot_attribution(order, shopper: User, ref: str | None) -> None:
    """Fill the order's distributor attribution at purchase (and bind the shopper if this
    is their first attributed visit). The snapshot never changes afterwards."""
    binding, link = bind_customer(shopper, ref, "order")
    level1: Distributor | None = None
    if setting("self_purchase_commission"):
        mine = distributor_of(shopper)
        if mine is not None and mine.status == DistributorStatus.ACTIVE.value:
            level1 = mine
    if level1 is None and binding is not None:
        level1 = db.session.get(Distributor, binding.distributor_id)
    if level1 is None or level1.status != DistributorStatus.ACTIVE.value:
        return
    order.distributor_l1_id = level1.id
    recruiter = level1.recruiter
    if recruiter is not None and recruiter.status == DistributorStatus.ACTIVE.value:
        order.distributor_l2_id = recruiter.id
    if link is not None and link.distributor_id == level1.id:
        order.share_link_id = link.id
    # The tier bonus, capped so the deal's commission budget holds (margin + subsidy, less
    # what the subsidy already spends on a sale below settlement).
    budget = rules.commission_budget(order.unit_price, order.settlement_price, order.subsidy)
    l2 = order.commission_l2 if order.distributor_l2_id else 0
    bonus = level1.tier.level1_bonus if level1.tier else 0
    order.tier_bonus = max(0, min(bonus, budget - order.commission_l1 - l2))


def on_order_paid(order, vouchers) -> None:
    """Pending commission per voucher and level for an attributed order. A distributor
    suspended since the purchase earns nothing new."""
    levels = []
    if order.distributor_l1_id:
        levels.append(
            (
                CommissionKind.LEVEL1,
                order.distributor_l1_id,
                order.commission_l1 + (order.tier_bonus or 0),
            )
        )
    if order.distributor_l2_id:
        levels.append((CommissionKind.LEVEL2, order.distributor_l2_id, order.commission_l2))
    for kind, distributor_id, amount in levels:
        distributor = db.session.get(Distributor, distributor_id)
        if amount <= 0 or distributor.status != DistributorStatus.ACTIVE.value:
            continue
        for voucher in vouchers:
            db.session.add(
                CommissionEntry(
                    distributor_id=distributor_id,
                    kind=kind.value,
                    state=CommissionState.PENDING.value,
                    amount=amount,
                    order_id=order.id,
                    voucher_id=voucher.id,
                )
            )
    db.session.flush()


def on_voucher_redeemed(voucher) -> None:
    """The voucher was used: its pending commission is earned (and owed, in the ledger)."""
    table = CommissionEntry.__table__
    db.session.execute(
        sa.update(table)
        .where(
            table.c.voucher_id == voucher.id,
            table.c.state == CommissionState.PENDING.value,
            table.c.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
        .values(state=CommissionState.EARNED.value, earned_at=now())
    )
    for entry in db.session.scalars(
        sa.select(CommissionEntry).where(
            CommissionEntry.voucher_id == voucher.id,
            CommissionEntry.state == CommissionState.EARNED.value,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
    ):
        ledger.commission(
            entry.id, entry.distributor_id, entry.amount, "earned", order_id=entry.order_id
        )


def on_voucher_refunded(voucher, *, actor_id: int | None) -> None:
    """A refund cancels the voucher's commission; what was already settled is clawed back
    (a negative entry) against the distributor's next statement."""
    entries = db.session.scalars(
        sa.select(CommissionEntry)
        .where(
            CommissionEntry.voucher_id == voucher.id,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
        .with_for_update()
    ).all()
    moment = now()
    for entry in entries:
        if entry.state in (CommissionState.PENDING.value, CommissionState.EARNED.value):
            if entry.state == CommissionState.EARNED.value:  # it was owed: reverse it
                ledger.commission(
                    entry.id,
                    entry.distributor_id,
                    -entry.amount,
                    "reversed",
                    order_id=entry.order_id,
                )
            entry.state, entry.cancelled_at = CommissionState.CANCELLED.value, moment
            audit.record(
                "commission",
                entry.id,
                "commission.cancelled",
                actor_id=actor_id,
                data={"voucher_id": voucher.id},
            )
        elif entry.state == CommissionState.SETTLED.value:
            exists = db.session.scalars(
                sa.select(CommissionEntry.id).where(
                    CommissionEntry.voucher_id == voucher.id,
                    CommissionEntry.kind == CommissionKind.CLAWBACK.value,
                    CommissionEntry.distributor_id == entry.distributor_id,
                )
            ).first()
            if exists:
                continue
            clawback = CommissionEntry(
                distributor_id=entry.distributor_id,
                kind=CommissionKind.CLAWBACK.value,
                state=CommissionState.EARNED.value,
                amount=-entry.amount,
                order_id=entry.order_id,
                voucher_id=voucher.id,
                earned_at=moment,
                note=f"refund after settlement of entry {entry.id}",
            )
            db.session.add(clawback)
            db.session.flush()
            ledger.commission(
                clawback.id,
                clawback.distributor_id,
                clawback.amount,
                "clawback",
                order_id=clawback.order_id,
            )
            audit.record(
                "commission",
                clawback.id,
                "commission.clawback",
                actor_id=actor_id,
                data={"of": entry.id, "amount": clawback.amount},
            )


def commission_entries(distributor: Distributor, filters: dict[str, Any]) -> sa.Select:
    query = sa.select(CommissionEntry).where(CommissionEntry.distributor_id == distributor.id)
    for key in ("state", "kind"):
        if key in filters:
            query = query.where(getattr(CommissionEntry, key) == filters[key])
    return query.order_by(CommissionEntry.id.desc())


# -- what settlement asks ------------------------------------------------------------------


def settleable(period: str, end: datetime) -> list[CommissionEntry]:
    """Earned entries no statement has settled, that belong on ``period``'s statements (it
    ends at ``end``): earned before the end, and streak bonuses for the period or before.
    By distributor, then oldest first."""
    return list(
        db.session.scalars(
            sa.select(CommissionEntry)
            .where(
                CommissionEntry.state == CommissionState.EARNED.value,
                sa.or_(
                    CommissionEntry.earned_at < end,
                    sa.and_(
                        CommissionEntry.kind == CommissionKind.STREAK_BONUS.value,
                        CommissionEntry.month <= period,
                    ),
                ),
            )
            .order_by(CommissionEntry.distributor_id, CommissionEntry.id)
        )
    )


def mark_settled(entry_ids: list[int]) -> bool:
    """The entries are on a statement now. Only entries still earned are settled: a refund
    may have cancelled one since ``settleable`` read it (on PostgreSQL the update waits for
    that refund's row lock and then sees the cancellation). False when not every entry was
    still earned; the caller must then throw its statement away and read again."""
    if not entry_ids:
        return True
    table = CommissionEntry.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id.in_(entry_ids), table.c.state == CommissionState.EARNED.value)
        .values(state=CommissionState.SETTLED.value, settled_at=now())
    )
    return result.rowcount == len(entry_ids)


def paid_on_voucher(voucher_id: Any) -> sa.ScalarSelect:
    """A scalar subquery, correlated on ``voucher_id`` (a column): the order commission a
    delivered voucher costs (both levels, earned or settled)."""
    return (
        sa.select(sa.func.coalesce(sa.func.sum(CommissionEntry.amount), 0))
        .where(
            CommissionEntry.voucher_id == voucher_id,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
            CommissionEntry.state.in_(
                [CommissionState.EARNED.value, CommissionState.SETTLED.value]
            ),
        )
        .scalar_subquery()
    )
