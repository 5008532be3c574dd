"""Deal lifecycle: create and edit under the type rules, price history, pause and resume,
stock and sales bookkeeping. Publishing slots and popup days are in ``publishing``; when a
deal is on sale and its sold-out transition in ``availability``; its units in ``inventory``.

The rules budget commission for the largest distributor-tier bonus, which the distribution
domain (a layer above deals) owns: callers pass it in as ``max_tier_bonus`` (the deals API
and the seed read it from distribution), so deals never imports distribution."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.cache import catalog_changed, figures_moved
from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput
from marketplace.core.files import image_extension
from marketplace.deals import inventory, rules
from marketplace.deals.availability import OPEN_STATUSES, SELLING, selling_status, status_for_stock
from marketplace.deals.errors import DealNotFound, IllegalDealTransition, MerchantNotLive, StaleDeal
from marketplace.deals.models import (
    PRICE_FIELDS,
    Deal,
    DealDailySales,
    DealPriceChange,
    DealStatus,
    DealType,
)
from marketplace.providers.storage import save_upload
from merchants.models import Merchant, Stage

EDITABLE = frozenset({
    "title", "description", "images", "party_size", "list_price", "sale_price",
    "settlement_price", "subsidy", "commission_l1", "commission_l2", "stock",
    "per_shopper_limit", "sale_starts_at", "sale_ends_at", "validity_days", "valid_from",
    "valid_until", "reservation_required", "unavailable_weekdays", "unavailable_dates",
    "usage_hours", "usage_notes", "street_promotion",
    "expiry_policy",  # [care]
})  # fmt: skip
RULE_FIELDS = (
    "type", "sale_price", "settlement_price", "list_price", "subsidy", "commission_l1",
    "commission_l2", "party_size", "stock", "sale_starts_at", "sale_ends_at",
    "per_shopper_limit", "validity_days", "valid_from", "valid_until", "street_promotion",
)  # fmt: skip


def get_deal(deal_id: int) -> Deal:
    deal = db.session.get(Deal, deal_id)
    if deal is None:
        raise DealNotFound()
    return deal


def _check_rules(values: dict[str, Any], max_tier_bonus: int) -> None:
    rules.check(
        values,
        flash_stock_cap=current_app.config["LINLI_FLASH_STOCK_CAP"],
        min_charge=current_app.config["LINLI_MIN_CHARGE"],
        max_tier_bonus=max_tier_bonus,
    )


def draft_violations(
    data: dict[str, Any], *, max_tier_bonus: int, deal: Deal | None = None
) -> list[tuple[str, str, str]]:
    """The rules ``create_deal`` (or, with ``deal``, ``update_deal``) would find broken by
    these values, each as (code, field, message), without saving anything: the staff
    console's editor shows them as the fields are typed."""
    if deal is None:
        values = {**{f: None for f in RULE_FIELDS}, **data}
        if values.get("type") == DealType.FLASH.value and values.get("per_shopper_limit") is None:
            values["per_shopper_limit"] = 1
    else:
        values = {**_rule_values(deal), **{k: v for k, v in data.items() if k in RULE_FIELDS}}
    return rules.violations(
        values,
        flash_stock_cap=current_app.config["LINLI_FLASH_STOCK_CAP"],
        min_charge=current_app.config["LINLI_MIN_CHARGE"],
        max_tier_bonus=max_tier_bonus,
    ).items


def _rule_values(deal: Deal) -> dict[str, Any]:
    return {name: getattr(deal, name) for name in RULE_FIELDS}


def check_rules(deal: Deal, *, max_tier_bonus: int) -> None:
    """Raise ``DealRuleViolated`` if ``deal`` as stored breaks a rule in force now. Create and
    edit check the same way (on the given or merged values); this asks it of a deal after
    the rules around it changed (LINLI_MIN_CHARGE, a larger tier bonus): a deal that fails
    could not even have its title edited. The seed's test proves seeded deals pass it."""
    _check_rules(_rule_values(deal), max_tier_bonus)


