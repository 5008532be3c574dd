"""A deal's units: the stock counter in the database and the flash gate in Redis.

The database is the record: ``take`` is a conditional UPDATE that never takes
``stock_left`` below zero, and every change of ``stock_left`` sets the sold-out transition
(``availability.status_for_stock``) in the same statement. Flash deals open to a crowd, so a
Redis gate (one Lua script checking stock and the shopper's count together) turns the crowd
away before it reaches the database at all. The gate lives here with the deal; who holds
which units is the orders domain's knowledge, so ``marketplace.orders.stock`` decides per
shopper (the purchase limit, filling the gate from orders) and calls these functions.

The gate keeps every shopper it has seen buy this deal, with the units they hold (0 once
their orders are gone), and the Idempotency-Key of every admission (pending until its
order commits, then done): a refused attempt whose key is recorded may be the repeat of a
purchase that went through — or a twin of one still in flight — which only the database
can answer; anyone else is refused without it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.core.cache import catalog_changed, figures_moved
from marketplace.core.db import db, on_commit
from marketplace.core.redis import lua, redis_client
from marketplace.deals import sale_state
from marketplace.deals.availability import status_for_stock
from marketplace.deals.errors import SoldOut
from marketplace.deals.models import Deal, DealStatus, DealType

log = logging.getLogger(__name__)
GATE_TTL = 14 * 24 * 3600

# -> {outcome, known, claimed, key}: outcome 1 admitted (counted), -1 sold out, -2 over the
# limit, -3 the gate is empty (Redis lost it: fill it from the database); known 1 if the
# shopper has a place in the gate's book (bought this deal before, whatever became of it);
# claimed 1 if this admission recorded its Idempotency-Key (ARGV[5], '' for none) as
# 'pending' in the keys hash (KEYS[3]); key: what that hash held for the key before.
_ENTER = lua(
    """
local stock = redis.call('GET', KEYS[1])
if not stock then return {-3, 0, 0, false} end
local record = false
if ARGV[5] ~= '' then record = redis.call('HGET', KEYS[3], ARGV[5]) end
local qty = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local held = redis.call('HGET', KEYS[2], ARGV[1])
local known = held and 1 or 0
held = tonumber(held or '0')
if tonumber(stock) < qty then return {-1, known, 0, record} end
if limit > 0 and held + qty > limit then return {-2, known, 0, record} end
redis.call('DECRBY', KEYS[1], qty)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
redis.call('EXPIRE', KEYS[2], ARGV[4])
local claimed = 0
if ARGV[5] ~= '' then
  claimed = redis.call('HSETNX', KEYS[3], ARGV[5], 'pending')
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return {1, known, claimed, record}
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
# ARGV: mode, units left, ttl, how many shoppers, then shopper/units pairs, then the keys
# of the deal's orders (recorded as 'done').
_FILL = lua(
    """
if ARGV[1] == 'if-absent' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
local keys_from = 5 + 2 * tonumber(ARGV[4])
for i = 5, keys_from - 1, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = keys_from, #ARGV do redis.call('HSET', KEYS[3], ARGV[i], 'done') end
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""
)
# An Idempotency-Key's record: ARGV[2] 'done' (its order committed) sets it; '' drops it
# while it is still 'pending' (the admission that claimed it rolled back).
_SETTLE_KEY = lua(
    """
if ARGV[2] == 'done' then
  redis.call('HSET', KEYS[1], ARGV[1], 'done')
elseif redis.call('HGET', KEYS[1], ARGV[1]) == 'pending' then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
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


class KeyRecord(enum.Enum):
    """What the gate knows of a shopper's Idempotency-Key for this deal: an admission with
    it is still in flight (PENDING), its order committed (DONE), or nothing (NONE: no
    order of this deal was ever made with it)."""

    NONE = None
    PENDING = b"pending"
    DONE = b"done"

    @classmethod
    def of(cls, value: bytes | None) -> KeyRecord:
        return cls(value or None)


@dataclass(frozen=True)
class GateAnswer:
    outcome: Gate
    known: bool  # the gate's book has this shopper: they bought this deal before
    claimed: bool = False  # this admission recorded its key as pending
    key: KeyRecord = KeyRecord.NONE  # the key's record before this answer


def has_gate(deal: Deal) -> bool:
    """Flash deals have a Redis gate; the other types go straight to the database."""
    return deal.type == DealType.FLASH.value


def gate_keys(deal_id: int) -> list[str]:
    """The gate of one deal: its units left, and each shopper's units (a hash)."""
    return [f"linli:flash:{deal_id}:stock", f"linli:flash:{deal_id}:bought"]


def keys_key(deal_id: int) -> str:
    """The Idempotency-Keys of the deal's purchases (a hash of ``key_field`` -> pending or
    done): a refused attempt whose key is not there cannot be the repeat of a purchase."""
    return f"linli:flash:{deal_id}:keys"


def key_field(shopper_id: int | str, key: str) -> str:
    """The field of a shopper's Idempotency-Key in ``keys_key``. The screen reads it with
    ``shopper_id`` as the ``{user_id}`` placeholder (``core.tagged.read_many``), and that
    read fills every ``{name}`` of the field: a key holding a brace (the client's text)
    is written hex-encoded, behind ``#`` instead of ``:`` so no two keys share a field,
    else its record would be read under another field and a repeat of its purchase
    turned away as sold out instead of answered with its order."""
    if "{" in key:
        return f"{shopper_id}#{key.encode().hex()}"
    return f"{shopper_id}:{key}"


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
        .returning(table.c.stock_left)
    ).first()
    if taken is None:
        raise SoldOut()
    db.session.expire(deal, ["stock_left", "status"])
    if taken.stock_left == 0:
        catalog_changed()  # sold out: what the catalog lists changes
    else:
        figures_moved()  # only its units left


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


