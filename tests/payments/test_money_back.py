"""Money that goes back to the shopper: refunds made outside Linli (the provider's dashboard),
disputes, refunds that are pending or fail at the provider, and the refunds Linli makes by
itself (a late payment with the units gone, a wrong amount) — outside the order's lock."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.ledger import service as ledger
from marketplace.orders import actions
from marketplace.orders.models import Order
from marketplace.payments import sync
from marketplace.providers.stripe import sign, stripe
from marketplace.refunds import service as refunds
from marketplace.refunds.models import RefundRequest
from marketplace.vouchers.models import Voucher
from tests.conftest import WEBHOOK_SECRET
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
from tests.stripe_proxy import order_row_locked, provider_through

URL = "/api/v1/payments/stripe/webhook"
UNIT = 15800  # the small_set factory deal's price


@pytest.fixture
def shop(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=10)
    return {"bd": bd, "merchant": merchant, "deal": deal}


@pytest.fixture
def paid(app, client, shop):
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, shop["deal"]["id"], 2).get_json()
    pay(app, checkout, via="reconcile")
    return {
        **shop,
        "shopper": shopper,
        "order_id": checkout["order"]["id"],
        "intent": checkout["payment"]["payment_intent"],
    }


def deliver(client, kind: str, obj: dict, event_id: str):
    payload = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    header = sign(payload, WEBHOOK_SECRET, int(time.time()))
    return client.post(
        URL, data=payload, headers={"Stripe-Signature": header}, content_type="application/json"
    )


def voucher_states(app, order_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(Voucher.status).where(Voucher.order_id == order_id).order_by(Voucher.id)
            )
        )


def cs_messages(app) -> list[str]:
    return [text for channel, text in app.extensions["linli.notifier"].sent if channel == "cs"]


def provider_balance(app) -> int:
    with app.app_context():
        return ledger.balance(ledger.PROVIDER)


def wait_for(app, order_id: int, status: str) -> None:
    for _ in range(100):
        if order_status(app, order_id) == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"order {order_id} is {order_status(app, order_id)}, not {status}")


# -- outside Linli -------------------------------------------------------------------------


def test_a_refund_made_in_the_providers_dashboard_voids_the_vouchers(app, client, paid):
    with app.app_context():  # what someone does in Stripe's dashboard: no Linli metadata
        outside = stripe().create_refund(
            payment_intent=paid["intent"], amount=UNIT, metadata={}, idempotency_key="dash-1"
        )
    charge = {"id": "ch_1", "object": "charge", "payment_intent": paid["intent"]}

    first = deliver(client, "charge.refunded", charge, "evt_r1")
    again = deliver(client, "charge.refunded", charge, "evt_r1_again")

    assert first.get_json() == {"outcome": "recorded_outside_refund"}
    assert again.get_json() == {"outcome": "already_recorded"}
    assert sorted(voucher_states(app, paid["order_id"])) == ["active", "refunded"]
    assert order_status(app, paid["order_id"]) == "partially_refunded"
    assert provider_balance(app) == 2 * UNIT - UNIT  # the ledger follows the money
    with app.app_context():
        record = db.session.scalars(sa.select(RefundRequest)).one()
        assert (record.status, record.provider_refund_id) == ("refunded", outside["id"])
        refunded = db.session.scalars(
            sa.select(Voucher.code).where(Voucher.status == "refunded")
        ).one()
    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    redeem = client.post(f"/api/v1/vouchers/{refunded}/redeem", headers=clerk.headers)
    assert redeem.status_code == 409 and redeem.get_json()["error"]["code"] == "voucher_refunded"
    assert any("outside Linli" in m and outside["id"] in m for m in cs_messages(app))


def test_a_goodwill_refund_short_of_a_unit_voids_nothing_and_is_booked(app, client, paid):
    with app.app_context():
        stripe().create_refund(
            payment_intent=paid["intent"], amount=500, metadata={}, idempotency_key="dash-2"
        )

    response = deliver(
        client,
        "charge.refunded",
        {"id": "ch_1", "object": "charge", "payment_intent": paid["intent"]},
        "evt_r2",
    )

    assert response.get_json() == {"outcome": "recorded_outside_refund"}
    assert voucher_states(app, paid["order_id"]) == ["active", "active"]
    assert provider_balance(app) == 2 * UNIT - 500


def test_a_dispute_takes_the_vouchers_out_of_use(app, client, paid):
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": paid["intent"],
        "amount": 2 * UNIT,
        "reason": "fraudulent",
    }

    first = deliver(client, "charge.dispute.created", dispute, "evt_d1")
    again = deliver(client, "charge.dispute.created", dispute, "evt_d1_again")

    assert first.get_json() == {"outcome": "recorded_outside_refund"}
    assert again.get_json() == {"outcome": "already_recorded"}
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    assert provider_balance(app) == 0
    assert any("dispute dp_1" in m for m in cs_messages(app))


# -- refunds the provider has not paid (yet) -------------------------------------------------


def _ask_and_approve(app, client, paid) -> int:
    asked = client.post(
        f"/api/v1/orders/{paid['order_id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=paid["shopper"].headers,
    ).get_json()
    cs = staff(app, client, Role.CS)
    client.post(f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers)
    return asked["id"]


def _pending_refund(paid, request_id: int, status: str = "pending") -> dict:
    return {
        "id": "re_pending_1",
        "object": "refund",
        "status": status,
        "amount": 2 * UNIT,
        "payment_intent": paid["intent"],
        "metadata": {"refund_request_id": str(request_id), "order_id": str(paid["order_id"])},
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
    }


def test_a_pending_refund_is_not_recorded_as_paid(app, client, paid, stripe_proxy):
    # The provider's answer: found by the refund's id (ours carries the request id too).
    stripe_proxy.answer("POST", "/v1/refunds", 200, _pending_refund(paid, 0))
    stripe_proxy.answer("GET", "/v1/refunds/re_pending_1", 200, _pending_refund(paid, 0))

    with provider_through(app, stripe_proxy):
        request_id = _ask_and_approve(app, client, paid)
        with app.app_context():
            retried = refunds.retry_approved()

    assert retried == {"approved_pending_refund": 1}
    assert voucher_states(app, paid["order_id"]) == ["refunding", "refunding"]  # not usable
    assert order_status(app, paid["order_id"]) == "paid"
    assert provider_balance(app) == 2 * UNIT  # nothing booked as paid back

    done = deliver(client, "refund.updated", _pending_refund(paid, request_id, "succeeded"), "e1")

    assert done.get_json() == {"outcome": "refunded"}
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    assert provider_balance(app) == 0


def test_a_refund_the_provider_fails_gives_the_vouchers_back_and_tells_cs(
    app, client, paid, stripe_proxy
):
    stripe_proxy.answer("POST", "/v1/refunds", 200, _pending_refund(paid, 0))
    with provider_through(app, stripe_proxy):
        request_id = _ask_and_approve(app, client, paid)

    failed = deliver(client, "refund.failed", _pending_refund(paid, request_id, "failed"), "e1")

    assert failed.get_json() == {"outcome": "refund_failed"}
    assert voucher_states(app, paid["order_id"]) == ["active", "active"]
    assert order_status(app, paid["order_id"]) == "paid"
    assert provider_balance(app) == 2 * UNIT
    with app.app_context():
        request = db.session.get(RefundRequest, request_id)
        assert (request.status, request.failure_code) == ("failed", "provider_refund_failed")
    assert any(f"#{request_id}" in m and "Nothing was paid back" in m for m in cs_messages(app))


def test_a_paid_refund_that_fails_later_tells_cs(app, client, paid):
    request_id = _ask_and_approve(app, client, paid)
    with app.app_context():
        refund_id = db.session.get(RefundRequest, request_id).provider_refund_id
    late = {**_pending_refund(paid, request_id, "failed"), "id": refund_id}

    response = deliver(client, "refund.failed", late, "e1")

    assert response.get_json() == {"outcome": "refund_failed_after_paid"}
    with app.app_context():
        assert db.session.get(RefundRequest, request_id).failure_code == "provider_refund_failed"
    assert any("has not got the money" in m for m in cs_messages(app))


# -- refunds Linli makes by itself, never under the order's lock --------------------------


def _watch_the_lock(app, proxy, order_id: int) -> list[bool]:
    seen: list[bool] = []
    proxy.before("POST", "/v1/refunds", lambda: seen.append(order_row_locked(app, order_id)))
    return seen


def test_a_late_payment_with_the_units_gone_is_refunded_outside_the_lock(
    app, client, shop, stripe_proxy
):
    late_shopper = quick_shopper(app)
    placed = buy(client, late_shopper, shop["deal"]["id"], 2).get_json()
    order_id = placed["order"]["id"]
    with app.app_context():
        assert actions.close_unpaid(db.session.get(Order, order_id), "expired_unpaid")
        db.session.commit()
    for _ in range(5):  # the ten units sell out meanwhile
        assert buy(client, quick_shopper(app), shop["deal"]["id"], 2).status_code == 201
    seen = _watch_the_lock(app, stripe_proxy, order_id)

    with provider_through(app, stripe_proxy):
        with app.app_context():
            stripe().pay_with_test_card(placed["payment"]["payment_intent"])
        wait_for(app, order_id, "refunded")

    assert seen == [False]  # the provider was asked with no lock held
    with app.app_context():
        refunded = stripe().list_refunds(placed["payment"]["payment_intent"])
        assert db.session.get(Order, order_id).closed_reason == "paid_after_expiry_refunded"
        assert db.session.get(Deal, shop["deal"]["id"]).stock_left == 0
    assert [r["amount"] for r in refunded] == [2 * UNIT]
    assert any(f"Order {order_id}" in m for m in cs_messages(app))


def test_a_wrong_amount_is_refunded_outside_the_lock(app, client, shop, stripe_proxy):
    shopper = quick_shopper(app)
    placed = buy(client, shopper, shop["deal"]["id"], 1).get_json()
    order_id, intent = placed["order"]["id"], placed["payment"]["payment_intent"]
    seen = _watch_the_lock(app, stripe_proxy, order_id)

    with provider_through(app, stripe_proxy):
        with app.app_context():  # someone changed the intent's amount outside Linli
            stripe()._call("POST", f"/v1/payment_intents/{intent}", {"amount": 100})
            stripe().pay_with_test_card(intent)
        wait_for(app, order_id, "refunded")

    assert seen == [False]
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert (order.closed_reason, order.paid_at) == ("amount_mismatch", None)
        assert [r["amount"] for r in stripe().list_refunds(intent)] == [100]
        assert db.session.get(Deal, shop["deal"]["id"]).stock_left == 10
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Voucher)) == 0


def test_expiry_and_reconciliation_ask_the_provider_with_no_lock_held(
    app, client, shop, stripe_proxy, clock
):
    placed = buy(client, quick_shopper(app), shop["deal"]["id"], 1).get_json()
    order_id = placed["order"]["id"]
    seen: list[bool] = []
    for method in ("GET", "POST"):
        stripe_proxy.before(
            method, "/v1/payment_intents", lambda: seen.append(order_row_locked(app, order_id))
        )

    clock.advance(minutes=15)
    with provider_through(app, stripe_proxy), app.app_context():
        outcome = sync.expire_unpaid()

    assert outcome == {"expired": 1}
    assert [r.method for r in stripe_proxy.requests] == ["GET", "POST"]  # retrieve, cancel
    assert seen == [False, False]
    assert order_status(app, order_id) == "expired"


def test_the_same_dispute_told_twice_at_once_is_recorded_once(app, paid):
    import threading

    dispute = {"id": "dp_2", "object": "dispute", "payment_intent": paid["intent"], "amount": UNIT}
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def send(n: int) -> None:
        c = app.test_client()
        barrier.wait()
        outcomes.append(
            deliver(c, "charge.dispute.created", dispute, f"evt_dp_{n}").get_json()["outcome"]
        )

    threads = [threading.Thread(target=send, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["already_recorded"] * 2 + ["recorded_outside_refund"]
    assert sorted(voucher_states(app, paid["order_id"])) == ["active", "refunded"]


# -- money back outside Linli while the shopper's own request is open ------------------------


def _dashboard_refund(paid, status: str, amount: int = 2 * UNIT, rid: str = "re_dash_1") -> dict:
    """A refund someone made in the provider's dashboard: no Linli metadata."""
    return {
        "id": rid,
        "object": "refund",
        "status": status,
        "amount": amount,
        "payment_intent": paid["intent"],
        "metadata": {},
    }


