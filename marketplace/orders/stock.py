"""Reserving and releasing a deal's stock, and the per-shopper limit.

The database is the record: a reservation is a conditional UPDATE that never takes
``stock_left`` below zero, and the shopper's row is locked while their units are counted,
so neither invariant can break whatever else happens. Flash deals open to a crowd, so a
Redis gate (one Lua script checking stock and the shopper's count together) turns the
crowd away before it reaches the deal's row: only admitted buyers write to the database.
If Redis is empty (restarted, evicted) the gate reloads itself from the database.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.accounts.models import User
from marketplace.core.cache import catalog_changed
from marketplace.core.db import db, on_commit, on_rollback
from marketplace.core.errors import Conflict
from marketplace.core.redis import redis_client
from marketplace.deals.models import Deal, DealStatus, DealType
from marketplace.orders.models import HOLDING_STATUSES, Order

log = logging.getLogger(__name__)
GATE_TTL = 14 * 24 * 3600

_RESERVE = """
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
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""
_LOAD = """
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


class SoldOut(Conflict):
    code = "sold_out"
    message = "Sorry, this deal is sold out."


class LimitReached(Conflict):
    code = "purchase_limit_reached"
    message = "You have bought as many of this deal as one shopper may."


def _keys(deal_id: int) -> list[str]:
    return [f"linli:flash:{deal_id}:stock", f"linli:flash:{deal_id}:bought"]


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
    args: list[str | int] = ["replace" if replace else "if-absent", stock_left, GATE_TTL]
    for shopper_id, units in per_shopper:
        args += [str(shopper_id), int(units)]
    return bool(redis_client().eval(_LOAD, 2, *_keys(deal.id), *args))


def admit(deal: Deal, shopper_id: int, quantity: int) -> None:
    """The Redis gate of a flash deal: turn the crowd away before it touches the database.
    Raises SoldOut/LimitReached; an admitted place is given back if the transaction does
    not commit. Other deal types pass straight through."""
    if deal.type != DealType.FLASH.value:
        return
    keys = _keys(deal.id)
    args = [str(shopper_id), quantity, deal.per_shopper_limit or 0]
    result = redis_client().eval(_RESERVE, 2, *keys, *args)
    if result == -3:
        load_gate(deal)
        result = redis_client().eval(_RESERVE, 2, *keys, *args)
    if result == -1:
        raise SoldOut()
    if result == -2:
        raise LimitReached()
    # Admitted: if the database then refuses (or anything fails), give the place back.
    on_rollback(lambda: ungate(deal.id, shopper_id, quantity))


def ungate_now(deal: Deal, shopper_id: int, quantity: int) -> None:
    """Give back a place ``admit`` granted when the purchase turned out to be a repeat."""
    if deal.type == DealType.FLASH.value:
        ungate(deal.id, shopper_id, quantity)


def ungate(deal_id: int, shopper_id: int, quantity: int) -> None:
    try:
        redis_client().eval(_RELEASE, 2, *_keys(deal_id), str(shopper_id), quantity)
    except RedisError:
        log.exception("could not release a flash reservation; reconciliation will repair it")


def lock_shopper(shopper_id: int) -> None:
    """Serialise one shopper's purchases (a row lock on PostgreSQL; SQLite serialises
    writers anyway), so their held units are counted without a race."""
    db.session.execute(sa.select(User.id).where(User.id == shopper_id).with_for_update())


def reserve(deal: Deal, shopper: User, quantity: int) -> None:
    """Take ``quantity`` units of ``deal`` for ``shopper`` in the database — the record —
    or raise SoldOut/LimitReached. Callers pass a flash buyer through ``admit`` first."""
    lock_shopper(shopper.id)
    if deal.per_shopper_limit is not None:
        if held_units(deal.id, shopper.id) + quantity > deal.per_shopper_limit:
            raise LimitReached()
    table = Deal.__table__
    taken = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == deal.id,
            table.c.status == DealStatus.LIVE.value,
            table.c.stock_left >= quantity,
        )
        .values(
            stock_left=table.c.stock_left - quantity,
            status=sa.case(
                (table.c.stock_left == quantity, DealStatus.SOLD_OUT.value), else_=table.c.status
            ),
        )
    ).rowcount
    if taken != 1:
        raise SoldOut()
    db.session.expire(deal, ["stock_left", "status"])
    catalog_changed()


def release(deal: Deal, shopper_id: int, quantity: int) -> None:
    """Give ``quantity`` units back (an order expired, failed or was refunded)."""
    table = Deal.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == deal.id)
        .values(
            stock_left=table.c.stock_left + quantity,
            status=sa.case(
                (table.c.status == DealStatus.SOLD_OUT.value, DealStatus.LIVE.value),
                else_=table.c.status,
            ),
        )
    )
    db.session.expire(deal, ["stock_left", "status"])
    if deal.type == DealType.FLASH.value:
        on_commit(lambda: ungate(deal.id, shopper_id, quantity))
    catalog_changed()


def stock_edited(deal: Deal, delta: int) -> None:
    """Staff changed the stock of ``deal`` by ``delta`` units: once that commits, move the
    flash gate by the same amount, so raising the stock of a sold-out flash deal lets buyers
    in at once (and lowering it turns them away). Relative, like the edit itself: places
    admitted but not yet committed stay counted."""
    if deal.type != DealType.FLASH.value or not delta:
        return
    deal_id = deal.id

    def move() -> None:
        try:
            redis_client().eval(_MOVE, 1, _keys(deal_id)[0], delta)
        except RedisError:
            log.exception("could not move a flash gate; the rebuild job will repair it")

    on_commit(move)


def rebuild_gates() -> int:
    """Reload every live flash deal's Redis gate from the database (reconciliation job and
    worker start-up)."""
    deals = db.session.scalars(
        sa.select(Deal).where(
            Deal.type == DealType.FLASH.value,
            Deal.status.in_([DealStatus.LIVE.value, DealStatus.SOLD_OUT.value]),
        )
    ).all()
    for deal in deals:
        load_gate(deal, replace=True)
    return len(deals)
