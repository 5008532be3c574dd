"""Monthly settlement, exactly once: each party's statement is made in its own transaction,
guarded by a unique (period, party) and by every voucher and commission entry appearing on
one line only. Two concurrent runs, or a run resumed after a crash, give the same result."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import (
    day_start,
    local_today,
    month_bounds,
    month_days,
    month_of,
    now,
    previous_month,
    shift_month,
)
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.deals import rules
from marketplace.distribution import commission, streaks
from marketplace.distribution.distributors import my_distributor
from marketplace.distribution.models import Distributor
from marketplace.ledger import service as ledger
from marketplace.orders import attribution
from marketplace.orders.models import Order
from marketplace.providers.stripe import stripe
from marketplace.settlement.models import Statement, StatementLine
from marketplace.vouchers.models import Voucher, VoucherStatus
from merchants.access import membership
from merchants.models import Merchant
from merchants.service import my_merchant


def _bounds(period: str) -> tuple[datetime, datetime]:
    """``core.clock.month_bounds`` of a period a caller gave, its error an input error."""
    try:
        return month_bounds(period)
    except ValueError as exc:
        raise InvalidInput(fields={"period": ["Use YYYY-MM."]}) from exc


def close_month(period: str | None = None) -> dict[str, Any]:
    """The monthly close (the job on the 1st at 02:00, and ``POST /settlements``): the
    month's streak bonuses first, committed, so they are on the statements; then the
    statements. Safe to run again: settled bonuses and statements are left alone."""
    period = period or previous_month()
    _, end = _bounds(period)
    if end > now():
        raise Conflict("A month is settled after it ends.", code="period_not_over")
    bonuses = streaks.compute_streak_bonuses(period, attribution.converted_orders)
    db.session.commit()
    return {"period": period, "streak_bonuses": bonuses, **run(period)}


def _merchant_lines(period: str) -> dict[int, list[StatementLine]]:
    start, end = _bounds(period)
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
    _, end = _bounds(period)
    rows = commission.settleable(period, end)
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


def run(period: str) -> dict[str, int]:
    """Settle ``period``: a statement per merchant (settlement value of vouchers redeemed in
    the month) and per distributor (earned commission, bonuses and clawbacks not settled
    before). Commits per party. Returns how many statements this run made."""
    _, end = _bounds(period)
    if end > now():
        raise Conflict("A month is settled after it ends.", code="period_not_over")
    made = {"merchant": 0, "distributor": 0}
    for party_type, collect in (("merchant", _merchant_lines), ("distributor", _distributor_lines)):
        parties = collect(period)
        db.session.commit()
        for party_id in parties:
            if _settle_party(period, party_type, party_id, collect):
                made[party_type] += 1
    return made


def _settle_party(period: str, party_type: str, party_id: int, collect, attempt: int = 1) -> bool:
    """One party's statement in its own transaction; False if there was nothing to settle
    or another run settled it first."""
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
        if party_type == "distributor" and not commission.mark_settled(
            [line.commission_entry_id for line in lines if line.commission_entry_id]
        ):
            # A refund cancelled one of these entries after we read them: this statement
            # would pay what the ledger has already reversed. Read the party again.
            db.session.rollback()
            if attempt >= 3:
                raise Conflict(
                    "The distributor's commission kept changing; settle the month again.",
                    code="commission_changed",
                )
            return _settle_party(period, party_type, party_id, collect, attempt=attempt + 1)
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


# A statement is read without its lines, which a busy shop's month has thousands of: a
# page reads one page of them (``statement_lines``), the API and the CSV all of them
# (``statement.lines``, then loaded in one statement).
_WITHOUT_LINES = (lazyload(Statement.lines),)


def get_statement(statement_id: int) -> Statement:
    statement = db.session.get(Statement, statement_id, options=_WITHOUT_LINES)
    if statement is None:
        raise NotFound("No such statement.", code="statement_not_found")
    return statement


def record_payout(statement_id: int, reference: str, paid_on: date, actor_id: int) -> Statement:
    """The payout money event, composed here and nowhere else: the statement is marked paid
    (bank reference, date), the ledger moves the total out of the party's account
    (``ledger.payout``), and the audit trail says who. It sits in settlement, not in
    ``orders.actions``, because a payout settles a statement (many orders), above orders.
    Recording the same reference again changes nothing; a paid statement or one with
    nothing to pay is a 409."""
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
    period: str | None = None,
    *,
    party_type: str | None = None,
    party_id: int | None = None,
    status: str | None = None,
) -> sa.Select:
    query = sa.select(Statement)
    if period:
        query = query.where(Statement.period == period)
    if status:
        query = query.where(Statement.status == status)
    if party_type:
        query = query.where(Statement.party_type == party_type)
    if party_id is not None:
        query = query.where(Statement.party_id == party_id)
    return query.order_by(Statement.period.desc(), Statement.party_type, Statement.party_id)


def party_names(shown: list[Statement]) -> dict[tuple[str, int], str]:
    """The names of the parties of ``shown`` statements (a merchant's shop name, a
    distributor's display name), read in two queries."""
    merchant_ids = {s.party_id for s in shown if s.party_type == "merchant"}
    distributor_ids = {s.party_id for s in shown if s.party_type == "distributor"}
    names: dict[tuple[str, int], str] = {}
    if merchant_ids:
        for merchant_id, name in db.session.execute(
            sa.select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))
        ).all():
            names[("merchant", merchant_id)] = name
    if distributor_ids:
        for distributor_id, name in db.session.execute(
            sa.select(Distributor.id, User.display_name)
            .join(User, User.id == Distributor.user_id)
            .where(Distributor.id.in_(distributor_ids))
        ).all():
            names[("distributor", distributor_id)] = name
    return names


