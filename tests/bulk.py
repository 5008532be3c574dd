"""A populated world for the read-cost tests, grown in bulk.

``cast`` makes the accounts that make the requests, through the domain services like every
other builder (a BD, customer service, an admin, a shop with its owner, a shopper who is
also a distributor). ``grow`` then adds rows around them with multi-row INSERTs (one
executemany per table, no ORM unit of work), so a world of 10,000 live deals and 100,000
shoppers costs seconds, not minutes: a test measures the statements of every read at a small
size, grows the world, and measures again.

Every list a request shows gets ``rows`` more items, each tied to a *different* related
row (another deal, merchant, shopper, author, grader…): a relationship loaded once per item
then shows up as statements that grow with the list, which is what the tests look for. The
rows are valid (they satisfy every constraint), not the outcome of real money events: these
tests measure reads, and the domain's own tests cover how such rows come to be.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from marketplace.accounts.models import Role, User, UserRole
from marketplace.core.audit import AuditEvent
from marketplace.core.clock import local_today, local_zone, month_bounds, now
from marketplace.core.db import db
from marketplace.deals.models import Deal, DealDailySales, DealPriceChange, PopupBooking
from marketplace.distribution.models import (
    CommissionEntry,
    CustomerBinding,
    Distributor,
    MomentsProof,
)
from marketplace.orders.models import Order
from marketplace.refunds.models import RefundItem, RefundRequest
from marketplace.settlement.models import Statement, StatementLine
from marketplace.tickets.models import Ticket, TicketMessage
from marketplace.vouchers.models import Voucher
from merchants.models import (
    Category,
    Merchant,
    MerchantContract,
    MerchantGrade,
    MerchantStaff,
    MerchantVisit,
)
from tests.factories import (
    Account,
    live_deal,
    live_merchant,
    portal_account,
    quick_shopper,
    serving,
    staff,
)

_seq = itertools.count(1)
CENTRE = (27.3383, 103.7172)  # Zhaotong


@dataclass
class World:
    """Who asks, and the ids their requests name."""

    bd: Account
    cs: Account
    admin: Account
    owner: Account  # the shop's owner (merchant staff)
    shopper: Account  # also a distributor
    merchant_id: int
    deal_id: int
    distributor_id: int
    order_id: int = 0  # the shopper's order with the refund requests
    ticket_id: int = 0  # the shopper's ticket with a conversation
    statement_id: int = 0  # the shop's statement
    live_deals: int = 1
    shoppers: int = 1
    sizes: dict[str, int] = field(default_factory=dict)


def cast(app: Flask, client: FlaskClient) -> World:
    """The accounts of the requests, made through the services (each with its token)."""
    from marketplace.distribution import distributors

    bd = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)
    admin = staff(app, client, Role.ADMIN)
    merchant = live_merchant(client, bd, location={"lat": CENTRE[0], "lng": CENTRE[1]})
    owner = portal_account(app, client, bd, merchant["id"])
    deal = live_deal(app, client, bd, merchant["id"])
    shopper = quick_shopper(app)
    with serving(app):
        distributor = distributors.join(db.session.get(User, shopper.id))
        db.session.commit()
        distributor_id = distributor.id
    world = World(
        bd=bd,
        cs=cs,
        admin=admin,
        owner=owner,
        shopper=shopper,
        merchant_id=merchant["id"],
        deal_id=deal["id"],
        distributor_id=distributor_id,
    )
    with app.app_context():
        world.shoppers = db.session.scalar(
            sa.select(sa.func.count()).select_from(UserRole).where(UserRole.role == "shopper")
        )
    return world


# -- multi-row inserts ---------------------------------------------------------------------


def insert(model: Any, rows: list[dict[str, Any]], *, ids: bool = True) -> list[int]:
    """Insert ``rows`` into ``model``'s table in one executemany (column defaults apply);
    their new ids in the order given."""
    if not rows:
        return []
    table = model.__table__
    if not ids:
        db.session.execute(table.insert(), rows)
        return []
    result = db.session.execute(
        table.insert().returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return list(result.scalars())


def users(count: int, *, role: Role, prefix: str) -> list[int]:
    """``count`` users holding ``role``: shoppers get a phone, anyone else a username."""
    batch = next(_seq)
    rows = []
    for n in range(count):
        if role == Role.SHOPPER:
            rows.append({"phone": f"19{batch % 10}{n:08d}", "display_name": f"用户{n}"})
        else:
            rows.append({"username": f"{prefix}{batch}-{n}", "display_name": f"{prefix} {n}"})
    made = insert(User, rows)
    insert(UserRole, [{"user_id": i, "role": role.value} for i in made], ids=False)
    return made


def many_shoppers(count: int) -> None:
    """``count`` shoppers made by the database itself (two INSERT … SELECT over a counter),
    for the crowds that only need to exist: 100,000 rows in about a second on either
    database, where sending them would take a minute on a busy machine."""
    base = 18_000_000_000 + next(_seq) * 10_000_000  # 11 digits, away from the factories'
    counter = sa.select(sa.literal(0).label("n")).cte("counter", recursive=True)
    counter = counter.union_all(sa.select(counter.c.n + 1).where(counter.c.n < count - 1))
    phone = sa.cast(sa.literal(base) + counter.c.n, sa.String)
    moment = now()
    db.session.execute(
        User.__table__.insert().from_select(
            [
                "phone",
                "display_name",
                "is_active",
                "must_change_password",
                "created_at",
                "updated_at",
            ],
            sa.select(
                phone,
                sa.literal("用户"),
                sa.true(),
                sa.false(),
                sa.literal(moment),
                sa.literal(moment),
            ),
        )
    )
    db.session.execute(
        UserRole.__table__.insert().from_select(
            ["user_id", "role", "granted_at"],
            sa.select(User.id, sa.literal(Role.SHOPPER.value), sa.literal(moment)).where(
                User.phone.between(str(base), str(base + count - 1))
            ),
        )
    )


def _published(n: int) -> datetime:
    return now() - timedelta(minutes=5 + n)


def deal_row(merchant_id: int, n: int, **overrides: Any) -> dict[str, Any]:
    """A live small set (the economics of the factories' default deal)."""
    return {
        "merchant_id": merchant_id,
        "type": "small_set",
        "title": f"批量套餐 {n}",
        "party_size": 4,
        "list_price": 26800,
        "sale_price": 15800,
        "settlement_price": 12800,
        "commission_l1": 800,
        "commission_l2": 200,
        "stock": 200,
        "stock_left": 200,
        "validity_days": 30,
        "status": "live",
        "published_at": _published(n),
        "images": [f"/media/deals/{n}/cover.jpg"],
        **overrides,
    }


def _order_row(shopper_id: int, deal_id: int, merchant_id: int, **overrides: Any) -> dict:
    moment = now()
    return {
        "shopper_id": shopper_id,
        "deal_id": deal_id,
        "merchant_id": merchant_id,
        "quantity": 1,
        "unit_price": 15800,
        "settlement_price": 12800,
        "subsidy": 0,
        "commission_l1": 800,
        "commission_l2": 200,
        "amount": 15800,
        "status": "paid",
        "expires_at": moment + timedelta(minutes=15),
        "paid_at": moment,
        **overrides,
    }


def _voucher_row(order_id: int, deal_id: int, merchant_id: int, shopper_id: int, **kw) -> dict:
    today = local_today()
    return {
        "code": f"{next(_seq):012d}",
        "order_id": order_id,
        "deal_id": deal_id,
        "merchant_id": merchant_id,
        "shopper_id": shopper_id,
        "status": "active",
        "valid_from": today,
        "valid_until": today + timedelta(days=30),
        **kw,
    }


def _months_back(count: int, start: date) -> list[str]:
    year, month = start.year, start.month
    months = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        months.append(f"{year:04d}-{month:02d}")
    return months


# -- growing -------------------------------------------------------------------------------


def grow(app: Flask, world: World, *, live_deals: int, shoppers: int, rows: int) -> None:
    """Bring the world to ``live_deals`` live deals and ``shoppers`` shoppers, and add
    ``rows`` items (each with its own related rows) to every list the requests read."""
    with serving(app):
        _grow(world, live_deals, shoppers, rows)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does after a load this size: without fresh statistics the
            # planner takes 10,000 deals for one and picks plans for one.
            with db.engine.begin() as conn:  # statistics are kept only if committed
                conn.execute(sa.text("ANALYZE"))


def empty(app: Flask) -> None:
    """Remove a grown world at once (PostgreSQL checks every foreign key of every deleted
    row, which for 100,000 users takes longer than the test); the suite's reset then puts
    the reference rows back."""
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name != "postgresql":
            return
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names}"))


