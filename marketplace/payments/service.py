"""Provider webhooks: verify, de-duplicate, and hand each event to the order it concerns."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from marketplace.core.db import db
from marketplace.orders import service as orders
from marketplace.orders.models import Order
from marketplace.payments.models import (
    EVENT_ID_LENGTH,
    EVENT_TYPE_LENGTH,
    OBJECT_ID_LENGTH,
    PaymentEvent,
)
from marketplace.payments.stripe import InvalidSignature, verify_signature

log = logging.getLogger(__name__)


def handle_webhook(payload: bytes, signature_header: str) -> str:
    """Process one signed provider event. Safe to receive twice (the event id is recorded
    in the same transaction as its effect) and in any order (each handler acts only on the
    order state it expects). Raises InvalidSignature for forged or stale deliveries."""
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
    if not isinstance(intent_id, str) or len(intent_id) > OBJECT_ID_LENGTH:
        intent_id = None  # not one of ours: ours are short
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
    if order_id is None:
        record.outcome = "unknown_order"
    elif kind == "payment_intent.succeeded":
        record.outcome = orders.mark_paid(
            order_id,
            payment_intent_id=intent_id,
            amount=int(obj["amount"]),
            currency=obj["currency"],
            source="webhook",
        )
    elif kind == "payment_intent.payment_failed":
        record.outcome = orders.payment_failed(order_id, intent_id, obj.get("last_payment_error"))
    elif kind == "payment_intent.canceled":
        record.outcome = orders.payment_canceled(order_id, intent_id)
    else:
        record.outcome = "ignored"
    log.info("provider event %s %s: %s", event_id, kind, record.outcome)
    return record.outcome