def stock_left(app, deal_id: int) -> int:
    with app.app_context():
        return db.session.get(Deal, deal_id).stock_left


def linli_refunds(app, paid) -> list[int]:
    with app.app_context():
        return [r["amount"] for r in stripe().list_refunds(paid["intent"])]


def test_a_dashboard_refund_then_cs_approving_pays_once(app, client, paid):
    asked = client.post(
        f"/api/v1/orders/{paid['order_id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=paid["shopper"].headers,
    ).get_json()
    assert stock_left(app, paid["deal"]["id"]) == 8

    news = deliver(client, "refund.updated", _dashboard_refund(paid, "pending"), "e1")
    assert news.get_json() == {"outcome": "recorded_outside_refund"}
    assert voucher_states(app, paid["order_id"]) == ["refunding", "refunding"]

    cs = staff(app, client, Role.CS)
    approved = client.post(
        f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers
    )

    assert approved.status_code == 200
    assert approved.get_json()["status"] == "failed"  # refused clearly: nothing left to pay
    assert linli_refunds(app, paid) == []  # Linli paid nothing: the dashboard refund did
    with app.app_context():
        assert db.session.get(RefundRequest, asked["id"]).failure_code == "refunded_outside"
    assert any(f"#{asked['id']}" in m and "outside Linli" in m for m in cs_messages(app))

    done = deliver(client, "refund.updated", _dashboard_refund(paid, "succeeded"), "e2")

    assert done.status_code == 200 and done.get_json() == {"outcome": "refunded"}
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    assert stock_left(app, paid["deal"]["id"]) == 10  # released once
    assert provider_balance(app) == 0
    with app.app_context():
        assert ledger.balance(ledger.UNEARNED) == 0 and ledger.total() == 0


