"""Buying over the real local payment server: order → pay → webhook → vouchers → redeem."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.orders.models import Order
from marketplace.payments import sync
from marketplace.providers.stripe import StripeClient
from marketplace.vouchers.models import Voucher
from marketplace.vouchers.service import well_formed
from tests.factories import (
    buy,
    live_deal,
    live_merchant,
    order_status,
    pay,
    portal_account,
    quick_shopper,
    staff,
)


@pytest.fixture
def shop(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=10, per_shopper_limit=3)
    clerk = portal_account(app, client, bd, merchant["id"], "clerk")
    return {"bd": bd, "merchant": merchant, "deal": deal, "clerk": clerk}


def stock_left(app, deal_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Deal.stock_left).where(Deal.id == deal_id))


def test_purchase_pay_vouchers_redeem(app, client, shop):
    shopper = quick_shopper(app)
    deal = shop["deal"]

    placed = buy(client, shopper, deal["id"], 2)

    assert placed.status_code == 201, placed.get_json()
    checkout = placed.get_json()
    order = checkout["order"]
    assert (order["status"], order["quantity"], order["unit_price"], order["amount"]) == (
        "pending_payment",
        2,
        15800,
        31600,
    )
    assert checkout["payment"]["client_secret"].startswith(checkout["payment"]["payment_intent"])
    assert stock_left(app, deal["id"]) == 8

    pay(app, checkout)

    assert order_status(app, order["id"]) == "paid"
    mine = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    assert len(mine) == 2 and all(well_formed(v["code"]) for v in mine)
    assert {v["status"] for v in mine} == {"active"}
    assert mine[0]["valid_until"] == "2026-12-23"  # 30 days from the Shanghai purchase date
    page = client.get(f"/api/v1/deals/{deal['id']}").get_json()
    assert page["sold_count"] == 2 and page["stock_left"] == 8

    first = client.post(f"/api/v1/vouchers/{mine[0]['code']}/redeem", headers=shop["clerk"].headers)
    again = client.post(f"/api/v1/vouchers/{mine[0]['code']}/redeem", headers=shop["clerk"].headers)
    assert first.status_code == 200 and first.get_json()["status"] == "redeemed"
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_redeemed"
    assert order_status(app, order["id"]) == "paid"
    client.post(f"/api/v1/vouchers/{mine[1]['code']}/redeem", headers=shop["clerk"].headers)
    assert order_status(app, order["id"]) == "completed"
    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.entity_type == "order", AuditEvent.entity_id == str(order["id"]))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["order.placed", "payment.intent_created", "order.paid", "order.completed"]


def test_the_order_keeps_the_price_it_was_bought_at(app, client, shop):
    shopper = quick_shopper(app)
    deal = shop["deal"]
    placed = buy(client, shopper, deal["id"]).get_json()
    manage = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=shop["bd"].headers)

    client.patch(
        f"/api/v1/deals/{deal['id']}",
        headers=shop["bd"].headers,
        json={"version": manage.get_json()["version"], "sale_price": 16800},
    )

    with app.app_context():
        order = db.session.get(Order, placed["order"]["id"])
        assert (order.unit_price, order.amount, order.settlement_price) == (15800, 15800, 12800)


def test_the_same_idempotency_key_returns_the_first_order(app, client, shop):
    shopper = quick_shopper(app)
    deal = shop["deal"]

    first = buy(client, shopper, deal["id"], 1, key="tap-1")
    repeat = buy(client, shopper, deal["id"], 1, key="tap-1")
    different = buy(client, shopper, deal["id"], 2, key="tap-1")

    assert first.status_code == 201 and repeat.status_code == 200
    assert repeat.get_json()["order"]["id"] == first.get_json()["order"]["id"]
    assert repeat.get_json()["payment"] == first.get_json()["payment"]
    assert different.status_code == 409
    assert different.get_json()["error"]["code"] == "idempotency_key_reused"
    assert stock_left(app, deal["id"]) == 9


def test_concurrent_repeats_of_one_key_make_one_order(app, shop):
    import threading

    shopper = quick_shopper(app)
    barrier = threading.Barrier(6)
    ids: list[int] = []

    def tap() -> None:
        c = app.test_client()
        barrier.wait()
        response = buy(c, shopper, shop["deal"]["id"], 1, key="double-tap")
        ids.append(response.get_json()["order"]["id"])

    threads = [threading.Thread(target=tap) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(ids)) == 1 and len(ids) == 6
    assert stock_left(app, shop["deal"]["id"]) == 9


def test_limits_and_stock(app, client, shop, clock):
    deal = shop["deal"]
    shopper = quick_shopper(app)

    over_limit = buy(client, shopper, deal["id"], 4)
    three = buy(client, shopper, deal["id"], 3)
    one_more = buy(client, shopper, deal["id"], 1)  # pending orders count too
    others = [buy(client, quick_shopper(app), deal["id"], 3) for _ in range(3)]

    assert over_limit.status_code == 409
    assert over_limit.get_json()["error"]["code"] == "purchase_limit_reached"
    assert three.status_code == 201
    assert one_more.get_json()["error"]["code"] == "purchase_limit_reached"
    assert [o.status_code for o in others] == [201, 201, 409]
    assert others[2].get_json()["error"]["code"] == "sold_out"
    assert stock_left(app, deal["id"]) == 1
    assert client.get(f"/api/v1/deals/{deal['id']}").get_json()["stock_left"] == 1


def test_provider_down_keeps_the_order_pending_and_a_retry_works(app, client, shop):
    shopper = quick_shopper(app)
    real = app.extensions["linli.stripe"]
    app.extensions["linli.stripe"] = StripeClient("http://127.0.0.1:1", "sk_test", retries=1)
    try:
        down = buy(client, shopper, shop["deal"]["id"], 1, key="k1")
    finally:
        app.extensions["linli.stripe"] = real

    assert down.status_code == 503
    assert down.get_json()["error"]["code"] == "payment_provider_unavailable"
    with app.app_context():
        order = db.session.scalars(sa.select(Order)).one()
        assert (order.status, order.payment_intent_id) == ("pending_payment", None)
    assert stock_left(app, shop["deal"]["id"]) == 9

    retried = buy(client, shopper, shop["deal"]["id"], 1, key="k1")

    assert retried.status_code == 200
    assert retried.get_json()["order"]["id"] == order.id
    pay(app, retried.get_json())
    assert order_status(app, order.id) == "paid"


def test_an_unpaid_order_expires_and_gives_its_stock_back(app, client, shop, clock):
    shopper = quick_shopper(app)
    placed = buy(client, shopper, shop["deal"]["id"], 2).get_json()
    assert stock_left(app, shop["deal"]["id"]) == 8

    clock.advance(minutes=14, seconds=59)
    with app.app_context():
        early = sync.expire_unpaid()
    clock.advance(seconds=1)
    with app.app_context():
        late = sync.expire_unpaid()
        intent = app.extensions["linli.stripe"].retrieve_payment_intent(
            placed["payment"]["payment_intent"]
        )

    assert early == {} and late == {"expired": 1}
    assert order_status(app, placed["order"]["id"]) == "expired"
    assert stock_left(app, shop["deal"]["id"]) == 10
    assert intent["status"] == "canceled"  # it can no longer be paid


def test_a_missed_webhook_is_caught_by_reconciliation(app, client, shop):
    shopper = quick_shopper(app)
    placed = buy(client, shopper, shop["deal"]["id"], 1).get_json()
    pay(app, placed, wait=False)  # the webhook takes a second to arrive

    with app.app_context():
        outcome = sync.reconcile_pending(older_than=timedelta(0))

    assert outcome == {"paid": 1}
    assert order_status(app, placed["order"]["id"]) == "paid"
    import time

    time.sleep(1.5)  # the webhook arrives late and changes nothing
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Voucher)) == 1


def test_orders_are_private_to_their_shopper(app, client, shop):
    alice, bob = quick_shopper(app), quick_shopper(app)
    placed = buy(client, alice, shop["deal"]["id"]).get_json()

    assert (
        client.get(f"/api/v1/orders/{placed['order']['id']}", headers=bob.headers).status_code
        == 404
    )
    assert client.get("/api/v1/orders", headers=bob.headers).get_json()["total"] == 0
    assert client.get("/api/v1/orders", headers=alice.headers).get_json()["total"] == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"deal_id": 999999}, 422, "deal_not_found"),
        ({"deal_id": 1, "quantity": 0}, 422, "validation_error"),
        ({"deal_id": 1, "quantity": 21}, 422, "validation_error"),
        ({"deal_id": "1"}, 422, "validation_error"),
    ],
)
def test_bad_orders_write_nothing(app, client, shop, body, status, code):
    shopper = quick_shopper(app)

    response = client.post("/api/v1/orders", json=body, headers=shopper.headers)

    assert response.status_code == status and response.get_json()["error"]["code"] == code
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0


def test_a_draft_or_paused_deal_cannot_be_bought(app, client, shop):
    from tests.factories import make_deal

    shopper = quick_shopper(app)
    draft = make_deal(client, shop["bd"], shop["merchant"]["id"])
    client.post(f"/api/v1/deals/{shop['deal']['id']}/pause", headers=shop["bd"].headers, json={})

    assert buy(client, shopper, draft["id"]).get_json()["error"]["code"] == "deal_not_on_sale"
    assert buy(client, shopper, shop["deal"]["id"]).get_json()["error"]["code"] == (
        "deal_not_on_sale"
    )


def test_a_declined_card_leaves_the_order_payable_until_its_deadline(app, client, shop, clock):
    """A declined card (localstripe's 4000000000000341) must not kill the order: the
    intent goes back to requires_payment_method and the shopper may try another card.
    After the deadline the order expires and its dead intent's secret is not handed out."""
    from marketplace.payments.models import PaymentEvent
    from marketplace.providers.stripe import CardDeclined, stripe

    shopper = quick_shopper(app)
    placed = buy(client, shopper, shop["deal"]["id"], 2).get_json()
    intent_id = placed["payment"]["payment_intent"]

    with app.app_context(), pytest.raises(CardDeclined):
        stripe().pay_with_test_card(intent_id, card="4000000000000341")
    for _ in range(100):  # the provider's payment_failed webhook
        with app.app_context():
            outcome = db.session.scalar(
                sa.select(PaymentEvent.outcome).where(PaymentEvent.payment_intent_id == intent_id)
            )
        if outcome:
            break
        import time

        time.sleep(0.05)
    with app.app_context():
        intent = stripe().retrieve_payment_intent(intent_id)
    again = client.post(f"/api/v1/orders/{placed['order']['id']}/payment", headers=shopper.headers)

    assert outcome == "payment_failed"
    assert intent["status"] == "requires_payment_method"  # not cancelled: another card may pay
    assert order_status(app, placed["order"]["id"]) == "pending_payment"
    assert stock_left(app, shop["deal"]["id"]) == 8
    assert again.status_code == 200
    assert again.get_json()["payment"]["client_secret"] == placed["payment"]["client_secret"]

    clock.advance(minutes=15)
    with app.app_context():
        assert sync.expire_unpaid() == {"expired": 1}
    dead = client.post(f"/api/v1/orders/{placed['order']['id']}/payment", headers=shopper.headers)
    shown = client.get(f"/api/v1/orders/{placed['order']['id']}", headers=shopper.headers)

    assert dead.status_code == 409 and dead.get_json()["error"]["code"] == "order_expired"
    assert "client_secret" not in dead.get_data(as_text=True)
    assert shown.get_json()["status"] == "expired"
    assert stock_left(app, shop["deal"]["id"]) == 10


def test_repeating_the_key_of_an_expired_order_hands_out_no_client_secret(app, client, shop, clock):
    shopper = quick_shopper(app)
    first = buy(client, shopper, shop["deal"]["id"], 1, key="tap").get_json()
    clock.advance(minutes=15)
    with app.app_context():
        sync.expire_unpaid()

    repeat = buy(client, shopper, shop["deal"]["id"], 1, key="tap")

    assert first["payment"]["client_secret"]
    assert repeat.status_code == 200 and repeat.get_json()["order"]["status"] == "expired"
    assert repeat.get_json()["payment"]["client_secret"] is None


class _Meanwhile:
    """The payment provider, with something happening elsewhere while it is asked for an
    intent (another process's transaction, committed before the intent comes back)."""

    def __init__(self, app, real: StripeClient, meanwhile) -> None:
        self.app, self.real, self.meanwhile = app, real, meanwhile
        self.made: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def create_payment_intent(self, **kwargs):
        intent = self.real.create_payment_intent(**kwargs)
        self.made.append(intent["id"])
        with self.app.app_context():  # another session: another request, a job
            self.meanwhile()
            db.session.commit()
        return intent


def _pending_without_intent(app, client, shop, shopper) -> int:
    real = app.extensions["linli.stripe"]
    app.extensions["linli.stripe"] = StripeClient("http://127.0.0.1:1", "sk_test", retries=1)
    try:
        assert buy(client, shopper, shop["deal"]["id"], 1, key="k1").status_code == 503
    finally:
        app.extensions["linli.stripe"] = real
    with app.app_context():
        return db.session.scalars(sa.select(Order.id)).one()


@pytest.mark.parametrize("meanwhile", ["expired", "another_intent"])
def test_a_payment_started_while_the_order_changed_is_never_recorded(app, client, shop, meanwhile):
    """``attach_payment`` records its intent only on a pending order without one: an order
    that expired while the provider was asked, or that a concurrent retry gave another
    intent, keeps its state, and the surplus intent is cancelled (it must never be paid)."""
    from marketplace.orders import actions

    shopper = quick_shopper(app)
    order_id = _pending_without_intent(app, client, shop, shopper)
    real = app.extensions["linli.stripe"]
    other: list[str] = []

    def change() -> None:
        order = db.session.get(Order, order_id)
        if meanwhile == "expired":
            assert actions.close_unpaid(order, "expired_unpaid")
        else:
            intent = real.create_payment_intent(
                amount=order.amount, currency=order.currency, metadata={}, idempotency_key="x"
            )
            other.append(intent["id"])
            order.payment_intent_id = intent["id"]
            order.client_secret = intent["client_secret"]

    app.extensions["linli.stripe"] = provider = _Meanwhile(app, real, change)
    try:
        retried = buy(client, shopper, shop["deal"]["id"], 1, key="k1")
    finally:
        app.extensions["linli.stripe"] = real

    assert retried.status_code == 200, retried.get_json()
    (ours,) = provider.made
    with app.app_context():
        order = db.session.get(Order, order_id)
        surplus = real.retrieve_payment_intent(ours)
    assert surplus["status"] == "canceled"
    if meanwhile == "expired":
        assert (order.status, order.payment_intent_id) == ("expired", None)
        assert retried.get_json()["order"]["status"] == "expired"
    else:
        assert (order.status, order.payment_intent_id) == ("pending_payment", other[0])
        assert retried.get_json()["payment"]["payment_intent"] == other[0]
