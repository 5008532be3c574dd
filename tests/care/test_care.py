"""Customer care against real databases and the local payment server: the A/B/C segments
at their boundaries (exactly 3 purchases, exactly 90 Asia/Shanghai days), the 30-day list,
won back within 14 days of a contact, and the automatic refund of expired unused vouchers
exactly once (the job run twice; a crash after the provider paid)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from marketplace.accounts import service as accounts
from marketplace.accounts.models import Role, User
from marketplace.care import service as care
from marketplace.core.db import db
from marketplace.jobs import tasks
from marketplace.refunds.models import RefundRequest
from marketplace.vouchers.models import Voucher
from tests.factories import (
    Account,
    buy,
    live_deal,
    live_merchant,
    order_status,
    pay,
    quick_shopper,
    staff,
)
from tests.querycount import count_queries

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # the clock fixture's moment


def at(clock, days: int, hh: int = 10, mm: int = 0, ss: int = 0) -> None:
    """Move the clock to ``days`` local days after T0, at hh:mm:ss in Shanghai."""
    day = (T0 + timedelta(days=days)).date()
    clock.set(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI))


def fresh(app, account: Account) -> Account:
    """A new token for the same user at the clock's moment (old ones expire)."""
    with app.app_context():
        token = accounts.issue_token(db.session.get(User, account.id)).token
        db.session.commit()
    return Account(account.id, account.username, account.phone, token)


@pytest.fixture
def shop(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=100)
    return {"bd": bd, "merchant": merchant, "deal": deal}


def purchase(app, client, shopper: Account, deal_id: int, quantity: int = 1) -> dict:
    checkout = buy(client, fresh(app, shopper), deal_id, quantity).get_json()
    pay(app, checkout, via="reconcile")
    return checkout["order"]


def segments(app, client) -> dict[int, str]:
    cs = staff(app, client, Role.CS)
    answer = client.get("/api/v1/care/segments?page_size=100", headers=cs.headers).get_json()
    return {row["shopper_id"]: row["segment"] for row in answer["items"]}, answer["counts"]


def test_segments_at_exactly_three_purchases_and_exactly_ninety_days(app, client, clock, shop):
    three, two, never = quick_shopper(app), quick_shopper(app), quick_shopper(app)
    for _ in range(3):
        purchase(app, client, three, shop["deal"]["id"])
    for _ in range(2):
        purchase(app, client, two, shop["deal"]["id"], quantity=2)  # units are not purchases

    found, counts = segments(app, client)
    assert (found[three.id], found[two.id], found[never.id]) == ("A", "B", "C")
    assert counts == {"A": 1, "B": 1, "C": 1}

    at(clock, 89, 23, 59, 59)  # the 90th local day, its last second: still inside
    found, _ = segments(app, client)
    assert (found[three.id], found[two.id]) == ("A", "B")

    at(clock, 90, 0, 0, 0)  # a new local day: the purchases of T0 are 90 days old
    found, counts = segments(app, client)
    assert (found[three.id], found[two.id], found[never.id]) == ("C", "C", "C")
    assert counts == {"A": 0, "B": 0, "C": 3}


def test_a_wholly_refunded_order_is_no_purchase(app, client, clock, shop):
    buyer = quick_shopper(app)
    order = purchase(app, client, buyer, shop["deal"]["id"])
    cs = staff(app, client, Role.CS)
    asked = client.post(
        f"/api/v1/orders/{order['id']}/refund-requests",
        json={"reason": "changed_mind"},
        headers=fresh(app, buyer).headers,
    ).get_json()
    client.post(f"/api/v1/refund-requests/{asked['id']}/approve", json={}, headers=cs.headers)
    assert order_status(app, order["id"]) == "refunded"
    found, _ = segments(app, client)
    assert found[buyer.id] == "C"


def test_the_lapsed_list_starts_at_thirty_days(app, client, clock, shop):
    buyer, never = quick_shopper(app), quick_shopper(app)
    purchase(app, client, buyer, shop["deal"]["id"])

    def listed() -> list[int]:
        with app.app_context():
            return [row[0].id for row in db.session.execute(care.lapsed())]

    at(clock, 29, 23, 59, 59)
    assert listed() == []
    at(clock, 30, 0, 0, 0)
    assert listed() == [buyer.id]  # who never bought is not lapsed
    assert never.id not in listed()