def create_deal(data: dict[str, Any], actor: User, *, max_tier_bonus: int) -> Deal:
    """A draft deal for a merchant that is at least negotiating (deals are part of the
    negotiation); it can only be scheduled or go live once the merchant is live.
    ``max_tier_bonus``: the largest level-1 bonus of any distributor tier (see above)."""
    data = dict(data)
    merchant = db.session.get(Merchant, data.pop("merchant_id"))
    if merchant is None:
        raise InvalidInput(fields={"merchant_id": ["No such merchant."]})
    if merchant.stage in (Stage.LEAD.value, Stage.CHURNED.value):
        raise InvalidInput(
            code="merchant_not_ready",
            fields={"merchant_id": [f"A {merchant.stage} merchant cannot have deals yet."]},
        )
    kind = DealType(data["type"])
    if kind is DealType.FLASH and data.get("per_shopper_limit") is None:
        data["per_shopper_limit"] = 1
    _check_rules({**{f: None for f in RULE_FIELDS}, **data}, max_tier_bonus)
    deal = Deal(
        merchant=merchant,
        status=DealStatus.DRAFT.value,
        created_by_id=actor.id,
        stock_left=data["stock"],
        **data,
    )
    db.session.add(deal)
    db.session.flush()
    audit.record(
        "deal",
        deal.id,
        "deal.created",
        actor_id=actor.id,
        data={"merchant_id": merchant.id, "type": kind.value, "title": deal.title},
    )
    return deal


def update_deal(
    deal: Deal,
    changes: dict[str, Any],
    expected_version: int,
    actor: User,
    *,
    max_tier_bonus: int,
) -> Deal:
    """Edit a deal. The rules are checked on the merged values (``max_tier_bonus`` as in
    ``create_deal``); money changes after the deal left draft are kept as price history;
    orders keep the price they were bought at (they snapshot it)."""
    if expected_version != deal.version:
        raise StaleDeal(fields={"version": [f"Current version is {deal.version}."]})
    if deal.status == DealStatus.ENDED.value:
        raise IllegalDealTransition("An ended deal cannot be edited.")
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(fields={f: ["Not editable."] for f in sorted(unknown)})
    merged = {**_rule_values(deal), **{k: v for k, v in changes.items() if k in RULE_FIELDS}}
    _check_rules(merged, max_tier_bonus)
    if "stock" in changes:
        sold_or_reserved = deal.stock - deal.stock_left
        if changes["stock"] < sold_or_reserved:
            raise Conflict(
                f"{sold_or_reserved} units are already sold or reserved; stock cannot go below.",
                code="stock_below_sold",
                fields={"stock": [f"At least {sold_or_reserved}."]},
            )
    moment = now()
    for name in PRICE_FIELDS:
        if (
            name in changes
            and changes[name] != getattr(deal, name)
            and (deal.status != DealStatus.DRAFT.value)
        ):
            db.session.add(
                DealPriceChange(
                    deal_id=deal.id,
                    field=name,
                    old_value=getattr(deal, name),
                    new_value=changes[name],
                    changed_by_id=actor.id,
                    changed_at=moment,
                )
            )
    before = {k: _jsonable(getattr(deal, k)) for k in changes}
    if "stock" in changes:
        # Relative, in SQL: reservations change stock_left concurrently; the sold-out
        # transition follows in the same UPDATE.
        delta = changes["stock"] - deal.stock
        deal.stock_left = Deal.stock_left + delta
        deal.status = status_for_stock(Deal.stock_left + delta)
        inventory.move_gate_on_commit(deal, delta)
    for name, value in changes.items():
        setattr(deal, name, value)
    db.session.flush()
    changed = {
        k: {"from": before[k], "to": _jsonable(v)}
        for k, v in changes.items()
        if before[k] != _jsonable(v)
    }
    if changed:
        audit.record("deal", deal.id, "deal.updated", actor_id=actor.id, data=changed)
    catalog_changed()
    return deal


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _put_on_sale(deal: Deal) -> None:
    """Live, or sold out at once if no units are left (the sold-out rule, in SQL)."""
    deal.status = selling_status(Deal.stock_left)
    db.session.flush()


def ensure_merchant_live(deal: Deal) -> None:
    """Only a live merchant's deals are scheduled, go live or get the popup; the same rule
    in SQL for lists of them is ``merchant_is_live``."""
    if deal.merchant.stage != Stage.LIVE.value:
        raise MerchantNotLive(
            f"{deal.merchant.name} is {deal.merchant.stage}; only a live merchant's deals "
            "can be scheduled or go live."
        )


def go_live(deal: Deal, *, actor_id: int | None) -> None:
    """Put a scheduled deal on sale (the publishing job calls this at its slot)."""
    if deal.status != DealStatus.SCHEDULED.value:
        raise IllegalDealTransition(f"A {deal.status} deal cannot go live.")
    ensure_merchant_live(deal)
    deal.published_at = now()
    _put_on_sale(deal)
    audit.record(
        "deal",
        deal.id,
        "deal.published",
        actor_id=actor_id,
        data={"slot": _jsonable(deal.publish_at)},
    )
    catalog_changed()


