"""Provider webhooks: verify, de-duplicate, and hand each event to the order it concerns."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from marketplace.core.db import db
from marketplace.orders.models import Order
from marketplace.payments import sync
from marketplace.payments.models import (
    EVENT_ID_LENGTH,
    EVENT_TYPE_LENGTH,
    OBJECT_ID_LENGTH,
    PaymentEvent,
)
from marketplace.providers.stripe import InvalidSignature, stripe, verify_signature
from marketplace.refunds import service as refunds

log = logging.getLogger(__name__)


def handle_webhook(payload: bytes, signature_header: str) -> str:
    """Process one signed provider event. Safe to receive twice (the event id is recorded
    in the same transaction as its effect) and in any order (each handler acts only on the
    order state it expects). Raises InvalidSignature for forged or stale deliveries.

    Owns its transactions: it commits the event with its effect, then carries out the
    refunds that transaction opened (``refunds.execute_due``, which commits its own steps)
    outside the order's lock; the caller commits nothing."""
    verify_signature(payload, signature_header, current_app.config["LINLI_STRIPE_WEBHOOK_SECRET"])
    try:
        event = json.loads(payload)
        event_id, kind, obj = event["id"], event["type"], event["data"]["object"]
        if not (
            isinstance(event_id, str)
            and 0 < len(event_id) <= EVENT_ID_LENGTH
            and isinstance(kind, str)
            and isinstance(obj, dict)
        ):
            raise TypeError("not an event")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidSignature(
            "The event is not a provider event.", code="malformed_event"
        ) from exc
    intent_id = obj.get("id") if obj.get("object") == "payment_intent" else None
    if obj.get("object") in ("charge", "refund", "dispute"):
        intent_id = obj.get("payment_intent")
    if not isinstance(intent_id, str) or len(intent_id) > OBJECT_ID_LENGTH:
        intent_id = None  # not one of ours: ours are short
    # What the provider knows is asked before any database work: no transaction (on SQLite
    # the write lock) is held while waiting for it. Down, the event answers 503 and the
    # provider delivers it again.
    provider_refunds = (
        stripe().list_refunds(intent_id) if kind == "charge.refunded" and intent_id else []
    )
    record = PaymentEvent(
        provider_event_id=event_id,
        type=kind[:EVENT_TYPE_LENGTH],  # a type longer than any Stripe sends is just unknown
        payment_intent_id=intent_id,
        outcome="received",
    )
    try:
        with db.session.begin_nested():  # a second delivery of the event stops here
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        return "duplicate"
    order_id = None
    if intent_id:
        order_id = db.session.scalar(
            sa.select(Order.id).where(Order.payment_intent_id == intent_id)
        )
    try:
        record.outcome = _dispatch(kind, obj, order_id, intent_id, provider_refunds)
    except (KeyError, TypeError, ValueError) as exc:  # signed, but not the shape we know
        raise InvalidSignature(
            "The event is not a provider event.", code="malformed_event"
        ) from exc
    log.info("provider event %s %s: %s", event_id, kind, record.outcome)
    outcome = record.outcome
    db.session.commit()
    refunds.execute_due()  # money a late or wrong payment must give back, outside any lock
    return outcome


# Every event type _dispatch acts on: what a webhook endpoint must subscribe to (make run
# registers exactly these with localstripe, which itself only ever sends the first two).
HANDLED_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.closed",
)


def _dispatch(
    kind: str, obj: dict, order_id: int | None, intent_id: str | None, provider_refunds: list
) -> str:
    if order_id is None:
        return "unknown_order"
    if kind == "payment_intent.succeeded":
        return sync.payment_succeeded(
            order_id,
            payment_intent_id=intent_id,
            amount=int(obj["amount"]),
            currency=obj["currency"],
            source="webhook",
        )
    if kind == "payment_intent.payment_failed":
        return sync.payment_failed(order_id, intent_id, obj.get("last_payment_error"))
    if kind == "payment_intent.canceled":
        return sync.payment_canceled(order_id, intent_id)
    if kind == "charge.refunded":
        return _charge_refunded(order_id, provider_refunds)
    if kind in ("refund.updated", "refund.failed", "charge.refund.updated"):
        return _refund_changed(order_id, obj)
    if kind == "charge.dispute.created":
        return refunds.money_returned_outside(
            order_id,
            provider_id=str(obj["id"]),
            amount=int(obj["amount"]),
            status="succeeded",  # a dispute withdraws its amount at once
            note=f"dispute {obj['id']} opened by the card holder ({obj.get('reason') or '-'})",
        )
    if kind == "charge.dispute.closed":
        return refunds.dispute_closed(order_id, obj)
    return "ignored"


def _is_ours(refund: dict) -> bool:
    return bool((refund.get("metadata") or {}).get("refund_request_id"))


def _charge_refunded(order_id: int, provider_refunds: list[dict]) -> str:
    """Some money of this payment went back: each of its refunds, ours or not, as if its own
    refund event had come."""
    outcomes = {_refund_changed(order_id, refund) for refund in provider_refunds}
    for outcome in ("recorded_outside_refund", "refunded", "already_recorded"):
        if outcome in outcomes:
            return outcome
    return "ignored"


def _refund_changed(order_id: int, refund: dict) -> str:
    """One of ours finishes or fails by the refund rules; any other was made at the
    provider (its dashboard) and is recorded now."""
    outcome = refunds.provider_refund_changed(refund)
    if outcome != "not_ours" or _is_ours(refund):
        return outcome
    return refunds.money_returned_outside(
        order_id,
        provider_id=str(refund["id"]),
        amount=int(refund["amount"]),
        status=str(refund.get("status")),
        note=f"refund {refund['id']} made at the payment provider",
    )
