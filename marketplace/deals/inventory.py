"""A deal's units: the stock counter in the database and the flash gate in Redis.

The database is the record: ``take`` is a conditional UPDATE that never takes
``stock_left`` below zero, and every change of ``stock_left`` sets the sold-out transition
(``availability.status_for_stock``) in the same statement. Flash deals open to a crowd, so a
Redis gate (one Lua script checking stock and the shopper's count together) turns the crowd
away before it reaches the database at all. The gate lives here with the deal; who holds
which units is the orders domain's knowledge, so ``marketplace.orders.stock`` decides per
shopper (the purchase limit, filling the gate from orders) and calls these functions.

The gate keeps every shopper it has seen buy this deal, with the units they hold (0 once
their orders are gone): a refused shopper it knows may be repeating a purchase that went
through (an Idempotency-Key), which only the database can tell; anyone else is refused
without it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.core.cache import catalog_changed
from marketplace.core.db import db, on_commit
from marketplace.core.redis import lua, redis_client
from marketplace.deals import sale_state
from marketplace.deals.availability import status_for_stock
from marketplace.deals.errors import SoldOut
from marketplace.deals.models import Deal, DealStatus, DealType

log = logging.getLogger(__name__)
GATE_TTL = 14 * 24 * 3600

# -> {outcome, known}: outcome 1 admitted (counted), -1 sold out, -2 over the limit, -3 the
# gate is empty (Redis lost it: fill it from the database); known 1 if the shopper has a
# place in the gate's book (bought this deal before, whatever became of it).
_ENTER = lua(
    """
local stock = redis.call('GET', KEYS[1])
if not stock then return {-3, 0} end
local qty = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local held = redis.call('HGET', KEYS[2], ARGV[1])
local known = held and 1 or 0
held = tonumber(held or '0')
if tonumber(stock) < qty then return {-1, known} end
if limit > 0 and held + qty > limit then return {-2, known} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('EXPIRE', KEYS[2], ARGV[4])
return {1, known}
"""
)
_LEAVE = lua(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2])) < 0 then
  redis.call('HSET', KEYS[2], ARGV[1], 0)
end
return 1
"""
)
_FILL = lua(
    """
if ARGV[1] == 'if-absent' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
)
_MOVE = lua(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
"""
)


class Gate(enum.Enum):
    ADMITTED = 1
    SOLD_OUT = -1
    LIMIT_REACHED = -2
    EMPTY = -3


@dataclass(frozen=True)
class GateAnswer:
    outcome: Gate
    known: bool  # the gate's book has this shopper: they bought this deal before


def has_gate(deal: Deal) -> bool:
    """Flash deals have a Redis gate; the other types go straight to the database."""
    return deal.type == DealType.FLASH.value


def gate_keys(deal_id: int) -> list[str]:
    """The gate of one deal: its units left, and each shopper's units (a hash)."""
    return [f"linli:flash:{deal_id}:stock", f"linli:flash:{deal_id}:bought"]


# -- the database: the record --------------------------------------------------------------


def take(deal: Deal, quantity: int) -> None:
    """Take ``quantity`` units of a live ``deal`` or raise SoldOut; the last unit makes it
    ``sold_out`` in the same statement."""
    table = Deal.__table__
    left = table.c.stock_left - quantity
    taken = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == deal.id,
            table.c.status == DealStatus.LIVE.value,
            table.c.stock_left >= quantity,
        )
        .values(stock_left=left, status=status_for_stock(left))
    ).rowcount
    if taken != 1:
        raise SoldOut()
    db.session.expire(deal, ["stock_left", "status"])
    catalog_changed()


def give_back(deal: Deal, quantity: int) -> None:
    """Return ``quantity`` units to ``deal``'s stock; a sold-out deal is live again."""
    table = Deal.__table__
    left = table.c.stock_left + quantity
    db.session.execute(
        sa.update(table)
        .where(table.c.id == deal.id)
        .values(stock_left=left, status=status_for_stock(left))
    )
    db.session.expire(deal, ["stock_left", "status"])
    catalog_changed()
    sale_state.changed_after_commit(deal.id)  # a sold-out deal may be on sale again