def test_won_back_within_fourteen_days_of_the_contact(app, client, clock, shop):
    won, late = quick_shopper(app), quick_shopper(app)
    purchase(app, client, won, shop["deal"]["id"])
    purchase(app, client, late, shop["deal"]["id"])
    at(clock, 30)
    cs = staff(app, client, Role.CS)
    for who, channel in ((won, "phone"), (late, "wechat")):
        logged = client.post(
            "/api/v1/care/contacts",
            json={"shopper_id": who.id, "channel": channel, "outcome": "will_come", "note": "新品"},
            headers=cs.headers,
        )
        assert logged.status_code == 201, logged.get_json()
    with app.app_context():  # contacted: off today's due list for 14 days
        assert list(db.session.execute(care.lapsed(due_only=True))) == []

    at(clock, 44)  # exactly 14 days after the contact
    won_order = purchase(app, client, won, shop["deal"]["id"])
    at(clock, 44, 10, 0, 1)  # one second past
    purchase(app, client, late, shop["deal"]["id"])

    cs = fresh(app, cs)
    log = client.get("/api/v1/care/contacts", headers=cs.headers).get_json()["items"]
    outcome = {row["shopper_id"]: row["won_back_order_id"] for row in log}
    assert outcome == {won.id: won_order["id"], late.id: None}


def test_bad_contacts_are_refused(app, client, clock, shop):
    cs = staff(app, client, Role.CS)
    bad = client.post(
        "/api/v1/care/contacts",
        json={"shopper_id": cs.id, "channel": "phone", "outcome": "reached"},
        headers=cs.headers,
    )
    assert bad.status_code == 404
    assert bad.get_json()["error"]["code"] == "customer_not_found"
    wrong = client.post(
        "/api/v1/care/contacts",
        json={"shopper_id": cs.id, "channel": "fax", "outcome": "reached"},
        headers=cs.headers,
    )
    assert wrong.status_code == 422


def test_only_customer_service_sees_the_segments(app, client, clock, shop):
    bd = staff(app, client, Role.BD)
    assert client.get("/api/v1/care/segments", headers=bd.headers).status_code == 403
    buyer = quick_shopper(app)
    assert client.get("/api/v1/care/segments", headers=buyer.headers).status_code == 403
    assert (
        client.get("/api/v1/distributors/me/customer-segments", headers=buyer.headers).status_code
        == 404
    )


# -- the automatic refund of expired unused vouchers ----------------------------------------


@pytest.fixture
def expiring(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    auto = live_deal(
        app, client, bd, merchant["id"], "small_set", stock=10, expiry_policy="auto_refund"
    )
    calls = live_deal(app, client, bd, merchant["id"], "small_set", stock=10)
    assert auto["expiry_policy"] == "auto_refund" and calls["expiry_policy"] == "cs_call"
    shopper = quick_shopper(app)
    auto_order = buy(client, shopper, auto["id"], 2).get_json()
    pay(app, auto_order, via="reconcile")
    call_order = buy(client, shopper, calls["id"], 1).get_json()
    pay(app, call_order, via="reconcile")
    with app.app_context():
        until = db.session.scalar(
            sa.select(sa.func.max(Voucher.valid_until)).where(
                Voucher.order_id == auto_order["order"]["id"]
            )
        )
    return {
        "auto": auto_order,
        "calls": call_order,
        "until": until,
        "intent": auto_order["payment"]["payment_intent"],
    }


def provider_refunds(app, intent) -> list[int]:
    with app.app_context():
        return [r["amount"] for r in app.extensions["linli.stripe"].list_refunds(intent)]


def statuses(app, order_id) -> list[str]:
    with app.app_context():
        return sorted(
            db.session.scalars(sa.select(Voucher.status).where(Voucher.order_id == order_id))
        )


def day_after(clock, until, hh=0, mm=40) -> None:
    day = until + timedelta(days=1)
    clock.set(datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI))


def test_auto_refund_the_day_after_expiry_exactly_once_when_the_job_runs_twice(
    app, client, clock, expiring
):
    clock.set(
        datetime(
            expiring["until"].year,
            expiring["until"].month,
            expiring["until"].day,
            23,
            59,
            tzinfo=SHANGHAI,
        )
    )
    tasks.use_app(app)
    try:
        assert tasks.run("auto_refund_expired") == {"opened": 0}  # the last valid day
        day_after(clock, expiring["until"])
        tasks.run("expire_vouchers")
        first = tasks.run("auto_refund_expired")
        second = tasks.run("auto_refund_expired")
    finally:
        tasks.use_app(None)

    assert first == {"opened": 1, "refunded": 1}
    assert second == {"opened": 0}
    assert provider_refunds(app, expiring["intent"]) == [expiring["auto"]["order"]["amount"]]
    assert statuses(app, expiring["auto"]["order"]["id"]) == ["refunded", "refunded"]
    assert order_status(app, expiring["auto"]["order"]["id"]) == "refunded"
    # the cs_call deal's voucher is not refunded: it is on today's list to call
    assert statuses(app, expiring["calls"]["order"]["id"]) == ["expired"]
    with app.app_context():
        listed = [v.order_id for v in db.session.scalars(care.to_call())]
        assert listed == [expiring["calls"]["order"]["id"]]
        request = db.session.scalars(sa.select(RefundRequest)).one()
        assert request.reason_text == "auto_refund_expired" and request.decided_by_id is None


