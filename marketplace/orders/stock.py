"""A shopper taking and returning a deal's units: the screen in front of checkout (the
deal's cached sale state and the flash gate, in Redis), the per-shopper limit, and the flash
gate's per-shopper counts, which only orders know.

The deal's own counter, the sold-out transition and the Redis gate belong to the deal
(``marketplace.deals.inventory``, ``sale_state``); this module adds what needs ``Order``:
the shopper's row is locked while their held units are counted, so the limit cannot break
under a race, and an empty gate is refilled from the orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.accounts.models import User
from marketplace.core.clock import to_local
from marketplace.core.db import db, on_commit, on_rollback
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.deals import inventory, sale_state
from marketplace.deals.availability import SELLING, Verdict
from marketplace.deals.errors import LimitReached, SoldOut
from marketplace.deals.inventory import Gate
from marketplace.deals.models import Deal, DealType
from marketplace.orders.models import HOLDING_STATUSES, Order
from marketplace.orders.service import DealNotOnSale


class Refused(Exception):
    """A purchase attempt turned away by the screen, before the database. ``error`` is
    what the shopper is told; ``may_repeat``: the shopper bought this deal before, so the
    attempt may repeat that purchase (an Idempotency-Key only the database can look up)."""

    def __init__(self, error: DomainError, *, may_repeat: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.may_repeat = may_repeat


@dataclass
class Admission:
    """A place in the screen: through the flash gate (``gated``), or a deal without one.
    Given back if the transaction does not commit, or now by ``give_back``."""

    deal_id: int
    shopper_id: int
    quantity: int
    gated: bool
    _returned: list[bool] = field(default_factory=lambda: [False])

    def give_back(self) -> None:
        """The purchase turned out to be a repeat: the place is not needed."""
        if self.gated and not self._returned[0]:
            self._returned[0] = True
            inventory.leave_gate(self.deal_id, self.shopper_id, self.quantity)


def admit(
    deal_id: int, shopper_id: int, quantity: int, moment: datetime, *, keyed: bool
) -> Admission:
    """The screen in front of checkout, answered from Redis: the deal's sale state (not
    found, not on sale, not open yet, closed, sold out) and, for a flash deal, the gate
    (its units, the shopper's limit), read together in one round trip. Raises ``Refused``
    without touching the database — except to fill a gate or a sale state Redis lost.
    ``keyed``: the attempt carries an Idempotency-Key (a refused shopper who bought before
    may be repeating that purchase).

    An admitted attempt still goes to the database, the record, which checks everything
    again; its place in the gate is given back if its transaction does not commit."""
    state, view = sale_state.current_with(deal_id, *inventory.gate_view(deal_id, shopper_id))
    verdict = state.verdict(moment)
    if verdict is Verdict.NOT_FOUND:
        raise InvalidInput(fields={"deal_id": ["No such deal."]}, code="deal_not_found")
    peeked, known = (None, None)
    if state.gated and view is not None:
        peeked, known = inventory.peek(view, quantity, state.per_shopper_limit)
    if verdict is not Verdict.ON_SALE:
        repeat = keyed and (not state.gated or _bought(state, shopper_id, known))
        raise Refused(_refusal(verdict, state), may_repeat=repeat)
    if not state.gated:
        return Admission(deal_id, shopper_id, quantity, gated=False)
    # A refusal the peek saw is final; room is only claimed by the atomic gate script.
    answer = peeked or inventory.enter_gate(deal_id, shopper_id, quantity, state.per_shopper_limit)
    if answer.outcome is Gate.EMPTY:
        load_gate(deal_id)
        answer = inventory.enter_gate(deal_id, shopper_id, quantity, state.per_shopper_limit)
    if answer.outcome is Gate.SOLD_OUT:
        raise Refused(SoldOut(), may_repeat=keyed and answer.known)
    if answer.outcome is Gate.LIMIT_REACHED:
        raise Refused(LimitReached(), may_repeat=keyed and answer.known)
    admission = Admission(deal_id, shopper_id, quantity, gated=True)
    # If the database then refuses (or anything fails), the place goes back. The
    # transaction is begun (no statement yet) so its end, commit or not, is always seen.
    session = db.session()
    if not session.in_transaction():
        session.begin()
    on_rollback(admission.give_back)
    return admission


def _bought(state: sale_state.SaleState, shopper_id: int, known: bool | None) -> bool:
    """Whether a shopper refused by a flash deal's sale state may have bought it before:
    the gate's book says (``known``, as read with the state; the gate filled from the
    database once if Redis lost it)."""
    if known is not None:
        return known
    try:
        known = inventory.knows_buyer(state.deal_id, shopper_id)
        if known is None:
            load_gate(state.deal_id)
            known = inventory.knows_buyer(state.deal_id, shopper_id)
    except RedisError:
        return True  # without Redis the database answers, as for any refusal
    return known is not False


def _refusal(verdict: Verdict, state: sale_state.SaleState) -> DomainError:
    if verdict is Verdict.SOLD_OUT:
        return SoldOut()
    if verdict is Verdict.NOT_OPEN and state.sale_starts_at is not None:
        opens = to_local(state.sale_starts_at).isoformat(timespec="minutes")
        return DealNotOnSale(f"This deal goes on sale at {opens}.")
    if verdict is Verdict.CLOSED:
        return DealNotOnSale("This deal's sale is over.")
    return DealNotOnSale()


def held_units(deal_id: int, shopper_id: int | None = None):
    """Units of ``deal_id`` held by live orders (of one shopper, or per shopper)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Order.quantity), 0)).where(
        Order.deal_id == deal_id, Order.status.in_([s.value for s in HOLDING_STATUSES])
    )
    if shopper_id is not None:
        return db.session.scalar(query.where(Order.shopper_id == shopper_id))
    return query


