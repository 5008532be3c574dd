"""The ledger: every money event posts balanced entries once; balances are sums."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.ledger import service as ledger
from marketplace.ledger.models import LedgerTxn
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import live_deal, live_merchant, portal_account, quick_shopper, staff


def balances(app, *accounts: str) -> list[int]:
    with app.app_context():
        return [ledger.balance(a) for a in accounts]


def test_an_unbalanced_transaction_is_refused(app):
    with app.app_context(), pytest.raises(ledger.UnbalancedTransaction):
        ledger.post("oops:1", "test", [("provider", 100), ("platform", -99)])


def test_purchase_redemption_commission_and_refund(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set")  # 15800 / 12800, L1 800
    seller, seller_row = new_distributor(app, client)
    shopper = quick_shopper(app)
    checkout = purchase(app, client, shopper, deal["id"], 2, ref=link(client, seller))
    m, d = ledger.merchant(merchant["id"]), ledger.distributor(seller_row["id"])

    assert balances(app, "provider", "unearned", m, d, "platform") == [31600, -31600, 0, 0, 0]

    clerk = portal_account(app, client, bd, merchant["id"], "clerk")
    codes = [
        v["code"]
        for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    ]
    client.post(f"/api/v1/vouchers/{codes[0]}/redeem", headers=clerk.headers)
    # the shop is owed 12800; the platform keeps 3000 minus 800 commission
    assert balances(app, "provider", "unearned", m, d, "platform") == [
        31600,
        -15800,
        -12800,
        -800,
        -2200,
    ]

    cs = staff(app, client, Role.CS)
    request_id = client.post(
        f"/api/v1/orders/{checkout['order']['id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=shopper.headers,
    ).get_json()["id"]
    client.post(f"/api/v1/refund-requests/{request_id}/approve", json={}, headers=cs.headers)

    assert balances(app, "provider", "unearned", m, d, "platform") == [
        15800,
        0,
        -12800,
        -800,
        -2200,
    ]
    with app.app_context():
        assert ledger.total() == 0
        kinds = db.session.scalars(sa.select(LedgerTxn.kind).order_by(LedgerTxn.id)).all()
    assert kinds == ["order_paid", "voucher_redeemed", "commission_earned", "voucher_refunded"]


def test_an_event_posts_once(app):
    with app.app_context():
        first = ledger.post("evt:1", "test", [("provider", 5), ("platform", -5)])
        again = ledger.post("evt:1", "test", [("provider", 5), ("platform", -5)])
        db.session.commit()
        assert first is not None and again is None
        assert ledger.balance("provider") == 5
