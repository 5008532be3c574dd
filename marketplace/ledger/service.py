"""Posting business events to the ledger, in the same transaction as the event.

Signs: a positive amount on ``provider`` is cash received; negative amounts on ``unearned``,
``merchant:*`` and ``distributor:*`` are what the platform owes; ``platform`` accumulates the
platform's result with the opposite sign (negative = margin earned).

Other domains post through the event functions below and read through the query functions
at the end; the tables and the event-key spelling stay in here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.ledger.models import LedgerEntry, LedgerTxn

PROVIDER, UNEARNED, PLATFORM = "provider", "unearned", "platform"
COMMISSION_KINDS = ("earned", "reversed", "clawback", "bonus")


class UnbalancedTransaction(ValueError):
    pass


def merchant(merchant_id: int) -> str:
    return f"merchant:{merchant_id}"


def distributor(distributor_id: int) -> str:
    return f"distributor:{distributor_id}"


def post(
    event_key: str,
    kind: str,
    legs: Iterable[tuple[str, int]],
    *,
    order_id: int | None = None,
    voucher_id: int | None = None,
    note: str = "",
) -> LedgerTxn | None:
    """Post one balanced transaction for ``event_key`` unless it was posted already.
    Returns None for a repeat (the first posting stands)."""
    legs = [(account, amount) for account, amount in legs if amount]
    if sum(amount for _, amount in legs) != 0:
        raise UnbalancedTransaction(f"{event_key}: {legs}")
    if db.session.scalar(sa.select(LedgerTxn.id).where(LedgerTxn.event_key == event_key)):
        return None
    txn = LedgerTxn(
        event_key=event_key,
        kind=kind,
        order_id=order_id,
        voucher_id=voucher_id,
        note=note,
        occurred_at=now(),
        entries=[LedgerEntry(account=a, amount=m) for a, m in legs],
    )
    try:
        with db.session.begin_nested():
            db.session.add(txn)
            db.session.flush()
    except IntegrityError:  # posted concurrently
        return None
    return txn


def balance(account: str) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account == account
            )
        )
    )


def total() -> int:
    """The sum of every entry: always zero."""
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))))


# -- the events ----------------------------------------------------------------------------


def order_paid(order) -> None:
    post(
        f"order_paid:{order.id}",
        "order_paid",
        [(PROVIDER, order.amount), (UNEARNED, -order.amount)],
        order_id=order.id,
    )


def voucher_redeemed(order, voucher_id: int) -> None:
    """The shop delivered: the unit's price leaves ``unearned``; the merchant is owed exactly
    the settlement price; the platform keeps the difference, which is negative when a
    subsidy funds a sale below the settlement price (the platform pays it). The subsidy never
    goes to the merchant: it is the platform's budget for that gap and for commission."""
    price, owed = order.unit_price, order.settlement_price
    post(
        f"voucher_redeemed:{voucher_id}",
        "voucher_redeemed",
        [(UNEARNED, price), (merchant(order.merchant_id), -owed), (PLATFORM, owed - price)],
        order_id=order.id,
        voucher_id=voucher_id,
    )


def voucher_refunded(order, voucher_id: int, *, was_redeemed: bool) -> None:
    price = order.unit_price
    source = PLATFORM if was_redeemed else UNEARNED  # an override refund is the platform's cost
    post(
        f"voucher_refunded:{voucher_id}",
        "voucher_refunded",
        [(source, price), (PROVIDER, -price)],
        order_id=order.id,
        voucher_id=voucher_id,
    )


def refund_remainder(order, provider_id: str, amount: int) -> None:
    """Money given back outside Linli that pays for no whole unit (a goodwill refund made in
    the provider's dashboard, part of a dispute): the platform's cost."""
    post(
        f"refund_remainder:{provider_id}",
        "refund_remainder",
        [(PLATFORM, amount), (PROVIDER, -amount)],
        order_id=order.id,
    )


def dispute_won(order, dispute_id: str, amount: int) -> LedgerTxn | None:
    """A dispute closed in the merchant's favour: the provider gives the withdrawn money
    back. The vouchers it voided stay void, so the money is the platform's. None if booked
    already."""
    return post(
        f"dispute_won:{dispute_id}",
        "dispute_won",
        [(PROVIDER, amount), (PLATFORM, -amount)],
        order_id=order.id,
    )


def commission(
    entry_id: int, distributor_id: int, amount: int, kind: str, order_id: int | None = None
) -> None:
    """Commission earned (positive) or reversed/clawed back (negative) for a distributor."""
    post(
        f"commission:{kind}:{entry_id}",
        f"commission_{kind}",
        [(PLATFORM, amount), (distributor(distributor_id), -amount)],
        order_id=order_id,
    )


def commission_bonus(entry_id: int, distributor_id: int, amount: int) -> None:
    """A streak bonus computed (or recomputed) to ``amount``: post what changed since its
    last posting, as the bonus's next revision, so the distributor's account holds exactly
    ``amount`` for it (zero cancels it)."""
    prefix = f"commission:bonus:{entry_id}:"
    revisions = LedgerTxn.event_key.like(prefix + "%")
    posted = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
        .where(revisions, LedgerEntry.account == distributor(distributor_id))
    )
    count = db.session.scalar(sa.select(sa.func.count()).select_from(LedgerTxn).where(revisions))
    delta = amount + int(posted)  # posted is negative (owed to the distributor)
    if delta:
        commission(f"{entry_id}:{count}", distributor_id, delta, "bonus")