def my_statements(user: User, party_type: str) -> sa.Select:
    """The user's own statements as a merchant's staff or as a distributor (404 if the user
    is not one)."""
    if party_type == "merchant":
        party_id = my_merchant(user).merchant_id
    else:
        party_id = my_distributor(user).id
    return statements(party_type=party_type, party_id=party_id)


def overview(period: str) -> dict[str, Any]:
    """The general manager's month: GMV, refunds, platform margin, commission, subsidies
    budgeted (on the month's paid orders) and spent (on the month's delivered vouchers)."""
    start, end = _bounds(period)
    gmv, subsidies = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Order.amount), 0),
            sa.func.coalesce(sa.func.sum(Order.subsidy * Order.quantity), 0),
        ).where(Order.paid_at >= start, Order.paid_at < end)
    ).one()
    results = ledger.results_between(start, end)
    return {
        "period": period,
        "gmv": int(gmv),
        "refunds": results["refunds"],
        "platform_margin": results["platform_margin"],
        "commission": results["commission"],
        "subsidies_budgeted": int(subsidies),
        "subsidies_spent": _subsidy_spent(start, end),
        "net_result": results["net_result"],
    }


def _subsidy_spent(start: datetime, end: datetime) -> int:
    """Platform money beyond the margin that the vouchers delivered in [start, end) cost:
    commission over the margin and sales below settlement (``rules.subsidy_spent``)."""
    rows = db.session.execute(
        sa.select(Order.unit_price, Order.settlement_price, commission.paid_on_voucher(Voucher.id))
        .select_from(Voucher)
        .join(Order, Order.id == Voucher.order_id)
        .where(
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
            Voucher.status == VoucherStatus.REDEEMED.value,
        )
    ).all()
    return sum(rules.subsidy_spent(price, owed, int(paid)) for price, owed, paid in rows)


# -- the general manager's charts --------------------------------------------------------


def overview_by_period(bounds: list[datetime]) -> list[dict[str, int]]:
    """``overview``'s figures for each period [bounds[i], bounds[i+1]) in a few queries
    (the months of a year, the days of a month), plus ``settlement_owed``: the settlement
    value of the vouchers redeemed in the period, which is what the merchants' statements
    of a settled month add up to. Equal, period by period, to ``overview`` (tested)."""
    periods = len(bounds) - 1
    results = ledger.results_by_period(bounds)
    paid_bucket = ledger.period_index(Order.paid_at, bounds).label("bucket")
    sales = {
        int(index): (int(gmv), int(subsidies))
        for index, gmv, subsidies in db.session.execute(
            sa.select(
                paid_bucket,
                sa.func.coalesce(sa.func.sum(Order.amount), 0),
                sa.func.coalesce(sa.func.sum(Order.subsidy * Order.quantity), 0),
            )
            .where(Order.paid_at >= bounds[0], Order.paid_at < bounds[-1])
            .group_by(paid_bucket)
        ).all()
        if index is not None
    }
    spent, owed = [0] * periods, [0] * periods
    redeemed_bucket = ledger.period_index(Voucher.redeemed_at, bounds).label("bucket")
    for index, status, price, settlement, paid in db.session.execute(
        sa.select(
            redeemed_bucket,
            Voucher.status,
            Order.unit_price,
            Order.settlement_price,
            commission.paid_on_voucher(Voucher.id),
        )
        .select_from(Voucher)
        .join(Order, Order.id == Voucher.order_id)
        .where(Voucher.redeemed_at >= bounds[0], Voucher.redeemed_at < bounds[-1])
    ).all():
        if index is None:
            continue
        owed[int(index)] += settlement
        if status == VoucherStatus.REDEEMED.value:
            spent[int(index)] += rules.subsidy_spent(price, settlement, int(paid))
    return [
        {
            "gmv": sales.get(i, (0, 0))[0],
            "refunds": results[i]["refunds"],
            "platform_margin": results[i]["platform_margin"],
            "commission": results[i]["commission"],
            "subsidies_budgeted": sales.get(i, (0, 0))[1],
            "subsidies_spent": spent[i],
            "net_result": results[i]["net_result"],
            "settlement_owed": owed[i],
        }
        for i in range(periods)
    ]


