"""Monthly settlement, exactly once: each party's statement is made in its own transaction,
guarded by a unique (period, party) and by every voucher and commission entry appearing on
one line only. Two concurrent runs, or a run resumed after a crash, give the same result."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.core import audit
from marketplace.core.clock import month_bounds, now, previous_month
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.deals import rules
from marketplace.distribution import service as distribution
from marketplace.distribution.models import CommissionEntry, CommissionKind, CommissionState
from marketplace.ledger import service as ledger
from marketplace.ledger.models import LedgerEntry, LedgerTxn
from marketplace.orders.models import Order
from marketplace.providers.stripe import stripe
from marketplace.settlement.models import Statement, StatementLine
from marketplace.vouchers.models import Voucher, VoucherStatus


def bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a month in Asia/Shanghai, as aware instants."""
    try:
        return month_bounds(period)
    except ValueError as exc:
        raise InvalidInput(fields={"period": ["Use YYYY-MM."]}) from exc


def previous_period() -> str:
    return previous_month()


def close_month(period: str | None = None) -> dict[str, Any]:
    """The monthly close (the job on the 1st at 02:00, and ``POST /settlements``): the
    month's streak bonuses first, committed, so they are on the statements; then the
    statements. Safe to run again: settled bonuses and statements are left alone."""
    period = period or previous_period()
    _, end = bounds(period)
    if end > now():
        raise Conflict("A month is settled after it ends.", code="period_not_over")
    bonuses = distribution.compute_streak_bonuses(period)
    db.session.commit()
    return {"period": period, "streak_bonuses": bonuses, **run(period)}


def _merchant_lines(period: str) -> dict[int, list[StatementLine]]:
    start, end = bounds(period)
    settled = sa.select(StatementLine.voucher_id).where(StatementLine.voucher_id.is_not(None))
    rows = db.session.execute(
        sa.select(Voucher.id, Voucher.merchant_id, Order.id, Order.settlement_price)
        .join(Order, Order.id == Voucher.order_id)
        .where(Voucher.redeemed_at >= start, Voucher.redeemed_at < end, Voucher.id.not_in(settled))
        .order_by(Voucher.merchant_id, Voucher.id)
    ).all()
    lines: dict[int, list[StatementLine]] = {}
    for voucher_id, merchant_id, order_id, price in rows:
        lines.setdefault(merchant_id, []).append(
            StatementLine(kind="redemption", amount=price, order_id=order_id, voucher_id=voucher_id)
        )
    return lines


def _distributor_lines(period: str) -> dict[int, list[StatementLine]]:
    _, end = bounds(period)
    rows = db.session.scalars(
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
    ).all()
    lines: dict[int, list[StatementLine]] = {}
    for entry in rows:
        lines.setdefault(entry.distributor_id, []).append(
            StatementLine(
                kind=entry.kind,
                amount=entry.amount,
                order_id=entry.order_id,
                commission_entry_id=entry.id,
            )
        )
    return lines


def run(period: str, *, _after_party=None) -> dict[str, int]:
    """Settle ``period``: a statement per merchant (settlement value of vouchers redeemed in
    the month) and per distributor (earned commission, bonuses and clawbacks not settled
    before). Commits per party. Returns how many statements this run made."""
    _, end = bounds(period)
    if end > now():
        raise Conflict("A month is settled after it ends.", code="period_not_over")
    made = {"merchant": 0, "distributor": 0}
    for party_type, collect in (("merchant", _merchant_lines), ("distributor", _distributor_lines)):
        parties = collect(period)
        db.session.commit()
        for party_id in parties:
            if _settle_party(period, party_type, party_id, collect):
                made[party_type] += 1
            if _after_party is not None:
                _after_party()
    return made


