"""The screen in front of checkout: a refused flash purchase is answered from Redis (the
token's cached principal, the deal's cached sale state, the flash gate) without touching
the database; changes by staff take effect at once; a repeated purchase still answers its
order after the sell-out; losing Redis mid-sale oversells nothing."""

from __future__ import annotations

import threading
import time

import pytest
from redis import Redis

from marketplace.accounts.models import User
from marketplace.core import tagged
from marketplace.core.db import db
from marketplace.deals import sale_state
from marketplace.deals import service as deals
from tests.dbtouch import database_touches
from tests.factories import (
    buy,
    live_deal,
    move,
    quick_shopper,
    quick_shoppers,
)
from tests.orders.test_flash_sale import crowd, holdings

LATER_TODAY = "2026-11-23T12:00:00+08:00"  # the frozen clock says 10:00 that day


def flash_deal(app, client, bd, merchant, **overrides) -> dict:
    return live_deal(app, client, bd, merchant["id"], "flash", **overrides)


def refusal_kind(kind: str, app, client, bd, merchant) -> tuple[dict, object, str]:
    """A flash deal and a shopper it refuses for ``kind``; returns (deal, shopper, code)."""
    shopper = quick_shopper(app)
    if kind == "sold_out":
        deal = flash_deal(app, client, bd, merchant, stock=1)
        assert buy(client, quick_shopper(app), deal["id"]).status_code == 201
        return deal, shopper, "sold_out"
    if kind == "over_the_limit":
        deal = flash_deal(app, client, bd, merchant, stock=5)
        assert buy(client, shopper, deal["id"]).status_code == 201
        return deal, shopper, "purchase_limit_reached"
    if kind == "not_open_yet":
        deal = flash_deal(app, client, bd, merchant, sale_starts_at=LATER_TODAY)
        return deal, shopper, "deal_not_on_sale"
    if kind == "ended":
        deal = flash_deal(app, client, bd, merchant)
        app.extensions["linli.clock"].advance(days=4)  # past its window's end
        return deal, shopper, "deal_not_on_sale"
    assert kind == "paused"
    deal = flash_deal(app, client, bd, merchant)
    paused = client.post(
        f"/api/v1/deals/{deal['id']}/pause", json={"reason": "商家临时停业"}, headers=bd.headers
    )
    assert paused.status_code == 200
    return deal, shopper, "deal_not_on_sale"


@pytest.mark.parametrize("kind", ["sold_out", "over_the_limit", "not_open_yet", "ended", "paused"])
def test_a_refused_flash_attempt_touches_no_database(app, client, bd, merchant, kind):
    deal, shopper, code = refusal_kind(kind, app, client, bd, merchant)
    # The crowd has tapped before: the token's principal, the sale state and the gate are
    # in Redis (each filled from the database once, by whoever came first).
    first = buy(client, shopper, deal["id"], key="k1")
    assert first.get_json()["error"]["code"] == code

    with database_touches(app) as touches:
        again = buy(client, shopper, deal["id"])
        # with an Idempotency-Key as well, from a shopper who never bought the deal (a
        # buyer's keyed attempt is looked up: see the next test)
        keyed = None if kind == "over_the_limit" else buy(client, shopper, deal["id"], key="k2")

    assert again.status_code == 409 and again.get_json()["error"]["code"] == code
    assert keyed is None or keyed.get_json()["error"]["code"] == code
    assert touches == []


def test_a_buyer_refused_with_a_new_key_touches_no_database_and_a_repeat_is_looked_up(
    app, client, bd, merchant
):
    deal = flash_deal(app, client, bd, merchant, stock=5)
    buyer = quick_shopper(app)
    bought = buy(client, buyer, deal["id"], key="tap-1")
    assert bought.status_code == 201

    with database_touches(app) as touches:
        refused = buy(client, buyer, deal["id"], key="tap-2")  # a new tap: not a repeat
    with database_touches(app) as repeat_touches:
        repeated = buy(client, buyer, deal["id"], key="tap-1")  # the gate recorded tap-1

    assert refused.get_json()["error"]["code"] == "purchase_limit_reached"
    assert touches == []
    assert repeated.status_code == 200
    assert repeated.get_json()["order"]["id"] == bought.get_json()["order"]["id"]
    statements = [t for t in repeat_touches if t.startswith("SELECT orders.")]
    assert statements, repeat_touches