def test_cs_approving_then_a_dashboard_refund_pays_once_and_books_the_rest(
    app, client, paid, stripe_proxy
):
    stripe_proxy.answer("POST", "/v1/refunds", 200, _pending_refund(paid, 0))
    with provider_through(app, stripe_proxy):
        request_id = _ask_and_approve(app, client, paid)
    assert voucher_states(app, paid["order_id"]) == ["refunding", "refunding"]  # held by ours

    news = deliver(client, "refund.updated", _dashboard_refund(paid, "pending"), "e1")
    assert news.get_json() == {"outcome": "recorded_outside_refund"}
    assert any("re_dash_1" in m and "¥316.00 covers no" in m for m in cs_messages(app))

    ours = deliver(client, "refund.updated", _pending_refund(paid, request_id, "succeeded"), "e2")
    theirs = deliver(client, "refund.updated", _dashboard_refund(paid, "succeeded"), "e3")

    assert ours.get_json() == {"outcome": "refunded"}
    assert theirs.status_code == 200 and theirs.get_json() == {"outcome": "refunded"}
    assert len(stripe_proxy.sent("POST", "/v1/refunds")) == 1  # Linli paid once
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    assert stock_left(app, paid["deal"]["id"]) == 10
    # The dashboard's second 31600 went out too: the platform's cost, not a voucher's.
    assert provider_balance(app) == -2 * UNIT
    with app.app_context():
        assert ledger.balance(ledger.UNEARNED) == 0
        assert ledger.balance(ledger.PLATFORM) == 2 * UNIT
        assert ledger.total() == 0