def _grow(world: World, live_deals: int, shoppers: int, rows: int) -> None:
    categories = db.session.scalars(sa.select(Category.id).order_by(Category.id)).all()
    people = users(rows, role=Role.BD, prefix="staff")  # authors, graders, owners, actors
    crowd = users(rows * 4, role=Role.SHOPPER, prefix="")  # buyers, openers, distributors
    today, moment = local_today(), now()

    # merchants (live, one owner each), with the world's shop among the deals' merchants
    merchants = insert(
        Merchant,
        [
            {
                "name": f"批量商家 {n}",
                "category_id": categories[n % len(categories)],
                "address": f"昭阳区 {n} 号",
                "latitude": CENTRE[0] + (n % 50) * 0.0002,
                "longitude": CENTRE[1],
                "phone": "0870-2123456",
                "business_hours": [],
                "owner_id": people[n],
                "stage": "live",
                "current_grade": 1 + n % 5,
                "follow_up_due": today - timedelta(days=1 + n % 30),
                "is_headliner": n % 7 == 0,
            }
            for n in range(rows)
        ],
    )
    shops = [world.merchant_id, *merchants]

    # live deals: the world's shop gets `rows` of them (its vouchers name distinct deals)
    new_deals = max(live_deals - world.live_deals, rows)
    deal_rows = [deal_row(world.merchant_id, n) for n in range(rows)]
    deal_rows += [
        deal_row(shops[1 + n % len(merchants)], rows + n) for n in range(new_deals - rows)
    ]
    deals = insert(Deal, deal_rows)
    world.live_deals += len(deals)
    shop_deals, other_deals = deals[:rows], deals[rows:]
    merchant_of = {d: r["merchant_id"] for d, r in zip(deals, deal_rows, strict=True)}
    insert(DealDailySales, [{"deal_id": d, "day": today, "units": 1} for d in deals], ids=False)
    insert(
        DealPriceChange,
        [
            {
                "deal_id": world.deal_id,
                "field": "sale_price",
                "old_value": 15800,
                "new_value": 15800 + n,
                "changed_by_id": people[n],
            }
            for n in range(rows)
        ],
        ids=False,
    )
    scheduled_slots = _free_slots(today + timedelta(days=1), rows)
    insert(
        Deal,
        [
            deal_row(
                shops[1 + n % len(merchants)],
                n,
                status="scheduled",
                published_at=None,
                publish_at=slot,
            )
            for n, slot in enumerate(scheduled_slots)
        ],
        ids=False,
    )
    booked = _free_days(PopupBooking.day, today, rows)
    insert(
        PopupBooking,
        [
            {"day": day, "deal_id": other_deals[n], "booked_by_id": people[n]}
            for n, day in enumerate(booked)
        ],
        ids=False,
    )

    # shoppers: the crowd above plus fillers up to `shoppers`
    fillers = max(0, shoppers - world.shoppers - len(crowd))
    if fillers:
        many_shoppers(fillers)
    world.shoppers += len(crowd) + fillers

    # the shopper's orders (one voucher each), on deals of distinct merchants
    mine = insert(
        Order,
        [_order_row(world.shopper.id, d, merchant_of[d]) for d in other_deals[:rows]],
    )
    insert(
        Voucher,
        [
            _voucher_row(o, d, merchant_of[d], world.shopper.id)
            for o, d in zip(mine, other_deals[:rows], strict=True)
        ],
        ids=False,
    )
    # refund requests of one of them, each decided (one open request per order at most)
    world.order_id = world.order_id or mine[0]
    refund_voucher = db.session.scalar(
        sa.select(Voucher.id).where(Voucher.order_id == world.order_id)
    )
    requests = insert(
        RefundRequest,
        [
            {
                "order_id": world.order_id,
                "shopper_id": world.shopper.id,
                "status": "rejected",
                "reason": "other",
                "amount": 15800,
                "decided_by_id": people[n],
                "decided_at": moment,
            }
            for n in range(rows)
        ],
    )
    insert(
        RefundItem, [{"request_id": r, "voucher_id": refund_voucher} for r in requests], ids=False
    )

    # the shop's vouchers: distinct deals and buyers, half of them redeemed by its clerks
    clerks = people  # merchant staff of the world's shop
    insert(
        MerchantStaff,
        [{"user_id": c, "merchant_id": world.merchant_id, "role": "clerk"} for c in clerks],
        ids=False,
    )
    insert(UserRole, [{"user_id": c, "role": "merchant_staff"} for c in clerks], ids=False)
    sold = insert(
        Order,
        [_order_row(crowd[n], shop_deals[n], world.merchant_id) for n in range(rows)],
    )
    shop_vouchers = insert(
        Voucher,
        [
            _voucher_row(
                o,
                shop_deals[n],
                world.merchant_id,
                crowd[n],
                **(
                    {"status": "redeemed", "redeemed_at": moment, "redeemed_by_id": clerks[n]}
                    if n % 2
                    else {}
                ),
            )
            for n, o in enumerate(sold)
        ],
    )

    # the refund queue: open requests by distinct shoppers about distinct merchants' deals
    queued = insert(
        Order,
        [
            _order_row(crowd[rows + n], other_deals[n], merchant_of[other_deals[n]])
            for n in range(rows)
        ],
    )
    queued_vouchers = insert(
        Voucher,
        [
            _voucher_row(o, other_deals[n], merchant_of[other_deals[n]], crowd[rows + n])
            for n, o in enumerate(queued)
        ],
    )
    open_requests = insert(
        RefundRequest,
        [
            {
                "order_id": o,
                "shopper_id": crowd[rows + n],
                "status": "pending",
                "reason": "changed_mind",
                "amount": 15800,
                "open_order_id": o,
            }
            for n, o in enumerate(queued)
        ],
    )
    insert(
        RefundItem,
        [
            {"request_id": r, "voucher_id": v}
            for r, v in zip(open_requests, queued_vouchers, strict=True)
        ],
        ids=False,
    )
    # vouchers that expired unused, on distinct deals
    expired = insert(
        Order,
        [
            _order_row(crowd[2 * rows + n], other_deals[n], merchant_of[other_deals[n]])
            for n in range(rows)
        ],
    )
    insert(
        Voucher,
        [
            _voucher_row(
                o,
                other_deals[n],
                merchant_of[other_deals[n]],
                crowd[2 * rows + n],
                status="expired",
                valid_from=today - timedelta(days=40),
                valid_until=today - timedelta(days=10),
            )
            for n, o in enumerate(expired)
        ],
        ids=False,
    )

    # tickets: the shopper's (a conversation each) and distinct openers' (open, for the
    # dashboard), and the shop owner's
    due = moment + timedelta(minutes=1)
    theirs = insert(
        Ticket,
        [
            {
                "opener_id": opener,
                "kind": "complaint",
                "subject": f"投诉 {n}",
                "first_response_due_at": due,
                "status": "open",
            }
            for n, opener in enumerate(
                [world.shopper.id] * rows + crowd[:rows] + [world.owner.id] * rows
            )
        ],
    )
    insert(
        TicketMessage,
        [
            {
                "ticket_id": t,
                "author_id": author,
                "from_staff": author != world.shopper.id,
                "body": "内容",
            }
            for n, t in enumerate(theirs)
            for author in (world.shopper.id, people[n % rows])
        ],
        ids=False,
    )
    world.ticket_id = world.ticket_id or theirs[0]

    # distribution: distinct distributors (each its own user), the world's distributor's
    # entries, proofs, customers and statements
    recruits = insert(
        Distributor,
        [
            {
                "user_id": crowd[3 * rows + n],
                "status": "active",
                "invite_code": f"B{next(_seq):09d}",
                "recruiter_id": world.distributor_id,
                "joined_at": moment,
            }
            for n in range(rows)
        ],
    )
    insert(
        CommissionEntry,
        [
            {
                "distributor_id": world.distributor_id,
                "kind": "level1",
                "state": "pending",
                "amount": 800,
                "order_id": o,
                "voucher_id": v,
            }
            for o, v in zip(queued, queued_vouchers, strict=True)
        ],
        ids=False,
    )
    proof_days = _free_days(
        MomentsProof.day,
        today - timedelta(days=3 * rows),
        rows,
        where=MomentsProof.distributor_id == world.distributor_id,
    )
    insert(
        MomentsProof,
        [
            {"distributor_id": world.distributor_id, "day": day, "file_key": f"m/{n}.png"}
            for n, day in enumerate(proof_days)
        ]
        + [
            {"distributor_id": d, "day": today, "file_key": f"m/r{n}.png"}
            for n, d in enumerate(recruits)
        ],
        ids=False,
    )
    insert(
        CustomerBinding,
        [
            {"shopper_id": s, "distributor_id": world.distributor_id, "channel": "login"}
            for s in crowd[rows : 2 * rows]
        ],
        ids=False,
    )
    taken = set(
        db.session.scalars(
            sa.select(Statement.period).where(
                Statement.party_id.in_([world.merchant_id, world.distributor_id])
            )
        )
    )
    periods = [p for p in _months_back(rows + len(taken), today) if p not in taken][:rows]
    statements = insert(
        Statement,
        [
            {"period": p, "party_type": party, "party_id": party_id, "total": 12800}
            for p in periods
            for party, party_id in (
                ("merchant", world.merchant_id),
                ("distributor", world.distributor_id),
            )
        ],
    )
    insert(
        StatementLine,
        [
            {"statement_id": s, "kind": "redemption", "amount": 12800}
            for s in statements
            for _ in range(2)
        ],
        ids=False,
    )
    world.statement_id = world.statement_id or statements[0]

    # the shop's file: grades, visits, contracts and audit trail by distinct staff
    insert(
        MerchantGrade,
        [
            {"merchant_id": world.merchant_id, "grade": 4, "note": "n", "graded_by_id": p}
            for p in people
        ],
        ids=False,
    )
    insert(
        MerchantVisit,
        [
            {
                "merchant_id": world.merchant_id,
                "visited_on": today,
                "channel": "visit",
                "notes": "n",
                "recorded_by_id": p,
            }
            for p in people
        ],
        ids=False,
    )
    insert(
        MerchantContract,
        [
            {
                "merchant_id": world.merchant_id,
                "kind": "service_schedule",
                "signatory": "张",
                "signed_on": today,
                "recorded_by_id": p,
                "file_key": f"c/{p}.pdf",
                "file_name": "c.pdf",
                "content_type": "application/pdf",
                "size": 1,
                "sha256": "0",
            }
            for p in people
        ],
        ids=False,
    )
    insert(
        AuditEvent,
        [
            {
                "actor_id": p,
                "entity_type": "merchant",
                "entity_id": str(world.merchant_id),
                "action": "merchant.visited",
            }
            for p in people
        ],
        ids=False,
    )
    world.sizes = {"shop vouchers": len(shop_vouchers)}


