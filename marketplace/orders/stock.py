"""A shopper taking and returning a deal's units: the per-shopper limit and the flash gate's
per-shopper counts, which only orders know.

The deal's own counter, the sold-out transition and the Redis gate belong to the deal
(``marketplace.deals.inventory``); this module adds what needs ``Order``: the shopper's row
is locked while their held units are counted, so the limit cannot break under a race, and an
empty gate is refilled from the orders that hold units.
"""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db, on_commit, on_rollback
from marketplace.deals import inventory
from marketplace.deals.availability import SELLING
from marketplace.deals.errors import LimitReached
from marketplace.deals.models import Deal, DealType
from marketplace.orders.models import HOLDING_STATUSES, Order


def held_units(deal_id: int, shopper_id: int | None = None):
    """Units of ``deal_id`` held by live orders (of one shopper, or per shopper)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Order.quantity), 0)).where(
        Order.deal_id == deal_id, Order.status.in_([s.value for s in HOLDING_STATUSES])
    )
    if shopper_id is not None:
        return db.session.scalar(query.where(Order.shopper_id == shopper_id))
    return query


def load_gate(deal: Deal, *, replace: bool = False) -> bool:
    """Fill the Redis gate of a flash deal from the database (only if absent, unless
    ``replace``): stock left and each shopper's held units."""
    per_shopper = db.session.execute(
        sa.select(Order.shopper_id, sa.func.sum(Order.quantity))
        .where(Order.deal_id == deal.id, Order.status.in_([s.value for s in HOLDING_STATUSES]))
        .group_by(Order.shopper_id)
    ).all()
    stock_left = db.session.scalar(sa.select(Deal.stock_left).where(Deal.id == deal.id))
    return inventory.fill_gate(deal.id, stock_left, per_shopper, replace=replace)


def admit(deal: Deal, shopper_id: int, quantity: int) -> None:
    """The Redis gate of a flash deal: turn the crowd away before it touches the database.
    Raises the deal's SoldOut/LimitReached (``deals.errors``); an admitted place is given
    back if the transaction does not commit. Other deal types pass straight through."""
    if not inventory.has_gate(deal):
        return
    if not inventory.enter_gate(deal, shopper_id, quantity):
        load_gate(deal)
        inventory.enter_gate(deal, shopper_id, quantity)
    # Admitted: if the database then refuses (or anything fails), give the place back.
    on_rollback(lambda: inventory.leave_gate(deal.id, shopper_id, quantity))


def ungate_now(deal: Deal, shopper_id: int, quantity: int) -> None:
    """Give back a place ``admit`` granted when the purchase turned out to be a repeat."""
    if inventory.has_gate(deal):
        inventory.leave_gate(deal.id, shopper_id, quantity)


def lock_shopper(shopper_id: int) -> None:
    """Serialise one shopper's purchases (a row lock on PostgreSQL; SQLite serialises
    writers anyway), so their held units are counted without a race."""
    db.session.execute(sa.select(User.id).where(User.id == shopper_id).with_for_update())


def reserve(deal: Deal, shopper: User, quantity: int) -> None:
    """Take ``quantity`` units of ``deal`` for ``shopper`` in the database — the record —
    or raise the deal's SoldOut/LimitReached (``deals.errors``). Callers pass a flash buyer
    through ``admit`` first."""
    lock_shopper(shopper.id)
    if deal.per_shopper_limit is not None:
        if held_units(deal.id, shopper.id) + quantity > deal.per_shopper_limit:
            raise LimitReached()
    inventory.take(deal, quantity)


def release(deal: Deal, shopper_id: int, quantity: int) -> None:
    """Give ``quantity`` units back (an order expired, failed or was refunded)."""
    inventory.give_back(deal, quantity)
    if inventory.has_gate(deal):
        on_commit(lambda: inventory.leave_gate(deal.id, shopper_id, quantity))


def rebuild_gates() -> int:
    """Reload every selling flash deal's Redis gate from the database (reconciliation job
    and worker start-up)."""
    deals = db.session.scalars(
        sa.select(Deal).where(Deal.type == DealType.FLASH.value, Deal.status.in_(SELLING))
    ).all()
    for deal in deals:
        load_gate(deal, replace=True)
    return len(deals)