def test_a_partial_dashboard_refund_pending_first_books_its_remainder_once(app, client, paid):
    amount = UNIT + 500  # one unit and a goodwill 5 yuan

    first = deliver(client, "refund.updated", _dashboard_refund(paid, "pending", amount), "e1")
    assert first.get_json() == {"outcome": "recorded_outside_refund"}
    assert provider_balance(app) == 2 * UNIT  # pending is not money back

    done = deliver(client, "refund.updated", _dashboard_refund(paid, "succeeded", amount), "e2")
    again = deliver(client, "refund.updated", _dashboard_refund(paid, "succeeded", amount), "e3")

    assert done.get_json() == {"outcome": "refunded"}
    assert again.status_code == 200
    assert sorted(voucher_states(app, paid["order_id"])) == ["active", "refunded"]
    assert provider_balance(app) == 2 * UNIT - amount  # 15300 left: the 500 is booked too
    with app.app_context():
        assert ledger.balance(ledger.PLATFORM) == 500
        assert ledger.balance(ledger.UNEARNED) == -UNIT
        assert ledger.total() == 0


def test_a_dispute_on_a_refunded_order_tells_cs_and_is_booked_once(app, client, paid):
    _ask_and_approve(app, client, paid)  # paid back through Linli already
    assert order_status(app, paid["order_id"]) == "refunded"
    assert provider_balance(app) == 0
    dispute = {
        "id": "dp_late",
        "object": "dispute",
        "payment_intent": paid["intent"],
        "amount": 2 * UNIT,
        "reason": "fraudulent",
    }

    first = deliver(client, "charge.dispute.created", dispute, "evt_d1")
    again = deliver(client, "charge.dispute.created", dispute, "evt_d1_again")

    assert first.get_json() == {"outcome": "recorded_outside_refund"}
    assert again.get_json() == {"outcome": "already_recorded"}
    assert order_status(app, paid["order_id"]) == "refunded"
    assert provider_balance(app) == -2 * UNIT  # the money left twice: the platform's cost
    with app.app_context():
        assert ledger.balance(ledger.PLATFORM) == 2 * UNIT and ledger.total() == 0
    told = [m for m in cs_messages(app) if "dp_late" in m]
    assert len(told) == 1 and "already refunded" in told[0]