def _settle_party(period: str, party_type: str, party_id: int, collect) -> bool:
    try:
        lines = collect(period).get(party_id, [])  # fresh, inside this party's transaction
        if not lines:
            db.session.rollback()
            return False
        lines += _carried_lines(period, party_type, party_id)
        statement = Statement(
            period=period,
            party_type=party_type,
            party_id=party_id,
            total=sum(line.amount for line in lines),
            lines=lines,
        )
        db.session.add(statement)
        db.session.flush()
        if party_type == "distributor":
            ids = [line.commission_entry_id for line in lines if line.commission_entry_id]
            table = CommissionEntry.__table__
            db.session.execute(
                sa.update(table)
                .where(table.c.id.in_(ids))
                .values(state=CommissionState.SETTLED.value, settled_at=now())
            )
        audit.record(
            "statement",
            statement.id,
            "statement.issued",
            actor_id=None,
            data={
                "period": period,
                "party": f"{party_type}:{party_id}",
                "total": statement.total,
                "lines": len(lines),
            },
        )
        db.session.commit()
        return True
    except IntegrityError:  # another run settled this party (or these lines) first
        db.session.rollback()
        return False


def _carried_lines(period: str, party_type: str, party_id: int) -> list[StatementLine]:
    """The party's earlier statements that ended negative (clawbacks over earnings) and
    were not carried yet: each becomes a line of this statement, so what the party owes
    is netted against what it earns next (a unique line per carried statement)."""
    carried = sa.select(StatementLine.carried_from_id).where(
        StatementLine.carried_from_id.is_not(None)
    )
    owed = db.session.execute(
        sa.select(Statement.id, Statement.total)
        .where(
            Statement.party_type == party_type,
            Statement.party_id == party_id,
            Statement.period < period,
            Statement.total < 0,
            Statement.id.not_in(carried),
        )
        .order_by(Statement.period)
    ).all()
    return [
        StatementLine(kind="carried_forward", amount=total, carried_from_id=statement_id)
        for statement_id, total in owed
    ]


def get_statement(statement_id: int) -> Statement:
    statement = db.session.get(Statement, statement_id)
    if statement is None:
        raise NotFound("No such statement.", code="statement_not_found")
    return statement


def record_payout(statement_id: int, reference: str, paid_on: date, actor_id: int) -> Statement:
    statement = db.session.scalars(
        sa.select(Statement).where(Statement.id == statement_id).with_for_update()
    ).first()
    if statement is None:
        raise NotFound("No such statement.", code="statement_not_found")
    if statement.status == "paid":
        if statement.payout_reference == reference:
            return statement  # the same payout recorded again
        raise Conflict("This statement was already paid.", code="statement_already_paid")
    if statement.total <= 0:
        raise Conflict("Nothing to pay on this statement.", code="nothing_to_pay")
    statement.status, statement.paid_at = "paid", now()
    statement.paid_on, statement.payout_reference = paid_on, reference
    account = (ledger.merchant if statement.party_type == "merchant" else ledger.distributor)(
        statement.party_id
    )
    ledger.payout(statement.id, account, statement.total)
    audit.record(
        "statement",
        statement.id,
        "statement.paid",
        actor_id=actor_id,
        data={"reference": reference, "paid_on": paid_on.isoformat()},
    )
    return statement


def statements(
    period: str | None = None, *, party_type: str | None = None, party_id: int | None = None
) -> sa.Select:
    query = sa.select(Statement)
    if period:
        query = query.where(Statement.period == period)
    if party_type:
        query = query.where(Statement.party_type == party_type)
    if party_id is not None:
        query = query.where(Statement.party_id == party_id)
    return query.order_by(Statement.period.desc(), Statement.party_type, Statement.party_id)


def overview(period: str) -> dict[str, Any]:
    """The general manager's month: GMV, refunds, platform margin, commission, subsidies
    budgeted (on the month's paid orders) and spent (on the month's delivered vouchers)."""
    start, end = bounds(period)
    gmv, subsidies = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Order.amount), 0),
            sa.func.coalesce(sa.func.sum(Order.subsidy * Order.quantity), 0),
        ).where(Order.paid_at >= start, Order.paid_at < end)
    ).one()

    def ledger_sum(account: str | None, kinds: tuple[str, ...]) -> int:
        query = (
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
            .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
            .where(
                LedgerTxn.occurred_at >= start,
                LedgerTxn.occurred_at < end,
                LedgerTxn.kind.in_(kinds),
            )
        )
        if account:
            query = query.where(LedgerEntry.account == account)
        return int(db.session.scalar(query))

    commission_kinds = (
        "commission_earned",
        "commission_reversed",
        "commission_clawback",
        "commission_bonus",
    )
    return {
        "period": period,
        "gmv": int(gmv),
        "refunds": -ledger_sum(ledger.PROVIDER, ("voucher_refunded",)),
        "platform_margin": -ledger_sum(ledger.PLATFORM, ("voucher_redeemed",)),
        "commission": ledger_sum(ledger.PLATFORM, commission_kinds),
        "subsidies_budgeted": int(subsidies),
        "subsidies_spent": _subsidy_spent(start, end),
        "net_result": -ledger_sum(
            ledger.PLATFORM, ("voucher_redeemed", "voucher_refunded", *commission_kinds)
        ),
    }


