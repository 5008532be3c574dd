"""A flash deal opening to a crowd: stock and per-shopper limits hold under concurrency,
with the Redis gate in front and the database as the record — even if Redis loses its
counters mid-sale."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from redis import Redis

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.orders import stock
from marketplace.orders.models import HOLDING_STATUSES, Order
from tests.factories import buy, live_deal, live_merchant, quick_shopper, quick_shoppers, staff


@pytest.fixture
def flash(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    return live_deal(app, client, bd, merchant["id"], "flash", stock=50)


def crowd(app, deal_id: int, buyers: list, *, attempts_each: int = 1) -> Counter:
    """Every buyer fires at once from their own thread (and their own DB session)."""
    jobs = [b for b in buyers for _ in range(attempts_each)]
    barrier = threading.Barrier(len(jobs))
    results: Counter = Counter()
    lock = threading.Lock()

    def attempt(buyer) -> None:
        c = app.test_client()
        barrier.wait()
        response = buy(c, buyer, deal_id)
        code = response.status_code
        reason = (response.get_json().get("error") or {}).get("code", "ok")
        with lock:
            results[(code, reason)] += 1

    threads = [threading.Thread(target=attempt, args=(b,)) for b in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def holdings(app, deal_id: int) -> tuple[int, Counter, int]:
    with app.app_context():
        orders = db.session.scalars(
            sa.select(Order).where(
                Order.deal_id == deal_id, Order.status.in_([s.value for s in HOLDING_STATUSES])
            )
        ).all()
        left = db.session.scalar(sa.select(Deal.stock_left).where(Deal.id == deal_id))
        return sum(o.quantity for o in orders), Counter(o.shopper_id for o in orders), left


def test_200_buyers_for_50_units_end_with_exactly_50_orders(app, flash):
    buyers = quick_shoppers(app, 200)

    results = crowd(app, flash["id"], buyers)

    units, per_shopper, left = holdings(app, flash["id"])
    assert results[(201, "ok")] == 50, results
    assert results[(409, "sold_out")] == 150, results
    assert units == 50 and left == 0
    assert max(per_shopper.values()) == 1
    status = app.test_client().get(f"/api/v1/deals/{flash['id']}").get_json()["status"]
    assert status == "sold_out"


def test_one_shopper_hammering_gets_one_unit(app, flash):
    greedy = quick_shopper(app)

    results = crowd(app, flash["id"], [greedy], attempts_each=12)

    _, per_shopper, left = holdings(app, flash["id"])
    assert results[(201, "ok")] == 1, results
    assert results[(409, "purchase_limit_reached")] == 11, results
    assert per_shopper == Counter({greedy.id: 1}) and left == 49


def test_redis_losing_its_counters_mid_sale_oversells_nothing(app, flash):
    buyers = quick_shoppers(app, 80)
    first = crowd(app, flash["id"], buyers[:30])
    Redis.from_url(app.config["LINLI_REDIS_URL"]).flushdb()  # a Redis restart

    second = crowd(app, flash["id"], buyers)  # the first 30 try again, 50 newcomers

    units, per_shopper, left = holdings(app, flash["id"])
    assert first[(201, "ok")] == 30
    assert second[(201, "ok")] == 20, second
    assert units == 50 and left == 0 and max(per_shopper.values()) == 1


def test_a_wrong_gate_is_caught_by_the_database(app, flash):
    """Even a Redis gate that says yes to everyone cannot oversell or double-sell."""
    buyers = [quick_shopper(app) for _ in range(3)]
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    with app.app_context():
        stock.load_gate(flash["id"])
        table = Deal.__table__
        db.session.execute(sa.update(table).where(table.c.id == flash["id"]).values(stock_left=1))
        db.session.commit()
    redis.set(f"linli:flash:{flash['id']}:stock", 1000)

    results = crowd(app, flash["id"], buyers)

    assert results[(201, "ok")] == 1 and results[(409, "sold_out")] == 2, results
    units, _, left = holdings(app, flash["id"])
    assert units == 1 and left == 0
    # the refused buyers' places were given back to the gate
    assert int(redis.get(f"linli:flash:{flash['id']}:stock")) == 999


def test_rebuild_restores_the_gate_from_the_database(app, flash):
    buyers = [quick_shopper(app) for _ in range(5)]
    crowd(app, flash["id"], buyers)
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    redis.set(f"linli:flash:{flash['id']}:stock", 7)  # drifted

    with app.app_context():
        assert stock.rebuild_gates() == 1

    assert int(redis.get(f"linli:flash:{flash['id']}:stock")) == 45
    assert len(redis.hgetall(f"linli:flash:{flash['id']}:bought")) == 5


def test_raising_the_stock_of_a_sold_out_flash_deal_lets_the_next_buyer_in_at_once(
    app, client, clock
):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "flash", stock=2)
    first, second, late = (quick_shopper(app) for _ in range(3))
    assert buy(client, first, deal["id"]).status_code == 201
    assert buy(client, second, deal["id"]).status_code == 201
    refused = buy(client, late, deal["id"])
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    assert refused.get_json()["error"]["code"] == "sold_out"
    assert int(redis.get(f"linli:flash:{deal['id']}:stock")) == 0

    current = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers).get_json()
    raised = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"version": current["version"], "stock": 5},
        headers=bd.headers,
    )
    bought = buy(client, late, deal["id"])

    assert raised.status_code == 200 and raised.get_json()["status"] == "live"
    assert bought.status_code == 201, bought.get_json()
    assert int(redis.get(f"linli:flash:{deal['id']}:stock")) == 2
    lowered = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"version": raised.get_json()["version"], "stock": 4},
        headers=bd.headers,
    )
    assert lowered.status_code == 200
    assert int(redis.get(f"linli:flash:{deal['id']}:stock")) == 1  # the gate follows down too


def test_a_stock_edit_that_rolls_back_leaves_the_gate_alone(app, client, clock):
    from marketplace.accounts.models import User
    from marketplace.deals import service as deals

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "flash", stock=2)
    assert buy(client, quick_shopper(app), deal["id"]).status_code == 201
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])

    with app.app_context():
        row = deals.get_deal(deal["id"])
        deals.update_deal(
            row, {"stock": 9}, row.version, db.session.get(User, bd.id), max_tier_bonus=0
        )
        db.session.rollback()  # the request failed after the edit

    assert int(redis.get(f"linli:flash:{deal['id']}:stock")) == 1
