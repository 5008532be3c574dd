"""``flask seed``: a believable demo city, loaded idempotently, obeying the domain rules."""

from __future__ import annotations

import re
from collections import Counter

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from merchants.models import Merchant, MerchantStaff
from seed.staff import DEV_PASSWORD
from tests.factories import login_password


def test_seed_is_idempotent(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed"])
    second = runner.invoke(args=["seed"])

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "seeded merchants: 24" in first.output
    assert "seeded merchants: none new" in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Merchant)) == 24
        # five staff, six portal accounts, three distributors, six customers, and the
        # merchant portal demo's customer (seed/portal.py)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5 + 6 + 3 + 6 + 1


def test_every_staff_role_has_a_dev_login(app, client):
    app.test_cli_runner().invoke(args=["seed"])

    for username, role in [("admin", "admin"), ("bd", "bd"), ("cs", "cs"), ("editor", "editor")]:
        token = login_password(client, username, DEV_PASSWORD)
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
        assert me["roles"] == [role]


def test_the_demo_city_is_zhaotong_across_all_categories(app, client):
    app.test_cli_runner().invoke(args=["seed"])

    with app.app_context():
        merchants = db.session.scalars(sa.select(Merchant)).all()
        by_category = Counter(m.category.slug for m in merchants)
        stages = Counter(m.stage for m in merchants)
        assert len(by_category) == 8 and set(by_category.values()) == {3}
        assert stages["live"] >= 15 and {"lead", "negotiating", "contracted"} <= set(stages)
        assert all(27.0 < m.latitude < 27.7 and 103.4 < m.longitude < 104.0 for m in merchants)
        assert {m.owner.username for m in merchants} == {"bd", "bd2"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MerchantStaff)) == 6

    token = login_password(client, "laozhaotong-owner", DEV_PASSWORD)
    shop = client.get("/api/v1/merchant", headers={"Authorization": f"Bearer {token}"})
    assert shop.status_code == 200 and shop.get_json()["merchant"]["name"] == "老昭通炭火烧烤"
    bd = login_password(client, "bd", DEV_PASSWORD)
    overdue = client.get(
        "/api/v1/merchants/overdue-follow-ups", headers={"Authorization": f"Bearer {bd}"}
    ).get_json()
    assert overdue["total"] >= 1


def test_the_demo_deals_cover_all_types_slots_and_todays_popup(app, client, clock):
    first = app.test_cli_runner().invoke(args=["seed"])
    second = app.test_cli_runner().invoke(args=["seed"])

    assert "seeded deals: 23" in first.output, first.output
    assert "seeded deals: none new" in second.output
    catalog = client.get("/api/v1/deals?page_size=50").get_json()
    assert catalog["total"] == 19
    assert {d["type"] for d in catalog["items"]} == {"flash", "small_set", "large_set"}
    popular = client.get("/api/v1/deals?sort=popularity").get_json()["items"][0]
    assert popular["merchant"]["name"] == "一杯鲜茶 (万达店)"
    home = client.get("/api/v1/home").get_json()
    assert home["popup"]["title"] == "9.9元抢烤串双人拼盘"
    bd = login_password(client, "bd", DEV_PASSWORD)
    calendar = client.get(
        "/api/v1/publishing-slots?days=3", headers={"Authorization": f"Bearer {bd}"}
    ).get_json()
    assert [s["empty"] for s in calendar["slots"] if s["starts_at"] >= "2026-11-23T15:00"][:4] == [
        False
    ] * 4


def test_the_demo_distribution_chain(app, client, clock):
    from marketplace.distribution.models import CommissionEntry, CustomerBinding, Distributor

    first = app.test_cli_runner().invoke(args=["seed"])
    second = app.test_cli_runner().invoke(args=["seed"])

    names = "李姐 (分销员), 王哥 (分销员), 小张 (分销员)"
    assert f"seeded distributors: {names}" in first.output, first.output
    assert "seeded distributors: none new" in second.output
    with app.app_context():
        chain = db.session.scalars(sa.select(Distributor).order_by(Distributor.id)).all()
        assert [d.recruiter_id for d in chain] == [None, chain[0].id, chain[1].id]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerBinding)) == 6
        states = db.session.scalars(sa.select(CommissionEntry.state)).all()
        assert {"pending", "earned"} <= set(states)
        from marketplace.ledger import service as ledger

        assert ledger.total() == 0 and ledger.balance("platform") < 0  # margin earned


