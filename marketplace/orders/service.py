"""Buying: place an order (reserve stock, snapshot prices), pay it through the provider,
turn a paid order into vouchers exactly once, expire what is never paid."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.deals import service as deals
from marketplace.deals.catalog import on_sale
from marketplace.deals.models import Deal, DealStatus
from marketplace.distribution import service as distribution
from marketplace.ledger import service as ledger
from marketplace.orders import stock
from marketplace.orders.models import Order, OrderStatus
from marketplace.payments.stripe import (
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    idempotency_key,
    stripe,
)
from marketplace.refunds import service as refunds
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher, VoucherStatus

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


def _by_key(shopper: User, key: str) -> Order | None:
    return db.session.scalars(
        sa.select(Order).where(Order.shopper_id == shopper.id, Order.idempotency_key == key)
    ).first()


def place_order(
    shopper: User,
    deal_id: int,
    quantity: int,
    *,
    idempotency_key: str | None = None,
    ref: str | None = None,
) -> tuple[Order, bool]:
    """Reserve ``quantity`` units and create a pending order with today's prices.

    With an ``idempotency_key`` a repeat of the same request returns the first order
    (``created`` False); the same key with another body is a 409."""
    body_hash = request_hash({"deal_id": deal_id, "quantity": quantity})
    if idempotency_key:
        existing = _by_key(shopper, idempotency_key)
        if existing is not None:
            return _repeat(existing, body_hash), False
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(fields={"quantity": [f"Buy 1 to {MAX_QUANTITY} at a time."]})
    moment = now()
    deal = db.session.scalars(
        sa.select(Deal).join(Deal.merchant).where(Deal.id == deal_id, *on_sale(moment))
    ).first()
    if deal is None:
        existing_deal = db.session.get(Deal, deal_id)
        if existing_deal is None:
            raise InvalidInput(fields={"deal_id": ["No such deal."]}, code="deal_not_found")
        if existing_deal.status == DealStatus.SOLD_OUT.value:
            raise stock.SoldOut()
        raise DealNotOnSale()
    # A flash crowd is turned away here, in Redis, before any database write.
    stock.admit(deal, shopper.id, quantity)
    stock.lock_shopper(shopper.id)
    if idempotency_key:  # a concurrent repeat of this request may have finished meanwhile
        existing = _by_key(shopper, idempotency_key)
        if existing is not None:
            stock.ungate_now(deal, shopper.id, quantity)
            return _repeat(existing, body_hash), False
    stock.reserve(deal, shopper, quantity)
    order = Order(
        shopper_id=shopper.id,
        deal=deal,
        merchant_id=deal.merchant_id,
        quantity=quantity,
        unit_price=deal.sale_price,
        settlement_price=deal.settlement_price,
        subsidy=deal.subsidy,
        commission_l1=deal.commission_l1,
        commission_l2=deal.commission_l2,
        amount=deal.sale_price * quantity,
        status=OrderStatus.PENDING_PAYMENT.value,
        expires_at=moment + timedelta(minutes=current_app.config["LINLI_ORDER_PAYMENT_MINUTES"]),
        idempotency_key=idempotency_key,
        request_hash=body_hash,
    )
    distribution.snapshot_attribution(order, shopper, ref)
    db.session.add(order)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        # The same key raced us and won: its order is the answer (our reservation is
        # rolled back with this request).
        db.session.rollback()
        winner = _by_key(shopper, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        if winner.request_hash != body_hash:
            raise IdempotencyKeyReused() from None
        return winner, False
    audit.record(
        "order",
        order.id,
        "order.placed",
        actor_id=shopper.id,
        data={"deal_id": deal.id, "quantity": quantity, "amount": order.amount},
    )
    return order, True


def _repeat(existing: Order, body_hash: str) -> Order:
    if existing.request_hash != body_hash:
        raise IdempotencyKeyReused()
    return existing


def attach_payment(order: Order) -> Order:
    """Make sure a pending order has a PaymentIntent. Call it after the order is committed,
    so a provider failure can never lose the order: ProviderUnavailable leaves it pending.

    The read transaction is ended before the network call: no database transaction (on
    SQLite, the write lock) is ever held while waiting for the provider."""
    if order.status != OrderStatus.PENDING_PAYMENT.value or order.payment_intent_id:
        return order
    order_id, amount, currency = order.id, order.amount, order.currency
    metadata = {"order_id": order.id, "deal_id": order.deal_id}
    key = idempotency_key("order-intent", order.id, order.created_at)
    db.session.commit()
    intent = stripe().create_payment_intent(
        amount=amount, currency=currency, metadata=metadata, idempotency_key=key
    )
    order = _lock(order_id)
    if order.payment_intent_id is None and order.status == OrderStatus.PENDING_PAYMENT.value:
        order.payment_intent_id = intent["id"]
        order.client_secret = intent.get("client_secret")
        audit.record(
            "order",
            order.id,
            "payment.intent_created",
            actor_id=None,
            data={"payment_intent": intent["id"], "amount": amount},
        )
    elif order.payment_intent_id != intent["id"]:
        # A concurrent retry attached another intent first (a provider that ignores
        # Idempotency-Key makes a second one): ours must never be paid.
        try:
            stripe().cancel_payment_intent(
                intent["id"], idempotency_key=idempotency_key("cancel", intent["id"])
            )
        except (ProviderError, ProviderUnavailable):
            log.warning("order %s: could not cancel surplus intent %s", order_id, intent["id"])
    return order


def get_order(order_id: int, shopper: User) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.shopper_id != shopper.id:
        raise OrderNotFound()
    return order


def my_orders(shopper: User) -> sa.Select:
    return sa.select(Order).where(Order.shopper_id == shopper.id).order_by(Order.id.desc())


def _lock(order_id: int) -> Order | None:
    return db.session.scalars(
        sa.select(Order).where(Order.id == order_id).with_for_update(of=Order)
    ).first()


def mark_paid(
    order_id: int, *, payment_intent_id: str, amount: int, currency: str, source: str
) -> str:
    """The provider says the order's payment succeeded: mark it paid and issue its
    vouchers, exactly once however often (or late) the news arrives. Returns the outcome."""
    order = _lock(order_id)
    if order is None or order.payment_intent_id != payment_intent_id:
        return "unknown_order"
    if amount != order.amount or currency.lower() != order.currency:
        return _amount_mismatch(order, amount, currency, source)
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        if order.status == OrderStatus.EXPIRED.value:
            return _paid_after_expiry(order, source)
        return "already_paid"
    _confirm_paid(order, source)
    return "paid"


def _amount_mismatch(order: Order, amount: int, currency: str, source: str) -> str:
    """The provider took a different sum than the order's (the intent was changed outside
    Linli). It is never accepted as payment, and the money is not kept either: the order
    expires (its units go back) and what was taken is refunded automatically, with CS
    told (the refund runs after this transaction, outside the order's lock)."""
    if order.closed_reason == "amount_mismatch":
        return "amount_mismatch"  # handled when the news first came
    log.error(
        "order %s: paid %s %s, expected %s %s",
        order.id,
        amount,
        currency,
        order.amount,
        order.currency,
    )
    audit.record(
        "order",
        order.id,
        "payment.amount_mismatch",
        actor_id=None,
        data={"amount": amount, "currency": currency, "source": source},
    )
    if order.status not in (OrderStatus.PENDING_PAYMENT.value, OrderStatus.EXPIRED.value):
        return "amount_mismatch"  # paid correctly before: CS sees the audit and the log
    close_unpaid(order, "amount_mismatch")
    order.closed_reason = "amount_mismatch"
    refunds.open_system_refund(
        order,
        amount,
        note=f"paid {amount} {currency.upper()} for an order of {order.amount} "
        f"{order.currency.upper()}: not accepted, refunded",
    )
    return "amount_mismatch_refunding"


def _confirm_paid(order: Order, source: str) -> None:
    order.status = OrderStatus.PAID.value
    order.paid_at = now()
    audit.record(
        "order",
        order.id,
        "order.paid",
        actor_id=None,
        data={"payment_intent": order.payment_intent_id, "source": source},
    )
    ledger.order_paid(order)
    issued = vouchers.issue_for(order)
    distribution.on_order_paid(order, issued)
    deals.record_sale(order.deal, order.quantity)


def _paid_after_expiry(order: Order, source: str) -> str:
    """Money arrived for an order we had given up on (a late webhook). Take the stock back
    if it is still there and honour the purchase; otherwise refund the money — after this
    transaction, outside the order's lock (``refunds.execute_due``)."""
    if order.closed_reason in ("paid_after_expiry_refunded", "amount_mismatch"):
        return "already_refunding"
    try:
        with db.session.begin_nested():
            stock.reserve(order.deal, db.session.get(User, order.shopper_id), order.quantity)
    except (stock.SoldOut, stock.LimitReached):
        order.closed_reason = "paid_after_expiry_refunded"
        request = refunds.open_system_refund(
            order, order.amount, note="paid after the order expired and its units were gone"
        )
        audit.record(
            "order",
            order.id,
            "order.refunding_late_payment",
            actor_id=None,
            data={"refund_request_id": request.id, "source": source},
        )
        return "refunding_late_payment"
    _confirm_paid(order, source)
    return "paid_after_expiry"


def close_unpaid(order: Order, reason: str) -> bool:
    """Expire a pending order and give its stock back. False if it was not pending."""
    table = Order.__table__
    closed = db.session.execute(
        sa.update(table)
        .where(table.c.id == order.id, table.c.status == OrderStatus.PENDING_PAYMENT.value)
        .values(status=OrderStatus.EXPIRED.value, closed_reason=reason, updated_at=now())
    ).rowcount
    if not closed:
        return False
    db.session.expire(order, ["status", "closed_reason"])
    stock.release(order.deal, order.shopper_id, order.quantity)
    audit.record("order", order.id, "order.expired", actor_id=None, reason=reason)
    return True


def payment_failed(order_id: int, payment_intent_id: str, error: dict[str, Any] | None) -> str:
    """A payment attempt failed (a declined card, failed authentication). The provider puts
    the intent back to ``requires_payment_method``: the shopper may try another card until
    the order's deadline, so the order stays pending and keeps its units; expiry handles it
    if nothing else comes. Nothing is asked of the provider here."""
    order = db.session.get(Order, order_id)
    if order is None or order.payment_intent_id != payment_intent_id:
        return "unknown_order"
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        return "ignored"
    error = error if isinstance(error, dict) else {}
    audit.record(
        "order",
        order.id,
        "payment.failed",
        actor_id=None,
        data={
            "payment_intent": payment_intent_id,
            "code": error.get("code"),
            "decline_code": error.get("decline_code"),
        },
    )
    return "payment_failed"


def payment_canceled(order_id: int, payment_intent_id: str) -> str:
    """The intent was cancelled at the provider (by us at expiry, or in its dashboard): it
    can never be paid, so the order expires and gives its units back."""
    order = _lock(order_id)
    if order is None or order.payment_intent_id != payment_intent_id:
        return "unknown_order"
    return "expired" if close_unpaid(order, "payment_canceled") else "ignored"


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


def settle_with_provider(order: Order) -> str:
    """Ask the provider where a pending order's payment stands and act on it: paid →
    vouchers; still unpaid past its deadline → cancel the intent and expire the order.

    Commits what came before and holds no transaction (nor the order's lock) while the
    provider answers; each step after it is conditional on the order still being pending."""
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        return "not_pending"
    if order.payment_intent_id is None:
        if now() >= order.expires_at:
            return "expired" if close_unpaid(order, "expired_unpaid") else "not_pending"
        return "waiting"
    order_id, intent_id, expires_at = order.id, order.payment_intent_id, order.expires_at
    db.session.commit()
    try:
        intent = stripe().retrieve_payment_intent(intent_id)
    except ProviderNotFound as exc:
        return _intent_missing(db.session.get(Order, order_id), exc)
    if intent["status"] == "succeeded":
        return mark_paid(
            order_id,
            payment_intent_id=intent["id"],
            amount=intent["amount"],
            currency=intent["currency"],
            source="reconciliation",
        )
    if intent["status"] == "canceled":
        order = db.session.get(Order, order_id)
        return "expired" if close_unpaid(order, "payment_canceled") else "not_pending"
    if now() >= expires_at:
        if intent["status"] in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
            "requires_capture",
        ):
            stripe().cancel_payment_intent(
                intent_id, idempotency_key=idempotency_key("cancel", intent_id)
            )
        order = db.session.get(Order, order_id)
        return "expired" if close_unpaid(order, "expired_unpaid") else "not_pending"
    return "waiting"


