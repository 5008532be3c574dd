"""A shopper taking and returning a deal's units: the screen in front of checkout (the
deal's cached sale state and the flash gate, in Redis), the per-shopper limit, and the flash
gate's per-shopper counts, which only orders know.

The deal's own counter, the sold-out transition and the Redis gate belong to the deal
(``marketplace.deals.inventory``, ``sale_state``); this module adds what needs ``Order``:
the shopper's row is locked while their held units are counted, so the limit cannot break
under a race, and an empty gate is refilled from the orders.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.accounts.models import User
from marketplace.accounts.principals import Reads
from marketplace.core.clock import to_local
from marketplace.core.db import db, on_commit, on_rollback
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.deals import inventory, sale_state
from marketplace.deals.availability import SELLING, Verdict
from marketplace.deals.errors import LimitReached, SoldOut
from marketplace.deals.inventory import Gate, KeyRecord
from marketplace.deals.models import Deal, DealType
from marketplace.orders.models import HOLDING_STATUSES, Order
from marketplace.orders.service import DealNotOnSale


class Refused(Exception):
    """A purchase attempt turned away by the screen, before the database. ``error`` is
    what the shopper is told; ``may_repeat``: the attempt may repeat a purchase that went
    through (its Idempotency-Key is one only the database can look up); ``in_flight``: a
    twin with the same key was admitted and its order may not be committed yet
    (``await_twin``)."""

    def __init__(self, error: DomainError, *, may_repeat: bool, in_flight: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.may_repeat = may_repeat
        self.in_flight = in_flight


@dataclass(frozen=True)
class Screen:
    """What a request read for the screen in the same Redis round trip as its token's
    principal (``screen_reads``): the deal's sale state copy (None: missing or out of
    date) and the gate's view of the shopper (None: Redis unavailable)."""

    deal_id: int
    key: str | None
    state: dict[str, str] | None
    view: list[bytes | None]


def screen_reads(deal_id: int, key: str | None) -> Reads:
    """What ``admit`` reads, named for ``accounts.auth`` to read with the principal: the
    shopper is the principal's user (``{user_id}``)."""
    return Reads(
        entries=(sale_state.state_key(deal_id),),
        also=tuple(inventory.gate_view(deal_id, "{user_id}", key)),
    )


@dataclass
class Admission:
    """A place in the screen: through the flash gate (``gated``), or a deal without one.
    Given back if the transaction does not commit, or now by ``give_back``."""

    deal_id: int
    shopper_id: int
    quantity: int
    gated: bool
    claimed: bool = False  # the gate recorded this attempt's Idempotency-Key just now
    _returned: list[bool] = field(default_factory=lambda: [False])

    def give_back(self) -> None:
        """The purchase turned out to be a repeat: the place is not needed."""
        if self.gated and not self._returned[0]:
            self._returned[0] = True
            inventory.leave_gate(self.deal_id, self.shopper_id, self.quantity)


