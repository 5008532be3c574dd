"""Manual refunds against the real local payment server."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.distribution.models import CommissionEntry
from marketplace.providers.stripe import StripeClient
from marketplace.refunds import service as refunds
from marketplace.refunds.models import RefundRequest
from marketplace.vouchers.models import Voucher
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
def paid(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=10)
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, deal["id"], 2).get_json()
    pay(app, checkout, via="reconcile")
    codes = [
        v["code"]
        for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    ]
    return {
        "bd": bd,
        "merchant": merchant,
        "deal": deal,
        "shopper": shopper,
        "order": checkout["order"],
        "intent": checkout["payment"]["payment_intent"],
        "codes": sorted(codes),
        "cs": staff(app, client, Role.CS),
    }


def ask(client, paid, codes=None, reason="changed_mind"):
    body = {"reason": reason, **({"voucher_codes": codes} if codes else {})}
    return client.post(
        f"/api/v1/orders/{paid['order']['id']}/refund-requests",
        json=body,
        headers=paid["shopper"].headers,
    )


def approve(client, paid, request_id, key=None):
    headers = dict(paid["cs"].headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/refund-requests/{request_id}/approve", json={}, headers=headers)


def provider_refunds(app, paid) -> list[int]:
    with app.app_context():
        return [r["amount"] for r in app.extensions["linli.stripe"].list_refunds(paid["intent"])]


def voucher_states(app, paid) -> list[str]:
    with app.app_context():
        return [
            v.status
            for v in db.session.scalars(
                sa.select(Voucher).where(Voucher.code.in_(paid["codes"])).order_by(Voucher.code)
            )
        ]


def stock_left(app, paid) -> int:
    with app.app_context():
        return db.session.get(Deal, paid["deal"]["id"]).stock_left


def test_partial_then_full_refund(app, client, paid):
    first = ask(client, paid, [paid["codes"][0]])
    assert first.status_code == 201 and first.get_json()["amount"] == 15800

    done = approve(client, paid, first.get_json()["id"])

    assert done.get_json()["status"] == "refunded"
    assert provider_refunds(app, paid) == [15800]
    assert voucher_states(app, paid) == ["refunded", "active"]
    assert order_status(app, paid["order"]["id"]) == "partially_refunded"
    assert stock_left(app, paid) == 9  # one unit back on sale

    second = ask(client, paid)  # every unused voucher left
    approve(client, paid, second.get_json()["id"])

    assert sorted(provider_refunds(app, paid)) == [15800, 15800]
    assert order_status(app, paid["order"]["id"]) == "refunded"
    mine = client.get(
        f"/api/v1/orders/{paid['order']['id']}/refund-requests", headers=paid["shopper"].headers
    ).get_json()
    assert [r["status"] for r in mine] == ["refunded", "refunded"]


def test_double_approval_pays_once(app, client, paid):
    request_id = ask(client, paid).get_json()["id"]

    first = approve(client, paid, request_id, key="k")
    again = approve(client, paid, request_id, key="k")

    assert first.get_json()["status"] == again.get_json()["status"] == "refunded"
    assert provider_refunds(app, paid) == [31600]


def test_concurrent_approvals_pay_once(app, paid):
    request_id = ask(app.test_client(), paid).get_json()["id"]
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def click() -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(approve(c, paid, request_id).status_code)

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        refunds.retry_approved()

    assert statuses == [200] * 4
    assert provider_refunds(app, paid) == [31600]
    assert voucher_states(app, paid) == ["refunded", "refunded"]


def test_provider_down_then_recovery(app, client, paid):
    request_id = ask(client, paid).get_json()["id"]
    real = app.extensions["linli.stripe"]
    app.extensions["linli.stripe"] = StripeClient("http://127.0.0.1:1", "sk_test", retries=0)
    try:
        pending = approve(client, paid, request_id)
    finally:
        app.extensions["linli.stripe"] = real

    assert pending.status_code == 200
    assert pending.get_json()["status"] == "approved_pending_refund"
    assert voucher_states(app, paid) == ["refunding", "refunding"]
    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    blocked = client.post(f"/api/v1/vouchers/{paid['codes'][0]}/redeem", headers=clerk.headers)
    assert blocked.get_json()["error"]["code"] == "voucher_refund_pending"

    with app.app_context():
        outcome = refunds.retry_approved()

    assert outcome == {"refunded": 1}
    assert provider_refunds(app, paid) == [31600]
    assert order_status(app, paid["order"]["id"]) == "refunded"


def test_a_crash_after_the_provider_paid_recovers_without_paying_twice(
    app, client, paid, clock, monkeypatch
):
    request_id = ask(client, paid).get_json()["id"]
    with app.app_context():
        refunds.approve(
            request_id,
            db.session.get(User, paid["cs"].id),
        )
        db.session.commit()
        provider = app.extensions["linli.stripe"]
        create_refund = provider.create_refund

        def refund_then_crash(**kwargs):
            create_refund(**kwargs)
            raise RuntimeError("the process died after the provider refunded")

        with monkeypatch.context() as patched, pytest.raises(RuntimeError):
            patched.setattr(provider, "create_refund", refund_then_crash)
            refunds.execute(request_id)
        db.session.rollback()

    assert provider_refunds(app, paid) == [31600]  # the money went back...
    assert voucher_states(app, paid) == ["refunding", "refunding"]  # ...the voids did not
    with app.app_context():
        assert refunds.retry_approved() == {"approved_pending_refund": 1}  # lease still held
    clock.advance(seconds=61)
    with app.app_context():
        assert refunds.retry_approved() == {"refunded": 1}

    assert provider_refunds(app, paid) == [31600]  # found, not paid again
    assert voucher_states(app, paid) == ["refunded", "refunded"]
    assert order_status(app, paid["order"]["id"]) == "refunded"


def test_a_voucher_redeemed_before_approval_fails_the_refund_cleanly(app, client, paid):
    request_id = ask(client, paid).get_json()["id"]
    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    client.post(f"/api/v1/vouchers/{paid['codes'][0]}/redeem", headers=clerk.headers)

    result = approve(client, paid, request_id)

    assert result.get_json()["status"] == "failed"
    assert result.get_json()["failure_code"] == "voucher_redeemed"
    assert provider_refunds(app, paid) == []
    assert voucher_states(app, paid) == ["redeemed", "active"]
    retry = ask(client, paid)  # the unused one can still be refunded
    assert retry.status_code == 201 and retry.get_json()["amount"] == 15800


def test_used_vouchers_need_an_admin_override(app, client, paid):
    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    client.post(f"/api/v1/vouchers/{paid['codes'][0]}/redeem", headers=clerk.headers)
    admin = staff(app, client, Role.ADMIN)

    refused = ask(client, paid, [paid["codes"][0]])
    no_reason = client.post(
        f"/api/v1/orders/{paid['order']['id']}/refund-override",
        json={"reason": "", "voucher_codes": [paid["codes"][0]]},
        headers=admin.headers,
    )
    overridden = client.post(
        f"/api/v1/orders/{paid['order']['id']}/refund-override",
        json={"reason": "商家服务严重失误", "voucher_codes": [paid["codes"][0]]},
        headers=admin.headers,
    )

    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "voucher_redeemed"
    assert no_reason.status_code == 422
    assert overridden.get_json()["status"] == "refunded"
    assert overridden.get_json()["admin_override"] is True
    assert provider_refunds(app, paid) == [15800]


def test_one_open_request_per_order_and_rejection(app, client, paid):
    first = ask(client, paid, [paid["codes"][0]])
    second = ask(client, paid, [paid["codes"][1]])
    no_note = client.post(
        f"/api/v1/refund-requests/{first.get_json()['id']}/reject",
        json={},
        headers=paid["cs"].headers,
    )
    rejected = client.post(
        f"/api/v1/refund-requests/{first.get_json()['id']}/reject",
        json={"note": "已过退款期"},
        headers=paid["cs"].headers,
    )

    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "refund_already_requested"
    assert no_note.status_code == 422
    assert rejected.get_json()["status"] == "rejected"
    assert approve(client, paid, first.get_json()["id"]).status_code == 409
    assert ask(client, paid).status_code == 201  # a new request after the rejection


def test_a_shopper_cannot_see_or_refund_another_shoppers_order(app, client, paid):
    stranger = quick_shopper(app)
    url = f"/api/v1/orders/{paid['order']['id']}/refund-requests"

    assert client.post(url, json={"reason": "other"}, headers=stranger.headers).status_code == 404
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert (
        client.get(f"/api/v1/orders/{paid['order']['id']}", headers=stranger.headers).status_code
        == 404
    )


def test_the_queue_shows_what_cs_needs(app, client, paid, clock):
    ask(client, paid)
    clock.advance(minutes=3)

    queue = client.get("/api/v1/refund-requests", headers=paid["cs"].headers).get_json()
    item = queue["items"][0]

    assert item["shopper_phone"] == paid["shopper"].phone and item["waited_seconds"] == 180
    assert item["deal"] == paid["deal"]["title"] and item["merchant"] == paid["merchant"]["name"]
    assert client.get("/api/v1/refund-requests", headers=paid["shopper"].headers).status_code == 403


def test_refund_cancels_pending_commission(app, client, clock, live_server):
    from tests.distribution.conftest import link, new_distributor, purchase

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set")
    distributor, _ = new_distributor(app, client)
    shopper = quick_shopper(app)
    checkout = purchase(app, client, shopper, deal["id"], ref=link(client, distributor))
    cs = staff(app, client, Role.CS)

    request_id = client.post(
        f"/api/v1/orders/{checkout['order']['id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=shopper.headers,
    ).get_json()["id"]
    client.post(f"/api/v1/refund-requests/{request_id}/approve", json={}, headers=cs.headers)

    with app.app_context():
        assert db.session.scalars(sa.select(CommissionEntry.state)).all() == ["cancelled"]


def test_expired_unused_vouchers_are_listed_for_cs(app, client, paid, clock):
    clock.advance(days=31)
    cs = staff(app, client, Role.CS)

    listed = client.get("/api/v1/vouchers/expired-unused", headers=cs.headers).get_json()

    assert sorted(v["code"] for v in listed["items"]) == paid["codes"]


def test_refund_requests_are_audited(app, client, paid):
    from marketplace.core.audit import AuditEvent

    request_id = ask(client, paid).get_json()["id"]
    approve(client, paid, request_id)

    with app.app_context():
        actions = db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.entity_type == "refund_request")
            .order_by(AuditEvent.id)
        ).all()
        assert actions == ["refund.requested", "refund.approved", "refund.paid"]
        assert db.session.get(RefundRequest, request_id).provider_refund_id.startswith("re_")


# -- the order's status follows its vouchers, whatever the order of events -----------------


def test_one_voucher_redeemed_then_the_other_refunded_completes_the_order(app, client, paid):
    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    used = client.post(f"/api/v1/vouchers/{paid['codes'][0]}/redeem", headers=clerk.headers)
    assert used.status_code == 200
    assert order_status(app, paid["order"]["id"]) == "paid"  # one voucher still to use

    refund = approve(client, paid, ask(client, paid, [paid["codes"][1]]).get_json()["id"])

    assert refund.get_json()["status"] == "refunded"
    assert voucher_states(app, paid) == ["redeemed", "refunded"]
    assert order_status(app, paid["order"]["id"]) == "completed"


def test_one_voucher_refunded_then_the_other_redeemed_completes_the_order(app, client, paid):
    approve(client, paid, ask(client, paid, [paid["codes"][0]]).get_json()["id"])
    assert order_status(app, paid["order"]["id"]) == "partially_refunded"

    clerk = portal_account(app, client, paid["bd"], paid["merchant"]["id"], "clerk")
    used = client.post(f"/api/v1/vouchers/{paid['codes'][1]}/redeem", headers=clerk.headers)

    assert used.status_code == 200
    assert voucher_states(app, paid) == ["refunded", "redeemed"]
    assert order_status(app, paid["order"]["id"]) == "completed"
