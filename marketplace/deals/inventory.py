"""A deal's units: the stock counter in the database and the flash gate in Redis.

The database is the record: ``take`` is a conditional UPDATE that never takes
``stock_left`` below zero, and every change of ``stock_left`` sets the sold-out transition
(``availability.status_for_stock``) in the same statement. Flash deals open to a crowd, so a
Redis gate (one Lua script checking stock and the shopper's count together) turns the crowd
away before it reaches the deal's row. The gate lives here with the deal; who holds which
units is the orders domain's knowledge, so ``marketplace.orders.stock`` decides per shopper
(the purchase limit, filling the gate from held orders) and calls these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.core.cache import catalog_changed
from marketplace.core.db import db, on_commit
from marketplace.core.redis import redis_client
from marketplace.deals.availability import status_for_stock
from marketplace.deals.errors import LimitReached, SoldOut
from marketplace.deals.models import Deal, DealStatus, DealType

log = logging.getLogger(__name__)
GATE_TTL = 14 * 24 * 3600

_ENTER = """
local stock = redis.call('GET', KEYS[1])
if not stock then return -3 end
local qty = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if tonumber(stock) < qty then return -1 end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if limit > 0 and bought + qty > limit then return -2 end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
return tonumber(stock) - qty
"""
_LEAVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""
_FILL = """
if ARGV[1] == 'if-absent' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""
_MOVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
"""


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


# -- the flash gate ------------------------------------------------------------------------


def enter_gate(deal: Deal, shopper_id: int, quantity: int) -> bool:
    """Let a flash buyer through the gate (count their units) or raise SoldOut or
    LimitReached. False when the gate is empty (Redis restarted or evicted it): the caller
    fills it (``fill_gate``) and tries again."""
    args = [str(shopper_id), quantity, deal.per_shopper_limit or 0]
    result = redis_client().eval(_ENTER, 2, *gate_keys(deal.id), *args)
    if result == -3:
        return False
    if result == -1:
        raise SoldOut()
    if result == -2:
        raise LimitReached()
    return True


def leave_gate(deal_id: int, shopper_id: int, quantity: int) -> None:
    """Give a place in the gate back (a purchase rolled back, an order released units).
    Best effort: the gates' rebuild job repairs a gate Redis could not update."""
    try:
        redis_client().eval(_LEAVE, 2, *gate_keys(deal_id), str(shopper_id), quantity)
    except RedisError:
        log.exception("could not release a flash reservation; reconciliation will repair it")


def fill_gate(
    deal_id: int,
    stock_left: int,
    held_by_shopper: Iterable[tuple[int, int]],
    *,
    replace: bool = False,
) -> bool:
    """Load a deal's gate: its units left and each shopper's held units. Only if the gate
    is absent, unless ``replace``. True when it was written."""
    args: list[str | int] = ["replace" if replace else "if-absent", stock_left, GATE_TTL]
    for shopper_id, units in held_by_shopper:
        args += [str(shopper_id), int(units)]
    return bool(redis_client().eval(_FILL, 2, *gate_keys(deal_id), *args))


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
            redis_client().eval(_MOVE, 1, gate_keys(deal_id)[0], delta)
        except RedisError:
            log.exception("could not move a flash gate; the rebuild job will repair it")

    on_commit(move)