def load_gate(deal_id: int, *, replace: bool = False) -> bool:
    """Fill the Redis gate of a flash deal from the database (only if absent, unless
    ``replace``): stock left, and every shopper who ordered it with the units they hold."""
    holding = Order.status.in_([s.value for s in HOLDING_STATUSES])
    per_shopper = db.session.execute(
        sa.select(Order.shopper_id, sa.func.sum(sa.case((holding, Order.quantity), else_=0)))
        .where(Order.deal_id == deal_id)
        .group_by(Order.shopper_id)
    ).all()
    stock_left = db.session.scalar(sa.select(Deal.stock_left).where(Deal.id == deal_id))
    return inventory.fill_gate(deal_id, stock_left, per_shopper, replace=replace)


def lock_shopper(shopper_id: int) -> None:
    """Serialise one shopper's purchases (a row lock on PostgreSQL; SQLite serialises
    writers anyway), so their held units are counted without a race."""
    db.session.execute(sa.select(User.id).where(User.id == shopper_id).with_for_update())


def reserve(deal: Deal, shopper: User, quantity: int) -> None:
    """Take ``quantity`` units of ``deal`` for ``shopper`` in the database — the record —
    or raise the deal's SoldOut/LimitReached (``deals.errors``). Callers pass a flash buyer
    through ``admit`` first."""
    lock_shopper(shopper.id)
    check_limit(deal, shopper, quantity)
    take(deal, quantity)


def check_limit(deal: Deal, shopper: User, quantity: int) -> None:
    """Raise LimitReached if ``quantity`` more units would put ``shopper`` over the deal's
    per-shopper limit. The caller holds the shopper's row lock (``lock_shopper``), so the
    count cannot change before the commit."""
    if deal.per_shopper_limit is not None:
        if held_units(deal.id, shopper.id) + quantity > deal.per_shopper_limit:
            raise LimitReached()


def take(deal: Deal, quantity: int) -> None:
    """The units themselves (``inventory.take``), or SoldOut. Its UPDATE locks the deal's
    row until the transaction ends, and every buyer of the deal queues on that lock: a
    checkout does it last, just before its commit, so the queue moves two statements at a
    time, not a whole order's."""
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
        load_gate(deal.id, replace=True)
    return len(deals)