def enter_gate(
    deal_id: int, shopper_id: int, quantity: int, limit: int | None, key: str | None = None
) -> GateAnswer:
    """Ask the flash gate to let a buyer through: ADMITTED counts their units (and records
    their Idempotency-Key ``key`` as pending, ``claimed``, unless it is recorded already);
    SOLD_OUT and LIMIT_REACHED turn them away; EMPTY when Redis lost the gate (the caller
    fills it, ``fill_gate``, and asks again). Raises RedisError."""
    outcome, known, claimed, record = _ENTER(
        keys=[*gate_keys(deal_id), keys_key(deal_id)],
        args=[
            str(shopper_id),
            quantity,
            limit or 0,
            GATE_TTL,
            key_field(shopper_id, key) if key else "",
        ],
        client=redis_client(),
    )
    return GateAnswer(Gate(outcome), bool(known), bool(claimed), KeyRecord.of(record))


def gate_view(
    deal_id: int, shopper_id: int | str, key: str | None = None
) -> list[tuple[str, str | None]]:
    """What ``peek`` reads (the units left, the shopper's entry in the book, and the record
    of their Idempotency-Key ``key``), for a caller that reads them in one round trip with
    something else (``sale_state.current_with``). ``shopper_id`` may be a placeholder the
    read fills in (``core.tagged.read_many``)."""
    stock_key, book = gate_keys(deal_id)
    view = [(stock_key, None), (book, str(shopper_id))]
    if key:
        view.append((keys_key(deal_id), key_field(shopper_id, key)))
    return view


def peek(
    values: list[bytes | None], quantity: int, limit: int | None
) -> tuple[GateAnswer | None, bool | None]:
    """The gate's answer from the values ``gate_view`` named, without counting anyone:
    (SOLD_OUT / LIMIT_REACHED / EMPTY, or None when there is room — then only
    ``enter_gate`` admits, atomically), and whether the book knows the shopper (None when
    the gate is empty)."""
    left, held = values[:2]
    record = KeyRecord.of(values[2]) if len(values) > 2 else KeyRecord.NONE
    if left is None:
        return GateAnswer(Gate.EMPTY, False), None
    known = held is not None
    if int(left) < quantity:
        return GateAnswer(Gate.SOLD_OUT, known, key=record), known
    if limit and int(held or 0) + quantity > limit:
        return GateAnswer(Gate.LIMIT_REACHED, known, key=record), known
    return None, known


def key_record(deal_id: int, shopper_id: int, key: str) -> KeyRecord | None:
    """The record of a shopper's Idempotency-Key for this deal; None when the gate is empty
    (Redis lost it: the caller fills it and asks again). Raises RedisError."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.exists(gate_keys(deal_id)[0])
    pipe.hget(keys_key(deal_id), key_field(shopper_id, key))
    present, record = pipe.execute()
    return KeyRecord.of(record) if present else None


def settle_key(deal_id: int, shopper_id: int, key: str, *, done: bool) -> None:
    """The admission that claimed ``key`` ended: its order committed (``done``), or its
    transaction rolled back (the pending record goes). Best effort, like ``leave_gate``."""
    try:
        _SETTLE_KEY(
            keys=[keys_key(deal_id)],
            args=[key_field(shopper_id, key), "done" if done else ""],
            client=redis_client(),
        )
    except RedisError:
        log.exception("could not settle an Idempotency-Key's record in a flash gate")


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
    keys: Iterable[tuple[int, str]] = (),
    replace: bool = False,
) -> bool:
    """Load a deal's gate: its units left, each shopper who bought it with the units they
    hold (0 for a shopper whose orders are gone: still known), and the (shopper,
    Idempotency-Key) of its orders. Only if the gate is absent, unless ``replace``. True
    when it was written."""
    held = list(held_by_shopper)
    args: list[str | int] = ["replace" if replace else "if-absent", stock_left, GATE_TTL, len(held)]
    for shopper_id, units in held:
        args += [str(shopper_id), int(units)]
    args += [key_field(shopper_id, key) for shopper_id, key in keys]
    return bool(
        _FILL(keys=[*gate_keys(deal_id), keys_key(deal_id)], args=args, client=redis_client())
    )


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
