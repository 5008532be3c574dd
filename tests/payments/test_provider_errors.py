"""Provider errors: what is retried (and how long we wait), what the shopper and the jobs
see, and a PaymentIntent the provider has never heard of."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.orders.models import Order
from marketplace.payments import sync
from marketplace.providers.stripe import (
    ProviderError,
    ProviderNotFound,
    ProviderUnavailable,
    StripeClient,
)
from tests.factories import buy, live_deal, live_merchant, order_status, quick_shopper, staff
from tests.stripe_proxy import provider_through

INTENT = "/v1/payment_intents"


def stripe_error(kind: str, message: str, code: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, **({"code": code} if code else {})}}


RATE_LIMITED = stripe_error("invalid_request_error", "Too many requests", "rate_limit")
LOCKED = stripe_error("invalid_request_error", "Could not acquire lock", "lock_timeout")
REUSED = stripe_error("idempotency_error", "Keys for idempotent requests can only be used ...")
MISSING = stripe_error(
    "invalid_request_error", "No such payment_intent: 'pi_x'", "resource_missing"
)


def create(client: StripeClient) -> dict:
    return client.create_payment_intent(
        amount=100, currency="cny", metadata={}, idempotency_key=f"t-{time.monotonic_ns()}"
    )


def test_429_is_retried_and_retry_after_is_capped(stripe_proxy):
    client = StripeClient(stripe_proxy.url, "sk_test_x")
    stripe_proxy.answer("POST", INTENT, 429, RATE_LIMITED, headers={"Retry-After": "30"}, times=2)

    started = time.monotonic()
    intent = create(client)
    took = time.monotonic() - started

    assert intent["object"] == "payment_intent"
    assert len(stripe_proxy.sent("POST", INTENT)) == 3
    assert took < 6  # two capped waits, never the 30 s asked for


def test_409_is_retried_only_when_stripe_says_so(stripe_proxy):
    client = StripeClient(stripe_proxy.url, "sk_test_x")
    stripe_proxy.answer("POST", INTENT, 409, LOCKED, headers={"Stripe-Should-Retry": "true"})

    assert create(client)["object"] == "payment_intent"
    assert len(stripe_proxy.sent("POST", INTENT)) == 2

    stripe_proxy.answer("POST", INTENT, 409, REUSED)
    with pytest.raises(ProviderError) as refused:
        create(client)

    assert len(stripe_proxy.sent("POST", INTENT)) == 3  # not repeated
    assert (refused.value.provider_status, refused.value.provider_type) == (
        409,
        "idempotency_error",
    )


def test_stripe_should_retry_false_is_honoured(stripe_proxy):
    client = StripeClient(stripe_proxy.url, "sk_test_x")
    stripe_proxy.answer(
        "POST",
        INTENT,
        503,
        {"error": {"type": "api_error"}},
        headers={"Stripe-Should-Retry": "false"},
    )

    with pytest.raises(ProviderUnavailable):
        create(client)

    assert len(stripe_proxy.sent("POST", INTENT)) == 1


def test_a_refusal_keeps_the_providers_type_and_code(stripe_proxy):
    client = StripeClient(stripe_proxy.url, "sk_test_x")
    stripe_proxy.answer("GET", INTENT, 404, MISSING)

    with pytest.raises(ProviderNotFound) as missing:
        client.retrieve_payment_intent("pi_x")

    error = missing.value
    assert (error.provider_status, error.provider_type, error.provider_code) == (
        404,
        "invalid_request_error",
        "resource_missing",
    )
    assert error.describe() == "payment_not_found: 404 invalid_request_error/resource_missing"


@pytest.fixture
def deal(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    return live_deal(app, client, bd, merchant["id"], "small_set", stock=5)


def test_the_shopper_is_not_shown_the_providers_english(app, client, deal, stripe_proxy):
    shopper = quick_shopper(app)
    stripe_proxy.answer(
        "POST",
        INTENT,
        400,
        stripe_error(
            "invalid_request_error", "Amount must convert to at least 50 cents.", "amount_too_small"
        ),
    )

    with provider_through(app, stripe_proxy):
        response = buy(client, shopper, deal["id"], 1)

    error = response.get_json()["error"]
    assert response.status_code == 502 and error["code"] == "payment_provider_error"
    assert "cents" not in error["message"] and "customer service" in error["message"]
    assert order_status(app, _only_order(app)) == "pending_payment"  # kept for a retry


def test_jobs_tell_a_refusal_from_an_outage(app, client, deal, stripe_proxy):
    shopper = quick_shopper(app)
    buy(client, shopper, deal["id"], 1)
    stripe_proxy.answer(
        "GET", INTENT, 401, stripe_error("invalid_request_error", "Invalid API Key provided")
    )
    stripe_proxy.answer("GET", INTENT, 503, {"error": {"type": "api_error"}}, times=3)

    with provider_through(app, stripe_proxy), app.app_context():
        refused = sync.reconcile_pending(older_than=_zero())
        down = sync.reconcile_pending(older_than=_zero())

    assert refused == {"provider_error": 1}
    assert down == {"provider_unavailable": 1}


def test_an_intent_the_provider_never_heard_of_ends_the_order(
    app, client, deal, stripe_proxy, clock
):
    shopper = quick_shopper(app)
    placed = buy(client, shopper, deal["id"], 2).get_json()
    stripe_proxy.answer("GET", INTENT, 404, MISSING, times=5)

    with provider_through(app, stripe_proxy), app.app_context():
        first = sync.reconcile_pending(older_than=_zero())
        again = sync.reconcile_pending(older_than=_zero())

    assert first == {"intent_missing": 1} and again == {}
    with app.app_context():
        order = db.session.get(Order, placed["order"]["id"])
        assert (order.status, order.closed_reason) == ("expired", "payment_intent_missing")
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.entity_id == str(order.id))
        ).all()
    assert "payment.intent_missing" in actions
    assert client.get(f"/api/v1/deals/{deal['id']}").get_json()["stock_left"] == 5


def _zero() -> timedelta:
    return timedelta(0)


def _only_order(app) -> int:
    with app.app_context():
        return db.session.scalars(sa.select(Order.id)).one()


def test_a_lock_that_stays_busy_is_an_outage_not_a_refusal(stripe_proxy):
    client = StripeClient(stripe_proxy.url, "sk_test_x")
    stripe_proxy.answer(
        "POST", INTENT, 409, LOCKED, headers={"Stripe-Should-Retry": "true"}, times=3
    )

    with pytest.raises(ProviderUnavailable) as busy:
        create(client)

    assert len(stripe_proxy.sent("POST", INTENT)) == 3  # the first try and two retries
    assert busy.value.provider_code == "lock_timeout"