def _intent_missing(order: Order, exc: ProviderNotFound) -> str:
    """The provider has never heard of the order's PaymentIntent (a 404: another account or
    mode, a deleted test object): nothing can pay it, so waiting is pointless. Close the
    order for good, with the reason on record, instead of asking again every few minutes."""
    log.error(
        "order %s: payment intent %s unknown to the provider", order.id, order.payment_intent_id
    )
    if not close_unpaid(order, "payment_intent_missing"):
        return "not_pending"
    audit.record(
        "order",
        order.id,
        "payment.intent_missing",
        actor_id=None,
        reason="the payment provider does not know this payment intent",
        data={"payment_intent": order.payment_intent_id, "provider": exc.describe()},
    )
    return "intent_missing"


def expire_unpaid(*, limit: int = 500) -> dict[str, int]:
    """Job: settle every pending order past its payment deadline with the provider.
    One order's provider trouble never blocks the others; each commits on its own."""
    due = db.session.scalars(
        sa.select(Order.id)
        .where(Order.status == OrderStatus.PENDING_PAYMENT.value, Order.expires_at <= now())
        .order_by(Order.id)
        .limit(limit)
    ).all()
    return _settle_each(due)


def reconcile_pending(
    *, older_than: timedelta = timedelta(minutes=2), limit: int = 500
) -> dict[str, int]:
    """Job: ask the provider about orders pending longer than ``older_than`` — a missed
    webhook must not strand a paid order."""
    due = db.session.scalars(
        sa.select(Order.id)
        .where(
            Order.status == OrderStatus.PENDING_PAYMENT.value,
            Order.created_at <= now() - older_than,
        )
        .order_by(Order.id)
        .limit(limit)
    ).all()
    return _settle_each(due)


def _settle_each(order_ids: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for order_id in order_ids:
        try:
            order = db.session.get(Order, order_id, populate_existing=True)
            outcome = settle_with_provider(order) if order else "gone"
            db.session.commit()
            refunds.execute_due()  # a late or wrong payment's refund, now the lock is gone
        except ProviderUnavailable:
            db.session.rollback()
            outcome = "provider_unavailable"
        except ProviderError as exc:  # a refusal, not an outage: it needs a person
            db.session.rollback()
            log.error("order %s: the provider refused: %s", order_id, exc.describe())
            outcome = "provider_error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def after_voucher_change(order_id: int) -> None:
    """An order is completed once none of its vouchers is still active."""
    active = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Voucher)
        .where(Voucher.order_id == order_id, Voucher.status == VoucherStatus.ACTIVE.value)
    )
    if active == 0:
        table = Order.__table__
        done = db.session.execute(
            sa.update(table)
            .where(table.c.id == order_id, table.c.status == OrderStatus.PAID.value)
            .values(status=OrderStatus.COMPLETED.value, updated_at=now())
        ).rowcount
        if done:
            audit.record("order", order_id, "order.completed", actor_id=None)
