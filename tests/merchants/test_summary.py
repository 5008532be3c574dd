"""GET /api/v1/merchant/summary: a shop's day and month, money from the ledger, days and
months in Asia/Shanghai, and only the caller's own shop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.accounts.models import Role
from tests.factories import staff
from tests.merchants.world import fresh_token, two_shops


@pytest.fixture
def shops(app, client, clock, live_server):
    return two_shops(app, client, units=3)


def summary(client, account):
    response = client.get("/api/v1/merchant/summary", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_today_and_this_month_after_sales_redemptions_and_a_refund(app, client, clock, shops):
    # 10:00 on Monday 23 November in Shanghai: three units sold at A (¥158 each, settlement
    # ¥128), one at B
    for code in shops.codes[:2]:
        assert (
            client.post(
                f"/api/v1/vouchers/{code}/redeem", headers=shops.a_clerk.headers
            ).status_code
            == 200
        )
    cs = staff(app, client, Role.CS)
    asked = client.post(
        f"/api/v1/orders/{shops.order_id}/refund-requests",
        json={"reason": "changed_mind", "voucher_codes": [shops.codes[2]]},
        headers=shops.shopper.headers,
    )
    assert asked.status_code == 201, asked.get_json()
    approved = client.post(
        f"/api/v1/refund-requests/{asked.get_json()['id']}/approve", json={}, headers=cs.headers
    )
    assert approved.get_json()["status"] == "refunded"

    mine = summary(client, shops.a_owner)

    assert mine["today"] == {
        "date": "2026-11-23",
        "sold_units": 3,
        "sales": 3 * 15800,
        "redeemed": 2,
        "redeemed_value": 2 * 12800,
        "unused": 0,
    }
    month = mine["month"]
    assert month["period"] == "2026-11"
    assert (month["sold_units"], month["sales"], month["redeemed"]) == (3, 47400, 2)
    assert (month["refunded_units"], month["refunds"]) == (1, 15800)
    assert month["settlement_owed"] == 25600
    assert month["deals"] == [
        {"deal_id": shops.deal["id"], "title": shops.deal["title"], "sold_units": 3,
         "sales": 47400, "redeemed": 2, "refunded_units": 1, "refunds": 15800}
    ]  # fmt: skip
    assert mine["unpaid_balance"] == 25600
    # a clerk sees the same shop; the other shop sees only its own
    assert summary(client, shops.a_clerk) == mine
    other = summary(client, shops.b_clerk)
    assert other["today"]["sold_units"] == 1 and other["today"]["redeemed"] == 0
    assert other["today"]["unused"] == 1 and other["month"]["settlement_owed"] == 0
    assert [d["deal_id"] for d in other["month"]["deals"]] == [shops.b_deal["id"]]


def test_the_day_turns_at_midnight_in_shanghai(app, client, clock, shops):
    client.post(f"/api/v1/vouchers/{shops.codes[0]}/redeem", headers=shops.a_clerk.headers)
    # 23:59 on the 23rd in Shanghai is still "today" ...
    clock.set(datetime(2026, 11, 23, 15, 59, tzinfo=UTC))
    assert summary(client, fresh_token(app, shops.a_clerk))["today"]["redeemed"] == 1
    # ... and one minute later it is the 24th: nothing yet, but the month keeps it
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    later = summary(client, fresh_token(app, shops.a_clerk))
    assert later["today"]["date"] == "2026-11-24"
    assert (later["today"]["redeemed"], later["today"]["sold_units"]) == (0, 0)
    assert later["month"]["redeemed"] == 1 and later["month"]["settlement_owed"] == 12800


def test_only_merchant_staff_ask(app, client, shops):
    assert client.get("/api/v1/merchant/summary", headers=shops.shopper.headers).status_code == 403
    assert client.get("/api/v1/merchant/summary").status_code == 401
    bd = staff(app, client, Role.BD)
    assert client.get("/api/v1/merchant/summary", headers=bd.headers).status_code == 403
