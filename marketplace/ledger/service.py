"""Posting business events to the ledger, in the same transaction as the event.

Signs: a positive amount on ``provider`` is cash received; negative amounts on ``unearned``,
``merchant:*`` and ``distributor:*`` are what the platform owes; ``platform`` accumulates the
platform's result with the opposite sign (negative = margin earned)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.ledger.models import LedgerEntry, LedgerTxn

PROVIDER, UNEARNED, PLATFORM = "provider", "unearned", "platform"


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


def payout(statement_id: int, account: str, amount: int) -> None:
    post(f"payout:{statement_id}", "payout", [(account, amount), (PROVIDER, -amount)])