def admit(
    deal_id: int,
    shopper_id: int,
    quantity: int,
    moment: datetime,
    *,
    key: str | None,
    screen: Screen | None = None,
) -> Admission:
    """The screen in front of checkout, answered from Redis: the deal's sale state (not
    found, not on sale, not open yet, closed, sold out) and, for a flash deal, the gate
    (its units, the shopper's limit, the record of their Idempotency-Key ``key``), read
    together in one round trip — or taken from ``screen``, read with the principal. Raises
    ``Refused`` without touching the database — except to fill a gate or a sale state
    Redis lost.

    An admitted attempt still goes to the database, the record, which checks everything
    again; its place in the gate is given back if its transaction does not commit."""
    if screen is not None and (screen.deal_id, screen.key, screen.state is not None) == (
        deal_id,
        key,
        True,
    ):
        state, view = sale_state.from_copy(deal_id, screen.state), screen.view
    else:
        state, view = sale_state.current_with(
            deal_id, *inventory.gate_view(deal_id, shopper_id, key)
        )
    verdict = state.verdict(moment)
    if verdict is Verdict.NOT_FOUND:
        raise InvalidInput(fields={"deal_id": ["No such deal."]}, code="deal_not_found")
    final = turned_away(state, view, quantity, key, moment)
    if final is not None:
        raise Refused(final, may_repeat=False)
    # What is left: attempts let through, and refusals that may repeat a purchase.
    peeked = None
    if state.gated and view is not None:
        peeked, _ = inventory.peek(view, quantity, state.per_shopper_limit)
    if verdict is not Verdict.ON_SALE:
        if not state.gated:
            raise Refused(_refusal(verdict, state), may_repeat=bool(key))
        record = _key_record(deal_id, shopper_id, key, view)
        raise _refused(_refusal(verdict, state), record)
    if not state.gated:
        return Admission(deal_id, shopper_id, quantity, gated=False)
    # A refusal the peek saw is final; room is only claimed by the atomic gate script.
    limit = state.per_shopper_limit
    answer = peeked or inventory.enter_gate(deal_id, shopper_id, quantity, limit, key)
    if answer.outcome is Gate.EMPTY:
        load_gate(deal_id)
        answer = inventory.enter_gate(deal_id, shopper_id, quantity, limit, key)
    if answer.outcome is Gate.SOLD_OUT:
        raise _refused(SoldOut(), answer.key if key else KeyRecord.NONE)
    if answer.outcome is Gate.LIMIT_REACHED:
        raise _refused(LimitReached(), answer.key if key else KeyRecord.NONE)
    admission = Admission(deal_id, shopper_id, quantity, gated=True, claimed=answer.claimed)
    # If the database then refuses (or anything fails), the place goes back. The
    # transaction is begun (no statement yet) so its end, commit or not, is always seen.
    session = db.session()
    if not session.in_transaction():
        session.begin()
    on_rollback(admission.give_back)
    if answer.claimed:  # a twin with this key waits for the key's record to settle
        on_commit(lambda: inventory.settle_key(deal_id, shopper_id, key, done=True))
        on_rollback(lambda: inventory.settle_key(deal_id, shopper_id, key, done=False))
    return admission


def turned_away(
    state: sale_state.SaleState,
    view: list[bytes | None] | None,
    quantity: int,
    key: str | None,
    moment: datetime,
) -> DomainError | None:
    """The screen's final refusals, from what was read alone (the sale state and the flash
    gate's ``view``): the error when the attempt is turned away — not on sale, not open
    yet, closed, sold out, over the limit — and nothing it could be repeating changes that
    (it has no Idempotency-Key, or one the present gate has no record of). None: checkout
    must go on (``admit``), which is the only one to decide everything else. What the
    front door (``orders.door``) answers, and the first thing ``admit`` does."""
    verdict = state.verdict(moment)
    if verdict is Verdict.NOT_FOUND or (verdict is Verdict.ON_SALE and not state.gated):
        return None
    if not state.gated:  # not on sale; a key may be a purchase made while it was
        return None if key else _refusal(verdict, state)
    if view is None or view[0] is None:  # Redis lost the gate: it is filled from the orders
        return None
    if key and KeyRecord.of(view[2]) is not KeyRecord.NONE:
        return None
    if verdict is not Verdict.ON_SALE:
        return _refusal(verdict, state)
    peeked, _ = inventory.peek(view, quantity, state.per_shopper_limit)
    if peeked is not None and peeked.outcome is Gate.SOLD_OUT:
        return SoldOut()
    if peeked is not None and peeked.outcome is Gate.LIMIT_REACHED:
        return LimitReached()
    return None


def _refused(error: DomainError, record: KeyRecord | None) -> Refused:
    """A flash refusal: only an attempt whose key the gate recorded (or cannot tell: None)
    may repeat a purchase; a pending record is a twin still in flight."""
    return Refused(
        error,
        may_repeat=record is not KeyRecord.NONE,
        in_flight=record is KeyRecord.PENDING,
    )


