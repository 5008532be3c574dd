"""Payment status, learnt from the provider and acted on: a PaymentIntent that succeeded,
failed or was cancelled (from the webhook, or asked for by the reconciliation and expiry
jobs). This package sits above orders and refunds: a payment it cannot accept as a purchase
(the wrong sum, or money for an expired order whose units are gone) becomes a system refund
here, carried out after the order's transaction (``refunds.execute_due``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.deals.errors import LimitReached, SoldOut
from marketplace.orders import actions
from marketplace.orders import service as orders
from marketplace.orders.models import Order, OrderStatus
from marketplace.providers.stripe import (
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    idempotency_key,
    stripe,
)
from marketplace.refunds import service as refunds

log = logging.getLogger(__name__)


def payment_succeeded(
    order_id: int, *, payment_intent_id: str, amount: int, currency: str, source: str
) -> str:
    """The provider says the order's payment succeeded: mark it paid and issue its
    vouchers, exactly once however often (or late) the news arrives. Returns the outcome."""
    order = orders.lock_order(order_id)
    if order is None or order.payment_intent_id != payment_intent_id:
        return "unknown_order"
    if amount != order.amount or currency.lower() != order.currency:
        return _amount_mismatch(order, amount, currency, source)
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        if order.status == OrderStatus.EXPIRED.value:
            return _paid_after_expiry(order, source)
        return "already_paid"
    actions.order_paid(order, source=source)
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
    actions.close_unpaid(order, "amount_mismatch")
    order.closed_reason = "amount_mismatch"
    refunds.open_system_refund(
        order,
        amount,
        note=f"paid {amount} {currency.upper()} for an order of {order.amount} "
        f"{order.currency.upper()}: not accepted, refunded",
    )
    return "amount_mismatch_refunding"


def _paid_after_expiry(order: Order, source: str) -> str:
    """Money arrived for an order we had given up on (a late webhook). Take the stock back
    if it is still there and honour the purchase; otherwise refund the money — after this
    transaction, outside the order's lock (``refunds.execute_due``)."""
    if order.closed_reason in ("paid_after_expiry_refunded", "amount_mismatch"):
        return "already_refunding"
    try:
        actions.order_paid(order, source=source)  # takes the units again if still there
    except (SoldOut, LimitReached):
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
    return "paid_after_expiry"


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
    order = orders.lock_order(order_id)
    if order is None or order.payment_intent_id != payment_intent_id:
        return "unknown_order"
    return "expired" if actions.close_unpaid(order, "payment_canceled") else "ignored"


def sync_payment(order: Order) -> str:
    """Ask the provider where a pending order's payment stands and act on it: paid →
    vouchers; still unpaid past its deadline → cancel the intent and expire the order.

    Commits what came before and holds no transaction (nor the order's lock) while the
    provider answers; each step after it is conditional on the order still being pending."""
    if order.status != OrderStatus.PENDING_PAYMENT.value:
        return "not_pending"
    if order.payment_intent_id is None:
        if now() >= order.expires_at:
            return "expired" if actions.close_unpaid(order, "expired_unpaid") else "not_pending"
        return "waiting"
    order_id, intent_id, expires_at = order.id, order.payment_intent_id, order.expires_at
    db.session.commit()
    try:
        intent = stripe().retrieve_payment_intent(intent_id)
    except ProviderNotFound as exc:
        return _intent_missing(db.session.get(Order, order_id), exc)
    if intent["status"] == "succeeded":
        return payment_succeeded(
            order_id,
            payment_intent_id=intent["id"],
            amount=intent["amount"],
            currency=intent["currency"],
            source="reconciliation",
        )
    if intent["status"] == "canceled":
        order = db.session.get(Order, order_id)
        return "expired" if actions.close_unpaid(order, "payment_canceled") else "not_pending"
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
        return "expired" if actions.close_unpaid(order, "expired_unpaid") else "not_pending"
    return "waiting"


def _intent_missing(order: Order, exc: ProviderNotFound) -> str:
    """The provider has never heard of the order's PaymentIntent (a 404: another account or
    mode, a deleted test object): nothing can pay it, so waiting is pointless. Close the
    order for good, with the reason on record, instead of asking again every few minutes."""
    log.error(
        "order %s: payment intent %s unknown to the provider", order.id, order.payment_intent_id
    )
    if not actions.close_unpaid(order, "payment_intent_missing"):
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
    """Job: ask the provider about every pending order past its payment deadline (paid after
    all, or expire it).
    One order's provider trouble never blocks the others; each commits on its own."""
    due = db.session.scalars(
        sa.select(Order.id)
        .where(Order.status == OrderStatus.PENDING_PAYMENT.value, Order.expires_at <= now())
        .order_by(Order.id)
        .limit(limit)
    ).all()
    return _sync_each(due)


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
    return _sync_each(due)


def check_payment(order_id: int) -> str:
    """Ask the provider about one order now and act on the answer (``sync_payment``),
    committed, then carry out a refund it opened (a late or wrong payment), now that the
    order's lock is gone. Provider trouble is an outcome, not an error: the webhook, the
    next check or the reconciliation job finishes the work. What the jobs do per order,
    and what the shopper's order page does while it waits for a payment to be confirmed."""
    try:
        order = db.session.get(Order, order_id, populate_existing=True)
        outcome = sync_payment(order) if order else "gone"
        db.session.commit()
        refunds.execute_due()
    except ProviderUnavailable:
        db.session.rollback()
        outcome = "provider_unavailable"
    except ProviderError as exc:  # a refusal, not an outage: it needs a person
        db.session.rollback()
        log.error("order %s: the provider refused: %s", order_id, exc.describe())
        outcome = "provider_error"
    return outcome


def _sync_each(order_ids: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for order_id in order_ids:
        outcome = check_payment(order_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
