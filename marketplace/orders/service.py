"""Orders on their own: finding and locking them, idempotent repeats, and the provider's
PaymentIntent of a pending order. What happens to stock, vouchers, the ledger and commission
when an order is placed, paid, redeemed or refunded is composed in ``orders.actions``; how a
payment's status is learnt from the provider is in ``payments``."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db, locked
from marketplace.core.errors import Conflict, NotFound
from marketplace.orders.access import can_see_order
from marketplace.orders.models import Order, OrderStatus
from marketplace.providers.stripe import (
    ProviderError,
    ProviderUnavailable,
    idempotency_key,
    stripe,
)

log = logging.getLogger(__name__)
MAX_QUANTITY = 20


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No such order."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "That Idempotency-Key was used for a different request."


class DealNotOnSale(Conflict):
    code = "deal_not_on_sale"
    message = "This deal is not on sale right now."


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def by_key(shopper: User, key: str) -> Order | None:
    return db.session.scalars(
        sa.select(Order).where(Order.shopper_id == shopper.id, Order.idempotency_key == key)
    ).first()


def repeat(existing: Order, body_hash: str) -> Order:
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused()
    return existing


def attach_payment(order: Order) -> Order:
    """Make sure a pending order has a PaymentIntent. Call it after the order is committed,
    so a provider failure can never lose the order: ProviderUnavailable leaves it pending.

    The read transaction is ended before the network call: no database transaction (on
    SQLite, the write lock) is ever held while waiting for the provider. The intent is
    recorded by one conditional UPDATE (only while the order is pending and has none), so
    a concurrent retry's intent and an order paid or expired meanwhile are never
    overwritten; then the order is read again only if someone else got there first."""
    if order.status != OrderStatus.PENDING_PAYMENT.value or order.payment_intent_id:
        return order
    order_id, amount, currency = order.id, order.amount, order.currency
    metadata = {"order_id": order.id, "deal_id": order.deal_id}
    key = idempotency_key("order-intent", order.id, order.created_at)
    db.session.commit()
    intent = stripe().create_payment_intent(
        amount=amount, currency=currency, metadata=metadata, idempotency_key=key
    )
    table = Order.__table__
    recorded = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == order_id,
            table.c.payment_intent_id.is_(None),
            table.c.status == OrderStatus.PENDING_PAYMENT.value,
        )
        .values(
            payment_intent_id=intent["id"],
            client_secret=intent.get("client_secret"),
            updated_at=now(),
        )
    ).rowcount
    if recorded:
        set_committed_value(order, "payment_intent_id", intent["id"])
        set_committed_value(order, "client_secret", intent.get("client_secret"))
        audit.record(
            "order",
            order_id,
            "payment.intent_created",
            actor_id=None,
            data={"payment_intent": intent["id"], "amount": amount},
        )
        return order
    order = lock_order(order_id)
    if order.payment_intent_id != intent["id"]:
        # A concurrent retry attached another intent first (a provider that ignores
        # Idempotency-Key makes a second one), or the order is no longer pending: ours
        # must never be paid.
        try:
            stripe().cancel_payment_intent(
                intent["id"], idempotency_key=idempotency_key("cancel", intent["id"])
            )
        except (ProviderError, ProviderUnavailable):
            log.warning("order %s: could not cancel surplus intent %s", order_id, intent["id"])
    return order


def get_order(order_id: int, shopper: User) -> Order:
    """The shopper's order; anyone else's is a 404 like one that does not exist."""
    order = db.session.get(Order, order_id)
    if order is None or not can_see_order(shopper, order):
        raise OrderNotFound()
    return order


def my_orders(shopper: User) -> sa.Select:
    return sa.select(Order).where(Order.shopper_id == shopper.id).order_by(Order.id.desc())


def lock_order(order_id: int) -> Order | None:
    """The order, its row locked until the transaction ends: one piece of news about an
    order at a time (payment, redemption, refund). Read afresh once locked (not from the
    session), so what another transaction committed meanwhile is seen."""
    return locked(Order, order_id)


def payable_order(order_id: int, shopper: User) -> Order:
    """``POST /orders/{id}/payment``: only a pending order can be paid; an expired one must
    not hand out its dead intent's client secret."""
    order = get_order(order_id, shopper)
    if order.status == OrderStatus.EXPIRED.value:
        raise Conflict(
            "This order expired before it was paid and its units were released; place a new order.",
            code="order_expired",
        )
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        raise Conflict("This order is already paid.", code="order_already_paid")
    return order


def client_secret(order: Order) -> str | None:
    """What Stripe.js needs to pay, while the order can still be paid."""
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        return None
    return order.client_secret