def payout(statement_id: int, account: str, amount: int) -> None:
    post(f"payout:{statement_id}", "payout", [(account, amount), (PROVIDER, -amount)])


# -- what other domains may ask ------------------------------------------------------------


def _sum_between(start: datetime, end: datetime, account: str, kinds: Iterable[str]) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
            .where(
                LedgerTxn.occurred_at >= start,
                LedgerTxn.occurred_at < end,
                LedgerTxn.kind.in_(list(kinds)),
                LedgerEntry.account == account,
            )
        )
    )


def results_between(start: datetime, end: datetime) -> dict[str, int]:
    """The platform's money over [start, end), as posted: refunds paid out, margin on
    delivered vouchers, commission (earned less reversed and clawed back, with bonuses) and
    the net result of the three."""
    commission_kinds = [f"commission_{kind}" for kind in COMMISSION_KINDS]
    return {
        "refunds": -_sum_between(start, end, PROVIDER, ["voucher_refunded"]),
        "platform_margin": -_sum_between(start, end, PLATFORM, ["voucher_redeemed"]),
        "commission": _sum_between(start, end, PLATFORM, commission_kinds),
        "net_result": -_sum_between(
            start, end, PLATFORM, ["voucher_redeemed", "voucher_refunded", *commission_kinds]
        ),
    }


def provider_net_by_order(order_ids: Iterable[int]) -> dict[int, int]:
    """Per order, the cash the ledger says the provider holds for it (payments less
    refunds); orders with nothing posted are absent."""
    ids = list(order_ids)
    if not ids:
        return {}
    return {
        order_id: int(amount)
        for order_id, amount in db.session.execute(
            sa.select(LedgerTxn.order_id, sa.func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.txn_id == LedgerTxn.id)
            .where(LedgerEntry.account == PROVIDER, LedgerTxn.order_id.in_(ids))
            .group_by(LedgerTxn.order_id)
        ).all()
    }


def period_index(column: sa.ColumnElement, bounds: list[datetime]) -> sa.ColumnElement:
    """Which of the periods [bounds[i], bounds[i+1]) ``column`` falls in (its index), in
    SQL both databases read alike; outside them, NULL."""
    return sa.case(
        *[(column < bound, index - 1) for index, bound in enumerate(bounds[1:], start=1)],
        else_=None,
    )


def results_by_period(bounds: list[datetime]) -> list[dict[str, int]]:
    """``results_between`` for each period [bounds[i], bounds[i+1]) at once (one query):
    the general manager's chart of months or of days. Equal, period by period, to
    ``results_between`` (tested)."""
    commission_kinds = [f"commission_{kind}" for kind in COMMISSION_KINDS]
    bucket = period_index(LedgerTxn.occurred_at, bounds).label("bucket")
    rows = db.session.execute(
        sa.select(bucket, LedgerTxn.kind, LedgerEntry.account, sa.func.sum(LedgerEntry.amount))
        .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
        .where(
            LedgerTxn.occurred_at >= bounds[0],
            LedgerTxn.occurred_at < bounds[-1],
            LedgerEntry.account.in_([PROVIDER, PLATFORM]),
            LedgerTxn.kind.in_(["voucher_redeemed", "voucher_refunded", *commission_kinds]),
        )
        .group_by(bucket, LedgerTxn.kind, LedgerEntry.account)
    ).all()
    results = [
        {"refunds": 0, "platform_margin": 0, "commission": 0, "net_result": 0} for _ in bounds[1:]
    ]
    for index, kind, account, amount in rows:
        if index is None:
            continue
        figures, amount = results[int(index)], int(amount)
        if account == PROVIDER:
            if kind == "voucher_refunded":
                figures["refunds"] -= amount
            continue
        if kind == "voucher_redeemed":
            figures["platform_margin"] -= amount
        elif kind in commission_kinds:
            figures["commission"] += amount
        figures["net_result"] -= amount
    return results


# -- a merchant's money, for its portal (the merchant portal's section) ---------------------


def owed_between(account: str, start: datetime, end: datetime) -> int:
    """What vouchers delivered in [start, end) put on a party's account (fen, positive:
    owed to them), as posted when each was redeemed."""
    return -_sum_between(start, end, account, ["voucher_redeemed"])


def refunded_between(start: datetime, end: datetime, voucher_ids: sa.Select) -> dict[int, int]:
    """Per voucher among ``voucher_ids`` (a select of ids), the money refunded for it in
    [start, end) (fen, positive), as posted when the refund went back."""
    rows = db.session.execute(
        sa.select(LedgerTxn.voucher_id, sa.func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.txn_id == LedgerTxn.id)
        .where(
            LedgerTxn.kind == "voucher_refunded",
            LedgerTxn.occurred_at >= start,
            LedgerTxn.occurred_at < end,
            LedgerTxn.voucher_id.in_(voucher_ids),
            LedgerEntry.account == PROVIDER,
        )
        .group_by(LedgerTxn.voucher_id)
    ).all()
    return {voucher_id: -int(amount) for voucher_id, amount in rows}