def _free_days(column: Any, start: date, count: int, where: Any = None) -> list[date]:
    """``count`` days from ``start`` on that no row of ``column``'s table holds yet."""
    query = sa.select(column)
    if where is not None:
        query = query.where(where)
    taken = set(db.session.scalars(query))
    days = (start + timedelta(days=n) for n in itertools.count())
    return list(itertools.islice((d for d in days if d not in taken), count))


def _free_slots(start: date, count: int) -> list[datetime]:
    """``count`` publishing slots (10:00 and 15:00 Asia/Shanghai) from ``start`` on that no
    deal holds yet."""
    taken = set(db.session.scalars(sa.select(Deal.publish_at).where(Deal.publish_at.is_not(None))))
    slots = (
        datetime.combine(start + timedelta(days=n), time(hour), tzinfo=local_zone()).astimezone(UTC)
        for n in itertools.count()
        for hour in (10, 15)
    )
    return list(itertools.islice((s for s in slots if s not in taken), count))


def busy_statement(merchant_id: int, shopper_id: int, lines: int, *, period: str) -> int:
    """A statement of ``merchant_id``'s for ``period`` with ``lines`` redemption lines,
    each on its own deal, order and redeemed voucher, with amounts 10000, 10001, … fen
    (so a sum over part of them is never the total); its id. Inserted at once, like the
    rest of this module: the pages that read statements are measured, not settlement."""
    start, _ = month_bounds(period)
    deals = insert(
        Deal,
        [deal_row(merchant_id, n, title=f"明细团购 {n:04d}", status="ended") for n in range(lines)],
    )
    orders = insert(Order, [_order_row(shopper_id, d, merchant_id) for d in deals])
    vouchers = insert(
        Voucher,
        [
            _voucher_row(
                o,
                d,
                merchant_id,
                shopper_id,
                status="redeemed",
                redeemed_at=start + timedelta(minutes=n),
            )
            for n, (o, d) in enumerate(zip(orders, deals, strict=True))
        ],
    )
    amounts = [10_000 + n for n in range(lines)]
    (statement,) = insert(
        Statement,
        [
            {
                "period": period,
                "party_type": "merchant",
                "party_id": merchant_id,
                "total": sum(amounts),
            }
        ],
    )
    insert(
        StatementLine,
        [
            {
                "statement_id": statement,
                "kind": "redemption",
                "amount": amount,
                "order_id": o,
                "voucher_id": v,
            }
            for amount, o, v in zip(amounts, orders, vouchers, strict=True)
        ],
        ids=False,
    )
    return statement