def test_every_seeded_deal_obeys_the_rules_in_force_after_seeding(app):
    """Edits re-check the rules on the merged values, so a seeded deal that breaks one
    (a price under the provider's minimum charge, commission the largest tier bonus would
    push over its budget) could not even have its title changed."""
    from marketplace.deals import service as deals
    from marketplace.deals.models import Deal
    from marketplace.distribution.distributors import largest_tier_bonus

    app.test_cli_runner().invoke(args=["seed"])

    with app.app_context():
        seeded = db.session.scalars(sa.select(Deal)).all()
        for deal in seeded:
            deals.check_rules(deal, max_tier_bonus=largest_tier_bonus())  # raises DealRuleViolated
        assert min(d.sale_price for d in seeded) >= app.config["LINLI_MIN_CHARGE"]


def seeded_orders(app) -> list:
    """The distributors' demo orders (the merchant portal's demo order apart)."""
    from marketplace.orders.models import Order
    from seed.portal import SHOPPER

    with app.app_context():
        portal_demo = sa.select(User.id).where(User.phone == SHOPPER[0])
        return db.session.scalars(
            sa.select(Order).where(Order.shopper_id.not_in(portal_demo)).order_by(Order.id)
        ).all()


def test_seeded_orders_are_paid_through_the_payment_server(app, client, clock):
    """The seed used to write made-up intent ids (pi_seed_N) that the provider never saw,
    so refunding a seeded order could never complete and alerted CS for ever."""
    from marketplace.accounts import service as accounts
    from marketplace.providers.stripe import stripe

    result = app.test_cli_runner().invoke(args=["seed"])

    assert "seeded demo orders: 6" in result.output, result.output
    assert re.search(
        r"vouchers to redeem at 老昭通炭火烧烤: (\d{4}-\d{4}-\d{4} ?){3}$", result.output, re.M
    )
    orders = seeded_orders(app)
    assert len(orders) == 6
    with app.app_context():
        for order in orders:
            intent = stripe().retrieve_payment_intent(order.payment_intent_id)
            assert intent["status"] == "succeeded" and intent["amount"] == order.amount
        unused = next(o for o in orders if o.status == "paid")
        shopper = db.session.get(User, unused.shopper_id)
        token = accounts.issue_token(shopper).token
        db.session.commit()
    asked = client.post(
        f"/api/v1/orders/{unused.id}/refund-requests",
        json={"reason": "changed_mind"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert asked.status_code == 201, asked.get_json()
    cs = login_password(client, "cs", DEV_PASSWORD)
    approved = client.post(
        f"/api/v1/refund-requests/{asked.get_json()['id']}/approve",
        json={},
        headers={"Authorization": f"Bearer {cs}"},
    )
    assert approved.get_json()["status"] == "refunded", approved.get_json()
    with app.app_context():
        refunds = stripe().list_refunds(unused.payment_intent_id)
    assert [r["amount"] for r in refunds] == [unused.amount]


def test_without_a_payment_server_the_seed_leaves_orders_for_later(app, tmp_path):
    from tests.conftest import build_app

    offline = build_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["LINLI_REDIS_URL"],
        str(tmp_path),
        LINLI_STRIPE_API_BASE="http://127.0.0.1:9",
    )

    first = offline.test_cli_runner().invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    assert "seeded demo orders: none; no payment server answers at http://127.0.0.1:9" in (
        first.output
    )
    assert "seeded merchants: 24" in first.output and seeded_orders(app) == []

    with offline.app_context():
        db.engine.dispose()
    second = app.test_cli_runner().invoke(args=["seed"])
    third = app.test_cli_runner().invoke(args=["seed"])

    assert "seeded demo orders: 6" in second.output, second.output
    assert "seeded demo orders: none new" in third.output
    assert len(seeded_orders(app)) == 6


def test_a_later_seed_run_finds_free_slots_further_back(app, client, clock, monkeypatch):
    """Deals added to the seed after a first run go into the free past slots before the ones
    the first run took, however far back they are (the walk used to stop a few days back
    and fail with a ValueError)."""
    import seed.deals
    from marketplace.deals.models import Deal

    first = app.test_cli_runner().invoke(args=["seed"])
    title = "稀豆粉三人早餐"
    later = ("稀豆粉早点铺", "small_set", title, 4800, 2900, 2200, 80, 3, (50, 20), {})
    monkeypatch.setattr(seed.deals, "DEALS", [*seed.deals.DEALS, later])
    second = app.test_cli_runner().invoke(args=["seed"])
    third = app.test_cli_runner().invoke(args=["seed"])

    assert "seeded deals: 23" in first.output, first.output
    assert "seeded deals: 1" in second.output, second.output
    assert "seeded deals: none new" in third.output
    with app.app_context():
        added = db.session.scalars(sa.select(Deal).where(Deal.title == title)).one()
        others = db.session.scalars(sa.select(Deal.publish_at).where(Deal.id != added.id)).all()
        assert added.status == "live" and added.publish_at < min(others)
    assert client.get("/api/v1/deals?page_size=50").get_json()["total"] == 20