def test_a_dashboard_refund_on_an_expired_order_tells_cs(app, client, shop):
    placed = buy(client, quick_shopper(app), shop["deal"]["id"], 1).get_json()
    order_id, intent = placed["order"]["id"], placed["payment"]["payment_intent"]
    with app.app_context():
        assert actions.close_unpaid(db.session.get(Order, order_id), "expired_unpaid")
        db.session.commit()
    refund = {
        "id": "re_dash_exp",
        "object": "refund",
        "status": "succeeded",
        "amount": 100,
        "payment_intent": intent,
        "metadata": {},
    }

    response = deliver(client, "refund.updated", refund, "e1")

    assert response.get_json() == {"outcome": "recorded_outside_refund"}
    assert order_status(app, order_id) == "expired"
    assert provider_balance(app) == -100
    assert any("re_dash_exp" in m and "already expired" in m for m in cs_messages(app))


def test_a_dispute_won_gives_the_money_back_to_the_ledger_once_and_tells_cs(app, client, paid):
    dispute = {
        "id": "dp_won",
        "object": "dispute",
        "payment_intent": paid["intent"],
        "amount": 2 * UNIT,
        "reason": "fraudulent",
    }
    deliver(client, "charge.dispute.created", {**dispute, "status": "needs_response"}, "e1")
    assert provider_balance(app) == 0

    won = deliver(client, "charge.dispute.closed", {**dispute, "status": "won"}, "e2")
    again = deliver(client, "charge.dispute.closed", {**dispute, "status": "won"}, "e3")

    assert won.get_json() == {"outcome": "dispute_won"}
    assert again.get_json() == {"outcome": "already_recorded"}
    assert provider_balance(app) == 2 * UNIT  # the money is back
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]  # still void
    with app.app_context():
        assert ledger.balance(ledger.PLATFORM) == -2 * UNIT and ledger.total() == 0
    told = [m for m in cs_messages(app) if "dispute dp_won was won" in m]
    assert len(told) == 1 and "¥316.00" in told[0]


def test_a_dispute_lost_changes_nothing_more(app, client, paid):
    dispute = {"id": "dp_lost", "object": "dispute", "payment_intent": paid["intent"]}
    deliver(client, "charge.dispute.created", {**dispute, "amount": UNIT}, "e1")

    lost = deliver(
        client, "charge.dispute.closed", {**dispute, "amount": UNIT, "status": "lost"}, "e2"
    )

    assert lost.status_code == 200
    assert provider_balance(app) == UNIT