def test_pausing_editing_the_window_and_suspending_the_merchant_take_effect_at_once(
    app, client, bd, merchant
):
    deal = flash_deal(app, client, bd, merchant, stock=20)
    url = f"/api/v1/deals/{deal['id']}"
    assert buy(client, quick_shopper(app), deal["id"]).status_code == 201  # state cached: live

    def pause_or_resume(action: str) -> None:
        reason = {"reason": "库存核对"}
        assert client.post(f"{url}/{action}", json=reason, headers=bd.headers).status_code == 200

    def edit(**changes) -> None:
        version = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers)
        body = {"version": version.get_json()["version"], **changes}
        assert client.patch(url, json=body, headers=bd.headers).status_code == 200

    def answer() -> str:
        response = buy(client, quick_shopper(app), deal["id"])
        return "ok" if response.status_code == 201 else response.get_json()["error"]["code"]

    pause_or_resume("pause")
    assert answer() == "deal_not_on_sale"
    pause_or_resume("resume")
    assert answer() == "ok"
    edit(sale_starts_at=LATER_TODAY)
    refused = buy(client, quick_shopper(app), deal["id"]).get_json()["error"]
    assert refused["code"] == "deal_not_on_sale" and "2026-11-23T12:00+08:00" in refused["message"]
    edit(sale_starts_at="2026-11-23T09:00:00+08:00")
    assert answer() == "ok"
    assert move(client, bd, merchant["id"], "suspended", reason="卫生整改").status_code == 200
    assert answer() == "deal_not_on_sale"
    assert move(client, bd, merchant["id"], "live").status_code == 200
    assert answer() == "ok"


def test_raising_the_limit_lets_a_buyer_in_again_at_once(app, client, bd, merchant):
    deal = flash_deal(app, client, bd, merchant, stock=20)
    buyer = quick_shopper(app)
    assert buy(client, buyer, deal["id"]).status_code == 201
    assert buy(client, buyer, deal["id"]).get_json()["error"]["code"] == "purchase_limit_reached"
    version = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers)

    client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"version": version.get_json()["version"], "per_shopper_limit": 2},
        headers=bd.headers,
    )

    assert buy(client, buyer, deal["id"]).status_code == 201
    assert buy(client, buyer, deal["id"]).get_json()["error"]["code"] == "purchase_limit_reached"


def test_a_sale_state_read_just_before_a_pause_commits_is_never_used(
    app, client, bd, merchant, backend, monkeypatch
):
    """The race the generations exist for: a request reads the deal (live) from the
    database, staff pause it and the pause commits, then the request stores what it read.
    PostgreSQL lets the pause commit in between (the store is refused); SQLite holds the
    pause back until the request ends (then the copy is stale at once). Either way the
    next attempt is refused."""
    deal = flash_deal(app, client, bd, merchant)
    first, second = quick_shopper(app), quick_shopper(app)
    stored: list[bool] = []
    real_store = tagged.store

    def pause_from_another_request() -> None:
        with app.app_context():
            row = deals.get_deal(deal["id"])
            deals.pause(row, db.session.get(User, bd.id), reason="临时下架")
            db.session.commit()

    pauser = threading.Thread(target=pause_from_another_request)

    def store_after_the_pause(key, fields, tags, ttl):
        if key == sale_state.state_key(deal["id"]) and not pauser.is_alive() and not stored:
            pauser.start()
            pauser.join(timeout=1.5)  # PostgreSQL: committed; SQLite: waits for our lock
        result = real_store(key, fields, tags, ttl)
        if key == sale_state.state_key(deal["id"]):
            stored.append(result)
        return result

    monkeypatch.setattr(tagged, "store", store_after_the_pause)
    answer = buy(client, first, deal["id"])
    pauser.join(timeout=15)

    assert not pauser.is_alive()
    if backend == "postgresql":
        assert stored[0] is False  # the pause's generation moved between read and store
        assert answer.get_json()["error"]["code"] == "deal_not_on_sale"  # the database saw it
    else:
        assert stored[0] is True and answer.status_code == 201  # bought before the pause
    assert buy(client, second, deal["id"]).get_json()["error"]["code"] == "deal_not_on_sale"