# -- the flash gate ------------------------------------------------------------------------


def enter_gate(deal_id: int, shopper_id: int, quantity: int, limit: int | None) -> GateAnswer:
    """Ask the flash gate to let a buyer through: ADMITTED counts their units; SOLD_OUT
    and LIMIT_REACHED turn them away; EMPTY when Redis lost the gate (the caller fills it,
    ``fill_gate``, and asks again). Raises RedisError."""
    outcome, known = _ENTER(
        keys=gate_keys(deal_id),
        args=[str(shopper_id), quantity, limit or 0, GATE_TTL],
        client=redis_client(),
    )
    return GateAnswer(Gate(outcome), bool(known))


def gate_view(deal_id: int, shopper_id: int) -> list[tuple[str, str | None]]:
    """What ``peek`` reads (the units left, the shopper's entry in the book), for a
    caller that reads them in one round trip with something else
    (``sale_state.current_with``)."""
    stock_key, book = gate_keys(deal_id)
    return [(stock_key, None), (book, str(shopper_id))]


def peek(
    values: list[bytes | None], quantity: int, limit: int | None
) -> tuple[GateAnswer | None, bool | None]:
    """The gate's answer from the values ``gate_view`` named, without counting anyone:
    (SOLD_OUT / LIMIT_REACHED / EMPTY, or None when there is room — then only
    ``enter_gate`` admits, atomically), and whether the book knows the shopper (None when
    the gate is empty)."""
    left, held = values
    if left is None:
        return GateAnswer(Gate.EMPTY, False), None
    known = held is not None
    if int(left) < quantity:
        return GateAnswer(Gate.SOLD_OUT, known), known
    if limit and int(held or 0) + quantity > limit:
        return GateAnswer(Gate.LIMIT_REACHED, known), known
    return None, known


def knows_buyer(deal_id: int, shopper_id: int) -> bool | None:
    """Whether the gate's book has this shopper; None when the gate is empty (Redis lost
    it: the caller fills it and asks again). Raises RedisError."""
    stock_key, book = gate_keys(deal_id)
    pipe = redis_client().pipeline(transaction=False)
    pipe.exists(stock_key)
    pipe.hexists(book, str(shopper_id))
    present, known = pipe.execute()
    return bool(known) if present else None


def leave_gate(deal_id: int, shopper_id: int, quantity: int) -> None:
    """Give a place in the gate back (a purchase rolled back, an order released units).
    Best effort: the gates' rebuild job repairs a gate Redis could not update."""
    try:
        _LEAVE(keys=gate_keys(deal_id), args=[str(shopper_id), quantity], client=redis_client())
    except RedisError:
        log.exception("could not release a flash reservation; reconciliation will repair it")


def fill_gate(
    deal_id: int,
    stock_left: int,
    held_by_shopper: Iterable[tuple[int, int]],
    *,
    replace: bool = False,
) -> bool:
    """Load a deal's gate: its units left and each shopper who bought it with the units
    they hold (0 for a shopper whose orders are gone: still known). Only if the gate is
    absent, unless ``replace``. True when it was written."""
    args: list[str | int] = ["replace" if replace else "if-absent", stock_left, GATE_TTL]
    for shopper_id, units in held_by_shopper:
        args += [str(shopper_id), int(units)]
    return bool(_FILL(keys=gate_keys(deal_id), args=args, client=redis_client()))


def move_gate_on_commit(deal: Deal, delta: int) -> None:
    """Staff changed the stock of ``deal`` by ``delta`` units: once that commits, move the
    flash gate by the same amount, so raising the stock of a sold-out flash deal lets buyers
    in at once (and lowering it turns them away). Relative, like the edit itself: places
    admitted but not yet committed stay counted."""
    if not has_gate(deal) or not delta:
        return
    deal_id = deal.id

    def move() -> None:
        try:
            _MOVE(keys=gate_keys(deal_id)[:1], args=[delta], client=redis_client())
        except RedisError:
            log.exception("could not move a flash gate; the rebuild job will repair it")

    on_commit(move)
