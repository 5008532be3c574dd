"""HTTP route of the payment provider: its signed webhook."""

from __future__ import annotations

from flask import request

from marketplace.core.api import Blueprint, doc, documents_errors
from marketplace.payments import service
from marketplace.payments.schemas import WebhookResultSchema

blp = Blueprint("payments", __name__, description="The payment provider's webhook")


@blp.post("/payments/stripe/webhook")
@blp.response(200, WebhookResultSchema)
@doc(
    parameters=[
        {
            "in": "header",
            "name": "Stripe-Signature",
            "required": True,
            "schema": {"type": "string"},
            "description": "t=<unix time>,v1=<HMAC-SHA256 of t.payload with the endpoint secret>",
        }
    ]
)
@documents_errors(400)
def stripe_webhook():
    """Signed provider events (Stripe-Signature); duplicates and stale or forged
    deliveries are safe"""
    # handle_webhook owns its transactions: the event is committed with its effect.
    outcome = service.handle_webhook(
        request.get_data(), request.headers.get("Stripe-Signature", "")
    )
    return {"outcome": outcome}