def test_a_repeated_purchase_answers_its_order_after_the_sell_out(app, client, bd, merchant):
    deal = flash_deal(app, client, bd, merchant, stock=2)
    first, other, stranger = quick_shopper(app), quick_shopper(app), quick_shopper(app)
    placed = buy(client, first, deal["id"], key="tap-1")
    assert placed.status_code == 201
    assert buy(client, other, deal["id"]).status_code == 201  # sold out now

    repeat = buy(client, first, deal["id"], key="tap-1")
    new_tap = buy(client, first, deal["id"], key="tap-2")
    assert buy(client, stranger, deal["id"], key="tap-1").status_code == 409  # caches warm
    with database_touches(app) as touches:
        stranger_again = buy(client, stranger, deal["id"], key="tap-1")
    Redis.from_url(app.config["LINLI_REDIS_URL"]).flushdb()  # the gate and every cache lost
    after_restart = buy(client, first, deal["id"], key="tap-1")

    order_id = placed.get_json()["order"]["id"]
    assert repeat.status_code == 200 and repeat.get_json()["order"]["id"] == order_id
    assert new_tap.get_json()["error"]["code"] == "sold_out"
    assert stranger_again.get_json()["error"]["code"] == "sold_out" and touches == []
    assert after_restart.status_code == 200
    assert after_restart.get_json()["order"]["id"] == order_id


def test_a_repeat_over_the_limit_answers_its_order(app, client, bd, merchant):
    deal = flash_deal(app, client, bd, merchant, stock=10)
    buyer = quick_shopper(app)
    placed = buy(client, buyer, deal["id"], key="tap-1")

    repeat = buy(client, buyer, deal["id"], key="tap-1")
    other_body = buy(client, buyer, deal["id"], quantity=2, key="tap-1")

    assert repeat.status_code == 200
    assert repeat.get_json()["order"]["id"] == placed.get_json()["order"]["id"]
    assert other_body.get_json()["error"]["code"] == "idempotency_key_reused"


def test_flushing_redis_again_and_again_during_the_opening_oversells_nothing(
    app, client, bd, merchant
):
    """Every gate, sale state and cached token lost several times while a crowd buys: the
    gate is refilled from the database, which stays the record."""
    deal = flash_deal(app, client, bd, merchant, stock=30)
    buyers = quick_shoppers(app, 45)  # twice each: 90 threads, within one Redis pool
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    stop = threading.Event()
    flushes = []

    def flush_now_and_then() -> None:
        while not stop.is_set():
            time.sleep(0.02)
            redis.flushdb()
            flushes.append(1)

    flusher = threading.Thread(target=flush_now_and_then)
    flusher.start()
    try:
        results = crowd(app, deal["id"], buyers, attempts_each=2)
    finally:
        stop.set()
        flusher.join()

    units, per_shopper, left = holdings(app, deal["id"])
    assert len(flushes) >= 2
    assert results[(201, "ok")] == 30, results
    assert units == 30 and left == 0 and max(per_shopper.values()) == 1
    assert set(results) <= {(201, "ok"), (409, "sold_out"), (409, "purchase_limit_reached")}