def pause(deal: Deal, actor: User, *, reason: str = "") -> Deal:
    if deal.status not in SELLING:
        raise IllegalDealTransition(f"A {deal.status} deal cannot be paused.")
    deal.status = DealStatus.PAUSED.value
    audit.record("deal", deal.id, "deal.paused", actor_id=actor.id, reason=reason or None)
    catalog_changed()
    return deal


def resume(deal: Deal, actor: User, *, reason: str = "") -> Deal:
    if deal.status != DealStatus.PAUSED.value:
        raise IllegalDealTransition(f"A {deal.status} deal cannot be resumed.")
    ensure_merchant_live(deal)
    if deal.sale_ends_at is not None and deal.sale_ends_at <= now():
        raise IllegalDealTransition("The sale window is over; the deal cannot come back.")
    _put_on_sale(deal)
    audit.record("deal", deal.id, "deal.resumed", actor_id=actor.id, reason=reason or None)
    catalog_changed()
    return deal


def record_sale(deal: Deal, units: int, *, day: date | None = None) -> None:
    """Count units sold today (Asia/Shanghai) towards popularity and the sold count.
    Called by checkout when an order is paid."""
    day = day or local_today()
    table = DealDailySales.__table__
    insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[db.session.get_bind().dialect.name]
    db.session.execute(
        insert(table)
        .values(deal_id=deal.id, day=day, units=units)
        .on_conflict_do_update(
            index_elements=["deal_id", "day"], set_={"units": table.c.units + units}
        )
    )
    # A counter, not an edit: Core UPDATE, relative, and no version bump.
    deals = Deal.__table__
    db.session.execute(
        sa.update(deals).where(deals.c.id == deal.id).values(sold_count=deals.c.sold_count + units)
    )
    db.session.expire(deal, ["sold_count"])
    figures_moved()  # units sold: a figure, not what is listed


def price_history(deal: Deal) -> list[DealPriceChange]:
    return list(
        db.session.scalars(
            sa.select(DealPriceChange)
            .where(DealPriceChange.deal_id == deal.id)
            .order_by(DealPriceChange.id.desc())
        )
    )


def manage_query(filters: dict[str, Any]) -> sa.Select:
    """Every deal for staff, any status, newest first."""
    query = sa.select(Deal)
    if "status" in filters:
        query = query.where(Deal.status == filters["status"])
    if "merchant_id" in filters:
        query = query.where(Deal.merchant_id == filters["merchant_id"])
    if "type" in filters:
        query = query.where(Deal.type == filters["type"])
    return query.order_by(Deal.id.desc())


def merchant_is_live() -> sa.ColumnElement[bool]:
    """``ensure_merchant_live`` as a condition on ``Deal``: its merchant is live."""
    return Deal.merchant.has(Merchant.stage == Stage.LIVE.value)


def of_live_merchants(status: DealStatus, limit: int) -> list[Deal]:
    """The newest ``limit`` deals in ``status`` whose merchant is live, with their merchant
    (one statement): what a publishing slot or a popup day can take, offered by the staff
    console's calendar. The merchant condition is in the query, so however many newer
    deals of shops not (or no longer) live there are, they take no place in the list."""
    query = manage_query({"status": status.value}).where(merchant_is_live())
    return list(db.session.scalars(query.limit(limit)).unique())


# -- images --------------------------------------------------------------------------------

MAX_IMAGES = 9


def add_image(deal: Deal, data: bytes, actor: User) -> str:
    """Store an uploaded picture and append its public URL to the deal's images."""
    if len(deal.images or []) >= MAX_IMAGES:
        raise Conflict(f"A deal has at most {MAX_IMAGES} images.", code="too_many_images")
    extension = image_extension(data)
    key = f"deals/{deal.id}/{uuid.uuid4().hex}.{extension}"
    save_upload(key, data)
    url = f"/media/{key}"
    deal.images = [*(deal.images or []), url]
    audit.record("deal", deal.id, "deal.image_added", actor_id=actor.id, data={"url": url})
    catalog_changed()
    return url


def end_finished() -> int:
    """Deals whose sale window closed become ``ended`` (the catalog already hides them)."""
    table = Deal.__table__
    ended = db.session.execute(
        sa.update(table)
        .where(
            table.c.status.in_([s.value for s in OPEN_STATUSES]),
            table.c.sale_ends_at.is_not(None),
            table.c.sale_ends_at <= now(),
        )
        .values(status=DealStatus.ENDED.value)
    ).rowcount
    if ended:
        catalog_changed()
    return ended
