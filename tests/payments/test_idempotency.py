"""Idempotency keys are namespaced per installation (and per row), built in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from marketplace import create_app, settings
from marketplace.accounts.models import Role
from marketplace.providers.stripe import idempotency_key
from tests.factories import buy, live_deal, live_merchant, pay, quick_shopper, staff
from tests.stripe_proxy import provider_through


def test_a_key_names_the_installation_and_the_rows_creation(app):
    made = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with app.app_context():
        installation = app.config["LINLI_INSTALLATION_ID"]
        key = idempotency_key("order-intent", 42, made)
        restored = idempotency_key("order-intent", 42, made.replace(hour=3))
        app.config["LINLI_INSTALLATION_ID"] = "staging"
        try:
            elsewhere = idempotency_key("order-intent", 42, made)
        finally:
            app.config["LINLI_INSTALLATION_ID"] = installation

    assert installation and key == f"linli-{installation}-order-intent-42-{int(made.timestamp())}"
    assert len({key, restored, elsewhere}) == 3


def test_checkout_and_refunds_send_namespaced_keys(app, client, clock, live_server, stripe_proxy):
    """Two environments on one Stripe account (or a restored database) used to send the
    same `linli-order-7-intent` and get each other's intents and refunds."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=5)
    shopper = quick_shopper(app)
    cs = staff(app, client, Role.CS)
    prefix = f"linli-{app.config['LINLI_INSTALLATION_ID']}-"

    with provider_through(app, stripe_proxy):
        checkout = buy(client, shopper, deal["id"], 1).get_json()
        pay(app, checkout, via="reconcile")
        asked = client.post(
            f"/api/v1/orders/{checkout['order']['id']}/refund-requests",
            json={"reason": "changed_mind"},
            headers=shopper.headers,
        ).get_json()
        done = client.post(
            f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers
        )

    assert done.get_json()["status"] == "refunded"
    (intent,) = stripe_proxy.sent("POST", "/v1/payment_intents")[:1]
    (refund,) = stripe_proxy.sent("POST", "/v1/refunds")
    assert intent.headers["Idempotency-Key"].startswith(
        f"{prefix}order-intent-{checkout['order']['id']}-"
    )
    assert refund.headers["Idempotency-Key"].startswith(f"{prefix}refund-{asked['id']}-")


def test_an_unset_installation_id_is_generated_once_per_instance(tmp_path):
    def installation(instance) -> str:
        app = create_app(
            {**settings.load({}), "LINLI_INSTANCE_PATH": str(instance), "LINLI_ENV": "testing"}
        )
        return app.config["LINLI_INSTALLATION_ID"]

    first, again = installation(tmp_path / "a"), installation(tmp_path / "a")
    other = installation(tmp_path / "b")

    assert first == again != other
    assert (tmp_path / "a" / "installation-id").read_text().strip() == first