def _key_record(
    deal_id: int, shopper_id: int, key: str | None, view: list[bytes | None] | None
) -> KeyRecord | None:
    """The record of the attempt's key in the flash gate (as read with the state when the
    gate was there; else the gate is filled from the database once); None when Redis
    cannot tell (the database answers, as for any refusal)."""
    if not key:
        return KeyRecord.NONE
    if view is not None and view[0] is not None:
        return KeyRecord.of(view[2])
    try:
        record = inventory.key_record(deal_id, shopper_id, key)
        if record is None:
            load_gate(deal_id)
            record = inventory.key_record(deal_id, shopper_id, key)
    except RedisError:
        return None
    return record


# How long a refused twin waits for the order of the attempt admitted with its key.
TWIN_WAIT_SECONDS = 5.0


def await_twin(
    deal_id: int, shopper_id: int, key: str, find: Callable[[], Order | None]
) -> Order | None:
    """A twin of this attempt (same shopper, same Idempotency-Key: a double tap, a form
    posted twice) was admitted and its order was not there yet: wait for it and return it
    (``find`` looks it up), or None once the key's record says the twin rolled back (or
    after TWIN_WAIT_SECONDS). On PostgreSQL the wait is the shopper's row lock, which the
    twin holds from just after its admission to its commit; the loop covers the moment
    before it takes the lock (and SQLite, which has no row locks). Not a retry of a
    failure: the twin is known to be running."""
    deadline = time.monotonic() + TWIN_WAIT_SECONDS
    while True:
        db.session.rollback()  # a fresh look each time (and the lock of the last one goes)
        lock_shopper(shopper_id)
        found = find()
        if found is not None:
            return found
        try:
            record = inventory.key_record(deal_id, shopper_id, key)
        except RedisError:
            return None
        if record is not KeyRecord.PENDING or time.monotonic() > deadline:
            return find() if record is KeyRecord.DONE else None
        time.sleep(0.02)


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
    ``replace``): stock left, every shopper who ordered it with the units they hold, and
    the Idempotency-Keys of its orders."""
    holding = Order.status.in_([s.value for s in HOLDING_STATUSES])
    per_shopper = db.session.execute(
        sa.select(Order.shopper_id, sa.func.sum(sa.case((holding, Order.quantity), else_=0)))
        .where(Order.deal_id == deal_id)
        .group_by(Order.shopper_id)
    ).all()
    keys = db.session.execute(
        sa.select(Order.shopper_id, Order.idempotency_key).where(
            Order.deal_id == deal_id, Order.idempotency_key.is_not(None)
        )
    ).all()
    stock_left = db.session.scalar(sa.select(Deal.stock_left).where(Deal.id == deal_id))
    return inventory.fill_gate(
        deal_id, stock_left, per_shopper, keys=[tuple(k) for k in keys], replace=replace
    )


def lock_shopper(shopper_id: int) -> User | None:
    """Serialise one shopper's purchases (a row lock on PostgreSQL; SQLite serialises
    writers anyway), so their held units are counted without a race. Returns the shopper's
    ``User``, loaded by the locking statement (so a later ``get`` costs nothing)."""
    return db.session.get(User, shopper_id, with_for_update=True, populate_existing=True)


def reserve(deal: Deal, shopper: User, quantity: int) -> None:
    """Take ``quantity`` units of ``deal`` for ``shopper`` in the database — the record —
    or raise the deal's SoldOut/LimitReached (``deals.errors``). Callers pass a flash buyer
    through ``admit`` first."""
    lock_shopper(shopper.id)
    check_limit(deal, shopper, quantity)
    take(deal, quantity)


def allowance(deal_id: int, per_shopper_limit: int | None, shopper_id: int) -> int | None:
    """How many more units of the deal the shopper may hold (None: no limit): the limit
    less the units their live orders hold. What the buy button says ('limit reached') and
    what ``check_limit`` enforces."""
    if per_shopper_limit is None:
        return None
    return max(0, per_shopper_limit - held_units(deal_id, shopper_id))


def check_limit(deal: Deal, shopper: User, quantity: int) -> None:
    """Raise LimitReached if ``quantity`` more units would put ``shopper`` over the deal's
    per-shopper limit. The caller holds the shopper's row lock (``lock_shopper``), so the
    count cannot change before the commit."""
    left = allowance(deal.id, deal.per_shopper_limit, shopper.id)
    if left is not None and quantity > left:
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