def months_overview(last: str, count: int = 12) -> list[dict[str, Any]]:
    """The ``count`` months up to ``last`` (YYYY-MM), oldest first, each with its period."""
    months = [shift_month(last, -back) for back in range(count - 1, -1, -1)]
    _bounds(months[0])
    bounds = [month_bounds(m)[0] for m in months] + [_bounds(last)[1]]
    return [
        {"period": month, **figures}
        for month, figures in zip(months, overview_by_period(bounds), strict=True)
    ]


def days_overview(period: str) -> list[dict[str, Any]]:
    """Each day of ``period`` (Asia/Shanghai days), with its date; the days still to come
    of the current month are left out."""
    _bounds(period)
    first, last = month_days(period)
    if month_of(now()) == period:
        last = local_today()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [day_start(d) for d in days] + [day_start(last + timedelta(days=1))]
    return [
        {"day": day, **figures}
        for day, figures in zip(days, overview_by_period(bounds), strict=True)
    ]


def statement_totals(period: str) -> dict[str, int]:
    """The month's statements added up per party type (and how many are paid): what the
    overview's figures are checked against."""
    _bounds(period)
    totals = {"merchant": 0, "distributor": 0, "statements": 0, "paid": 0, "paid_total": 0}
    for party_type, status, count, total in db.session.execute(
        sa.select(
            Statement.party_type,
            Statement.status,
            sa.func.count(Statement.id),
            sa.func.coalesce(sa.func.sum(Statement.total), 0),
        )
        .where(Statement.period == period)
        .group_by(Statement.party_type, Statement.status)
    ).all():
        totals[party_type] = totals.get(party_type, 0) + int(total)
        totals["statements"] += int(count)
        if status == "paid":
            totals["paid"] += int(count)
            totals["paid_total"] += int(total)
    return totals


def reconcile(period: str) -> dict[str, Any]:
    """Money the provider received for the period's orders (payments minus refunds) against
    what the ledger says; every order whose two figures differ is listed."""
    start, end = _bounds(period)
    orders = db.session.scalars(
        sa.select(Order)
        .where(Order.paid_at >= start, Order.paid_at < end, Order.payment_intent_id.is_not(None))
        .order_by(Order.id)
    ).all()
    ledger_by_order = ledger.provider_net_by_order(o.id for o in orders)
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


# -- a merchant's statement in its portal (the merchant portal's section) ------------------


def merchant_statement(statement_id: int, user: User) -> Statement:
    """A statement of the user's own shop; any other (another shop's, a distributor's) is a
    404 like one that does not exist, so a clerk cannot learn which ids are taken."""
    statement = db.session.get(Statement, statement_id, options=_WITHOUT_LINES)
    member = membership(user)
    if (
        statement is None
        or member is None
        or statement.party_type != "merchant"
        or statement.party_id != member.merchant_id
    ):
        raise NotFound("No such statement.", code="statement_not_found")
    return statement


def statement_lines(statement: Statement) -> sa.Select:
    """The statement's lines in order, for a page of them (the caller paginates); the
    statement's ``total`` is the sum of all of them, whichever page is shown."""
    return (
        sa.select(StatementLine)
        .where(StatementLine.statement_id == statement.id)
        .order_by(StatementLine.id)
    )


def statement_rows(
    statement: Statement, lines: Sequence[StatementLine] | None = None
) -> list[dict[str, Any]]:
    """The statement's lines (all of them, or the page of ``statement_lines`` given) as the
    shop reads them: kind, voucher code, order, the day the voucher was used (an aware UTC
    instant; pages and the CSV show Asia/Shanghai), the deal and the amount in fen. Their
    vouchers and deals are read in one statement."""
    if lines is None:
        lines = statement.lines
    voucher_ids = [line.voucher_id for line in lines if line.voucher_id]
    vouchers_by_id = (
        {v.id: v for v in db.session.scalars(sa.select(Voucher).where(Voucher.id.in_(voucher_ids)))}
        if voucher_ids
        else {}
    )
    rows = []
    for line in lines:
        voucher = vouchers_by_id.get(line.voucher_id) if line.voucher_id else None
        rows.append(
            {
                "kind": line.kind,
                "voucher_code": voucher.code if voucher else "",
                "order_id": line.order_id,
                "redeemed_at": voucher.redeemed_at if voucher else None,
                "deal": voucher.deal.title if voucher else "",
                "amount": line.amount,
                "carried_from_id": line.carried_from_id,
            }
        )
    return rows