def test_a_shoppers_request_refunds_only_what_a_dashboard_refund_left(app, client, paid):
    asked = client.post(
        f"/api/v1/orders/{paid['order_id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=paid["shopper"].headers,
    ).get_json()
    deliver(client, "refund.updated", _dashboard_refund(paid, "pending", UNIT), "e1")
    assert sorted(voucher_states(app, paid["order_id"])) == ["active", "refunding"]

    cs = staff(app, client, Role.CS)
    approved = client.post(
        f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers
    ).get_json()
    deliver(client, "refund.updated", _dashboard_refund(paid, "succeeded", UNIT), "e2")

    assert (approved["status"], approved["amount"]) == ("refunded", UNIT)
    assert linli_refunds(app, paid) == [UNIT]  # the other unit went back at the dashboard
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    assert stock_left(app, paid["deal"]["id"]) == 10
    assert provider_balance(app) == 0
    assert any(f"#{asked['id']}" in m and "only ¥158.00" in m for m in cs_messages(app))


# -- one lock order: a refund being finished and provider news about the same order ----------


def test_a_refund_finishing_while_the_provider_reports_refunds_does_not_deadlock(
    app, client, paid, stripe_proxy, backend
):
    """CS's refund is being finished (the provider paid it) while a ``charge.refunded``
    event lists a dashboard refund and ours. Both take the order's lock before the request's,
    so one waits for the other. The test holds each at its first row lock until the other has
    taken one too (or 1.5 s passed): with the locks taken in opposite orders PostgreSQL would
    find a deadlock here and abort one of them."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time and no row locks: no deadlock to find")
    import threading

    asked = client.post(
        f"/api/v1/orders/{paid['order_id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=paid["shopper"].headers,
    ).get_json()
    cs = staff(app, client, Role.CS)
    dashboard = _dashboard_refund(paid, "succeeded", amount=100, rid="re_dash_dl")
    paying, cs_locked, news_locked = threading.Event(), threading.Event(), threading.Event()
    stripe_proxy.before("POST", "/v1/refunds", paying.set)
    results: dict[str, object] = {}

    def approve() -> None:
        response = app.test_client().post(
            f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers
        )
        results["approve"] = (response.status_code, response.get_json())

    def news() -> None:
        with app.app_context():
            ours = [r for r in stripe().list_refunds(paid["intent"]) if r["metadata"]]
        stripe_proxy.answer("GET", "/v1/refunds", 200, {"data": [dashboard, *ours]})
        charge = {"id": "ch_dl", "object": "charge", "payment_intent": paid["intent"]}
        response = deliver(app.test_client(), "charge.refunded", charge, "evt_dl")
        results["news"] = (response.status_code, response.get_json())

    finishing = threading.Thread(target=approve)
    reporting = threading.Thread(target=news)

    def hold_first_lock(conn, cursor, statement, *args) -> None:
        if "FOR UPDATE" not in statement:
            return
        me = threading.current_thread()
        if me is finishing and paying.is_set() and not cs_locked.is_set():
            cs_locked.set()  # the refund is paid; finishing it took its first lock
            news_locked.wait(1.5)
        elif me is reporting and not news_locked.is_set():
            news_locked.set()

    with provider_through(app, stripe_proxy), app.app_context():
        engine = db.engine
        sa.event.listen(engine, "after_cursor_execute", hold_first_lock)
        try:
            finishing.start()
            assert cs_locked.wait(10), "the refund was never finished"
            reporting.start()
            finishing.join(30)
            reporting.join(30)
        finally:
            sa.event.remove(engine, "after_cursor_execute", hold_first_lock)

    assert results["approve"][0] == 200 and results["approve"][1]["status"] == "refunded"
    assert results["news"] == (200, {"outcome": "recorded_outside_refund"})
    assert voucher_states(app, paid["order_id"]) == ["refunded", "refunded"]
    assert order_status(app, paid["order_id"]) == "refunded"
    with app.app_context():
        assert ledger.balance(ledger.PLATFORM) == 100  # the dashboard's 1 yuan, booked once
        assert ledger.total() == 0
