"""A deal's sale state for the purchase path, from Redis: what checkout needs to turn a
shopper away (the deal's type, status, sale window, purchase limit, its merchant's stage)
without reading the database.

At a flash opening thousands of taps ask "can this deal be bought now?" for one deal; the
answer changes only when staff change the deal (pause, resume, publish, edit the window,
the limit or the stock) or its merchant's stage, or when units come back to a sold-out
deal. The state is a Redis copy tagged with two generations (``core.tagged``): the deal's
own, and one for every merchant's stage. Every such change moves a generation once it
commits — ORM changes of a deal or a merchant through the session hook below, so no
caller can forget; units given back through ``inventory.give_back`` — so the next
attempt reads the database again, at once, and a request that read the database just
before the change cannot store what it read.

The state is the screen, not the record: an attempt it lets through is checked again by
the database (``on_sale`` in SQL, the conditional stock UPDATE), so a copy that is too
generous costs a database read, never a sale that should not happen. Units are not in it:
a sold-out deal that was ``live`` when copied is turned away by the flash gate (or, for the
other types, by the database). Redis trouble falls back to the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.core import tagged
from marketplace.core.db import db
from marketplace.deals.availability import Verdict, verdict
from marketplace.deals.models import Deal, DealType
from merchants.models import Merchant

log = logging.getLogger(__name__)
TTL_SECONDS = 300
MERCHANTS_GENERATION = "linli:merchants:generation"
# What a deal's sale state is made of (besides its merchant's stage).
WATCHED = ("status", "type", "sale_starts_at", "sale_ends_at", "per_shopper_limit", "merchant_id")


def state_key(deal_id: int) -> str:
    return f"linli:deal:{deal_id}:sale"


def generation_key(deal_id: int) -> str:
    return f"linli:deal:{deal_id}:generation"


@dataclass(frozen=True)
class SaleState:
    deal_id: int
    found: bool
    type: str = ""
    status: str = ""
    merchant_stage: str = ""
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    per_shopper_limit: int | None = None

    @property
    def gated(self) -> bool:
        """Flash deals have a Redis gate (``inventory``) that counts their units."""
        return self.type == DealType.FLASH.value

    def verdict(self, moment: datetime) -> Verdict:
        if not self.found:
            return Verdict.NOT_FOUND
        return verdict(
            self.status, self.merchant_stage, self.sale_starts_at, self.sale_ends_at, moment
        )


def current(deal_id: int) -> SaleState:
    """The deal's sale state: Redis when its copy is current, else the database (and the
    copy refreshed). Never fails for Redis: without it the database answers."""
    return current_with(deal_id)[0]


def current_with(
    deal_id: int, *also: tuple[str, str | None]
) -> tuple[SaleState, list[bytes | None] | None]:
    """``current``, and the plain Redis values ``also`` names read in the same round trip
    (``core.tagged.read_with``; None for them when Redis is down): the flash gate's view
    of a shopper, so that turning the crowd away costs one round trip."""
    try:
        cached, values = tagged.read_with(state_key(deal_id), *also)
    except RedisError:
        log.warning("sale state cache unavailable; reading deal %s from the database", deal_id)
        return _from_database(deal_id), None
    if cached is not None:
        return _decode(deal_id, cached), values
    try:
        tags = tagged.generations(generation_key(deal_id), MERCHANTS_GENERATION)
    except RedisError:
        return _from_database(deal_id), values
    state = _from_database(deal_id)  # read after the generations: see core.tagged
    try:
        tagged.store(state_key(deal_id), _encode(state), tags, TTL_SECONDS)
    except RedisError:
        log.warning("could not store the sale state of deal %s", deal_id)
    return state, values


def from_copy(deal_id: int, fields: dict[str, str]) -> SaleState:
    """The state from a current copy read by someone else (``state_key``, a tagged entry
    read with ``core.tagged.read_many``: a caller that reads it in the same round trip as
    a request's principal)."""
    return _decode(deal_id, fields)


def changed_after_commit(deal_id: int) -> None:
    """The deal's sale state changes with the current transaction (a change the session
    hook cannot see: a Core UPDATE that can put a sold-out deal back on sale)."""
    tagged.bump_after_commit(generation_key(deal_id))


def _from_database(deal_id: int) -> SaleState:
    row = db.session.execute(
        sa.select(
            Deal.type,
            Deal.status,
            Deal.sale_starts_at,
            Deal.sale_ends_at,
            Deal.per_shopper_limit,
            Merchant.stage,
        )
        .join(Merchant, Merchant.id == Deal.merchant_id)
        .where(Deal.id == deal_id)
    ).first()
    if row is None:
        return SaleState(deal_id, found=False)
    return SaleState(
        deal_id,
        found=True,
        type=row.type,
        status=row.status,
        merchant_stage=row.stage,
        sale_starts_at=row.sale_starts_at,
        sale_ends_at=row.sale_ends_at,
        per_shopper_limit=row.per_shopper_limit,
    )


def _encode(state: SaleState) -> dict[str, object]:
    return {
        "found": int(state.found),
        "type": state.type,
        "status": state.status,
        "merchant_stage": state.merchant_stage,
        "starts": tagged.encode_instant(state.sale_starts_at),
        "ends": tagged.encode_instant(state.sale_ends_at),
        "limit": "" if state.per_shopper_limit is None else state.per_shopper_limit,
    }


def _decode(deal_id: int, fields: dict[str, str]) -> SaleState:
    return SaleState(
        deal_id,
        found=fields["found"] == "1",
        type=fields["type"],
        status=fields["status"],
        merchant_stage=fields["merchant_stage"],
        sale_starts_at=tagged.decode_instant(fields["starts"]),
        sale_ends_at=tagged.decode_instant(fields["ends"]),
        per_shopper_limit=int(fields["limit"]) if fields["limit"] else None,
    )


def _changed(obj: object, names: tuple[str, ...]) -> bool:
    attrs = sa.inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _sale_state_changes(session: sa.orm.Session, flush_context: object, instances: object) -> None:
    """Every change to what a sale state is made of moves its generation once the
    transaction commits: a deal edited, published, paused, resumed; a merchant's stage
    (every deal's copy: stage changes are rare). Seen before the flush, while the
    attributes' history is whole (a status set to SQL, as publishing does, is expired by
    the flush itself)."""
    keys: set[str] = set()
    for obj in session.dirty:
        if isinstance(obj, Deal) and _changed(obj, WATCHED):
            keys.add(generation_key(obj.id))
        elif isinstance(obj, Merchant) and _changed(obj, ("stage",)):
            keys.add(MERCHANTS_GENERATION)
    for obj in session.deleted:
        if isinstance(obj, Deal):
            keys.add(generation_key(obj.id))
        elif isinstance(obj, Merchant):
            keys.add(MERCHANTS_GENERATION)
    if keys:
        tagged.bump_after_commit(*keys, session=session)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _deals_created(session: sa.orm.Session, flush_context: object) -> None:
    """A deal created replaces a cached "no such deal" (its id is known after the flush)."""
    keys = {generation_key(obj.id) for obj in session.new if isinstance(obj, Deal)}
    if keys:
        tagged.bump_after_commit(*keys, session=session)
