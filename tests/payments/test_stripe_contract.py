"""Contract tests: every call our Stripe client makes, against Stripe's official mock server.

stripe-mock checks each request against Stripe's published API description (paths,
parameters, types, Content-Type) and answers with Stripe's fixture objects, so these tests
prove the *shape* of our calls; the flow tests against localstripe prove what they do. No
database and no app: the client is plain ``requests``.
"""

from __future__ import annotations

import pytest

from marketplace.providers.stripe import ProviderError, StripeClient


@pytest.fixture(scope="module")
def client(stripe_mock_url) -> StripeClient:
    return StripeClient(stripe_mock_url, "sk_test_123")


def test_create_payment_intent(client):
    intent = client.create_payment_intent(
        amount=31600,
        currency="cny",
        metadata={"order_id": 7, "deal_id": 3},
        idempotency_key="linli-contract-order-7-intent",
    )

    assert intent["object"] == "payment_intent"
    assert intent["id"].startswith("pi_") and intent["client_secret"]
    assert (intent["amount"], intent["currency"]) == (31600, "cny")


def test_retrieve_payment_intent(client):
    intent = client.retrieve_payment_intent("pi_contract")

    assert intent["object"] == "payment_intent" and intent["id"] == "pi_contract"
    assert {"status", "amount", "currency"} <= intent.keys()


def test_cancel_payment_intent_a_post_without_parameters(client):
    """A POST with no parameters still needs the form Content-Type (stripe-mock answered
    400 "Content-Type header was empty" before, so unpaid orders never expired)."""
    intent = client.cancel_payment_intent("pi_contract", idempotency_key="linli-contract-cancel")

    assert intent["object"] == "payment_intent"


def test_create_refund(client):
    refund = client.create_refund(
        payment_intent="pi_contract",
        amount=15800,
        metadata={"refund_request_id": 4, "order_id": 7},
        idempotency_key="linli-contract-refund-4",
    )

    assert refund["object"] == "refund" and refund["id"].startswith("re_")
    assert refund["amount"] == 15800 and "status" in refund


def test_retrieve_refund(client):
    refund = client.retrieve_refund("re_contract")

    assert refund["object"] == "refund" and refund["id"] == "re_contract"
    assert "status" in refund


def test_list_refunds(client):
    refunds = client.list_refunds("pi_contract")

    assert isinstance(refunds, list)
    assert all(r["object"] == "refund" for r in refunds)


def test_the_test_card_helper(client):
    """What Stripe.js does in the browser (the demo's `flask orders pay`): create a card
    payment method, attach it, confirm (another POST without parameters)."""
    intent = client.pay_with_test_card("pi_contract")

    assert intent["object"] == "payment_intent"


def test_the_mock_refuses_what_stripe_would_refuse(client):
    """The contract tests can fail: a parameter Stripe does not know is a 400 there."""
    with pytest.raises(ProviderError):
        client._call("POST", "/v1/refunds", {"payment_intent": "pi_contract", "bogus": 1})