def _subsidy_spent(start: datetime, end: datetime) -> int:
    """Platform money beyond the margin that the vouchers delivered in [start, end) cost:
    commission over the margin and sales below settlement (``rules.subsidy_spent``)."""
    commission = (
        sa.select(sa.func.coalesce(sa.func.sum(CommissionEntry.amount), 0))
        .where(
            CommissionEntry.voucher_id == Voucher.id,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
            CommissionEntry.state.in_(
                [CommissionState.EARNED.value, CommissionState.SETTLED.value]
            ),
        )
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(Order.unit_price, Order.settlement_price, commission)
        .select_from(Voucher)
        .join(Order, Order.id == Voucher.order_id)
        .where(
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
            Voucher.status == VoucherStatus.REDEEMED.value,
        )
    ).all()
    return sum(rules.subsidy_spent(price, owed, int(paid)) for price, owed, paid in rows)


def reconcile(period: str) -> dict[str, Any]:
    """Money the provider received for the period's orders (payments minus refunds) against
    what the ledger says; every order whose two figures differ is listed."""
    start, end = bounds(period)
    orders = db.session.scalars(
        sa.select(Order)
        .where(Order.paid_at >= start, Order.paid_at < end, Order.payment_intent_id.is_not(None))
        .order_by(Order.id)
    ).all()
    ledger_by_order = (
        dict(
            db.session.execute(
                sa.select(LedgerTxn.order_id, sa.func.sum(LedgerEntry.amount))
                .join(LedgerEntry, LedgerEntry.txn_id == LedgerTxn.id)
                .where(
                    LedgerEntry.account == ledger.PROVIDER,
                    LedgerTxn.order_id.in_([o.id for o in orders]),
                )
                .group_by(LedgerTxn.order_id)
            ).all()
        )
        if orders
        else {}
    )
    differences, provider_total, ledger_total = [], 0, 0
    client = stripe()
    for order in orders:
        intent = client.retrieve_payment_intent(order.payment_intent_id)
        received = intent.get(
            "amount_received", intent["amount"] if intent["status"] == "succeeded" else 0
        )
        refunded = sum(
            r["amount"]
            for r in client.list_refunds(order.payment_intent_id)
            if r.get("status") == "succeeded"
        )
        provider_net, booked = received - refunded, int(ledger_by_order.get(order.id) or 0)
        provider_total += provider_net
        ledger_total += booked
        if provider_net != booked:
            differences.append(
                {
                    "order_id": order.id,
                    "provider": provider_net,
                    "ledger": booked,
                    "difference": provider_net - booked,
                }
            )
    return {
        "period": period,
        "orders": len(orders),
        "provider_net": provider_total,
        "ledger_net": ledger_total,
        "differences": differences,
    }


def to_csv(statement: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "statement",
            "period",
            "party",
            "line",
            "kind",
            "order",
            "voucher",
            "commission_entry",
            "carried_from_statement",
            "amount_fen",
            "amount_yuan",
        ]
    )
    for line in statement.lines:
        writer.writerow(
            [
                statement.id,
                statement.period,
                f"{statement.party_type}:{statement.party_id}",
                line.id,
                line.kind,
                line.order_id or "",
                line.voucher_id or "",
                line.commission_entry_id or "",
                line.carried_from_id or "",
                line.amount,
                f"{line.amount / 100:.2f}",
            ]
        )
    writer.writerow(
        [
            statement.id,
            statement.period,
            f"{statement.party_type}:{statement.party_id}",
            "total",
            "",
            "",
            "",
            "",
            "",
            statement.total,
            f"{statement.total / 100:.2f}",
        ]
    )
    return out.getvalue()
