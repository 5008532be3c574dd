"""HTTP routes of buying and paying (the provider's webhook is in ``payments.api``)."""

from __future__ import annotations

from flask import current_app, g, request

from marketplace.accounts.auth import auth_required, current_principal, current_user, prefetched
from marketplace.accounts.models import Role
from marketplace.accounts.principals import Reads
from marketplace.core.api import Blueprint, IdempotencyKeySchema, documents_errors
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.orders import actions, service, stock
from marketplace.orders.schemas import (
    CheckoutSchema,
    OrderCreateSchema,
    OrderSchema,
)

blp = Blueprint("orders", __name__, description="Orders and payments")


def _checkout(order):
    return {
        "order": order,
        "payment": {
            "provider": "stripe",
            "payment_intent": order.payment_intent_id,
            "client_secret": service.client_secret(order),
            "publishable_key": current_app.config["LINLI_STRIPE_PUBLISHABLE_KEY"],
        },
    }


def _screen_reads() -> Reads | None:
    """The screen's Redis reads (the deal's sale state, the flash gate's view of the
    shopper and of their Idempotency-Key), made in the same round trip as the token's
    principal, so a refused tap costs one. Taken from the raw request before it is
    validated; ``admit`` uses them only for the deal and key the validated request names."""
    body = request.get_json(silent=True)
    deal_id = body.get("deal_id") if isinstance(body, dict) else None
    if type(deal_id) is not int or not 0 < deal_id < 2**31:
        return None
    key = request.headers.get("Idempotency-Key") or None
    g.linli_screen = (deal_id, key)
    return stock.screen_reads(deal_id, key)


def _screen() -> stock.Screen | None:
    if "linli_screen" not in g:
        return None
    (state,), view = prefetched()
    return stock.Screen(*g.linli_screen, state, view)


@blp.post("/orders")
@auth_required(Role.SHOPPER, reads=_screen_reads)
@blp.arguments(OrderCreateSchema)
@blp.arguments(IdempotencyKeySchema, location="headers")
@blp.response(201, CheckoutSchema)
@blp.alt_response(200, schema=CheckoutSchema, description="a repeated Idempotency-Key")
@documents_errors(409, 502, 503)
def place_order(body: dict, headers: dict):
    """Buy: reserve the units, create the order, and start its payment

    409 codes: sold_out, purchase_limit_reached, deal_not_on_sale, idempotency_key_reused.
    503 payment_provider_unavailable keeps the order pending: retry with the same key (or
    POST /orders/{id}/payment)."""
    order, created = actions.place_order(
        current_principal(),  # a refused attempt loads no user: see actions._place
        body["deal_id"],
        body["quantity"],
        idempotency_key=headers.get("key"),
        ref=body.get("ref") or request.cookies.get("linli_ref"),
        screen=_screen(),
    )
    return _checkout(order), 201 if created else 200


@blp.post("/orders/<int:order_id>/payment")
@auth_required(Role.SHOPPER)
@blp.response(200, CheckoutSchema)
@documents_errors(404, 409, 502, 503)
def retry_payment(order_id: int):
    """Start (or show) the payment of a pending order, e.g. after the provider was down
    or a declined card

    409 codes: order_expired (place a new order), order_already_paid."""
    return _checkout(actions.start_payment(order_id, current_user()))


@blp.get("/orders")
@auth_required(Role.SHOPPER)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(OrderSchema))
def my_orders(args: dict):
    """My orders, newest first"""
    return paginate(service.my_orders(current_user()), args["page"], args["page_size"])


@blp.get("/orders/<int:order_id>")
@auth_required(Role.SHOPPER)
@blp.response(200, OrderSchema)
@documents_errors(404)
def get_order(order_id: int):
    """One of my orders"""
    return service.get_order(order_id, current_user())