def test_auto_refund_after_a_crash_pays_once(app, client, clock, expiring, monkeypatch):
    day_after(clock, expiring["until"])
    provider = app.extensions["linli.stripe"]
    create_refund = provider.create_refund

    def refund_then_crash(**kwargs):
        create_refund(**kwargs)
        raise RuntimeError("the worker died after the provider refunded")

    with app.app_context(), monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(provider, "create_refund", refund_then_crash)
        care.auto_refund_expired()
    with app.app_context():
        db.session.rollback()
    assert provider_refunds(app, expiring["intent"]) == [expiring["auto"]["order"]["amount"]]
    assert statuses(app, expiring["auto"]["order"]["id"]) == ["refunding", "refunding"]

    clock.advance(seconds=61)  # past the paying lease
    with app.app_context():
        again = care.auto_refund_expired()
    assert again == {"opened": 0, "refunded": 1}
    assert provider_refunds(app, expiring["intent"]) == [expiring["auto"]["order"]["amount"]]
    assert statuses(app, expiring["auto"]["order"]["id"]) == ["refunded", "refunded"]


def test_a_crash_before_paying_is_finished_by_the_next_run(
    app, client, clock, expiring, monkeypatch
):
    day_after(clock, expiring["until"])
    from marketplace.refunds import service as refunds

    def die(request_id):
        raise RuntimeError("the worker died after approving")

    with app.app_context(), monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(refunds, "execute", die)
        care.auto_refund_expired()
    with app.app_context():
        db.session.rollback()
        assert (
            db.session.scalars(sa.select(RefundRequest.status)).one() == "approved_pending_refund"
        )
    assert provider_refunds(app, expiring["intent"]) == []
    with app.app_context():
        assert care.auto_refund_expired() == {"opened": 0, "refunded": 1}
    assert provider_refunds(app, expiring["intent"]) == [expiring["auto"]["order"]["amount"]]


def test_the_lists_are_a_constant_number_of_statements(app, client, clock, shop):
    from tests.web.test_staff_cs_roles import as_role

    def statements() -> list[int]:
        cs = staff(app, client, Role.CS)
        page = app.test_client()
        as_role(app, page, "cs")
        paths = [
            (client, p, cs.headers) for p in ("/api/v1/care/segments", "/api/v1/care/contacts")
        ]
        paths += [
            (page, p, {})
            for p in ("/staff/care", "/staff/care?tab=contacts", "/staff/care?tab=segments")
        ]
        counts = []
        for who, path, headers in paths:
            assert who.get(path, headers=headers).status_code == 200  # warm: sign-in, roles
            with count_queries(app) as counted:
                assert who.get(path, headers=headers).status_code == 200
            counts.append(len(counted))
        return counts

    def contact(shopper):
        cs = staff(app, client, Role.CS)
        answer = client.post(
            "/api/v1/care/contacts",
            json={"shopper_id": shopper.id, "channel": "phone", "outcome": "reached"},
            headers=cs.headers,
        )
        assert answer.status_code == 201

    first = quick_shopper(app)
    purchase(app, client, first, shop["deal"]["id"])
    at(clock, 31)
    contact(first)
    few = statements()

    at(clock, 0, 11)
    more = [quick_shopper(app) for _ in range(4)]
    for shopper in more:
        purchase(app, client, shopper, shop["deal"]["id"])
    at(clock, 31, 11)
    for shopper in more[:2]:
        contact(shopper)
    assert statements() == few


def test_a_free_prize_is_never_refunded_automatically(app, client, clock, expiring):
    """A giveaway's prize of an auto-refund deal expires unused: no money came in, so the
    job leaves it expired and refunds only the paid order."""
    from marketplace.deals.models import Deal
    from marketplace.orders.actions import place_free_order
    from marketplace.orders.models import Order

    winner = quick_shopper(app)
    with app.app_context():
        deal_id = db.session.scalar(
            sa.select(Order.deal_id).where(Order.id == expiring["auto"]["order"]["id"])
        )
        deal = db.session.get(Deal, deal_id)
        prize, created = place_free_order(
            winner.id, deal, settlement_price=0, key="linli:giveaway:test", source="giveaway:test"
        )
        db.session.commit()
        prize_id = prize.id
    assert created
    day_after(clock, expiring["until"])
    tasks.use_app(app)
    try:
        tasks.run("expire_vouchers")
        result = tasks.run("auto_refund_expired")
    finally:
        tasks.use_app(None)
    assert result == {"opened": 1, "refunded": 1}  # the paid order only
    assert statuses(app, prize_id) == ["expired"]
    assert order_status(app, prize_id) == "paid"
