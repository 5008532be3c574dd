"""The shopper catalog: filters, distance, sorting, pages, the deal page and home."""

from __future__ import annotations

from datetime import date

import pytest
from redis import Redis

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals import service as deals
from tests.deals.conftest import MID, NEAR
from tests.factories import (
    live_deals,
    live_merchant,
    move,
    put_live,
    staff,
)
from tests.querycount import count_queries


def titles(client, query: str = "") -> list[str]:
    response = client.get(f"/api/v1/deals?{query}")
    assert response.status_code == 200, response.get_json()
    return [d["title"] for d in response.get_json()["items"]]


def test_only_live_deals_are_listed_newest_first(client, city):
    assert titles(client) == ["景区六人票", "奶茶三人套餐", "秒杀锅底", "火锅四人餐"]


def test_filters(client, city):
    assert titles(client, "category=hotpot-bbq") == ["秒杀锅底", "火锅四人餐"]
    assert titles(client, "type=flash") == ["秒杀锅底"]
    assert titles(client, "type=large_set&category=attractions") == ["景区六人票"]
    assert titles(client, "q=奶茶") == ["奶茶三人套餐"]
    assert titles(client, "q=老灶") == ["秒杀锅底", "火锅四人餐"]  # the merchant's name too
    assert titles(client, "q=%25") == []  # a literal %, not a wildcard
    assert titles(client, "category=kids-family") == []


def test_near_orders_by_distance_within_the_radius(client, city):
    response = client.get("/api/v1/deals?near=27.3383,103.7172&radius=5000")

    items = response.get_json()["items"]
    assert [(d["title"], d["distance_m"]) for d in items] == [
        ("奶茶三人套餐", 111),
        ("秒杀锅底", 2002),
        ("火锅四人餐", 2002),
    ]
    assert response.get_json()["total"] == 3
    wide = client.get("/api/v1/deals?near=27.3383,103.7172&radius=20000").get_json()
    assert [d["title"] for d in wide["items"]][-1] == "景区六人票"
    assert wide["items"][-1]["distance_m"] == pytest.approx(10008, abs=2)


def test_near_with_another_sort_and_pages(client, city):
    by_grade = client.get("/api/v1/deals?near=27.3383,103.7172&radius=20000&sort=grade")
    page2 = client.get("/api/v1/deals?near=27.3383,103.7172&radius=20000&page=2&page_size=2")

    assert [d["merchant"]["grade"] for d in by_grade.get_json()["items"]] == [5, 5, 4, 3]
    assert [d["title"] for d in page2.get_json()["items"]] == ["火锅四人餐", "景区六人票"]
    assert page2.get_json()["total"] == 4


def test_sort_by_grade_and_by_popularity(app, client, city):
    _, ids, _ = city
    with app.app_context():
        deals.record_sale(deals.get_deal(ids["tea_set"]), 5)
        deals.record_sale(deals.get_deal(ids["park_large"]), 2)
        deals.record_sale(deals.get_deal(ids["hotpot_set"]), 9, day=date(2026, 11, 10))  # too old
        db.session.commit()

    assert titles(client, "sort=grade")[:2] == ["秒杀锅底", "火锅四人餐"]
    popular = client.get("/api/v1/deals?sort=popularity").get_json()["items"]
    assert [(d["title"], d["sold_last_7_days"]) for d in popular][:2] == [
        ("奶茶三人套餐", 5),
        ("景区六人票", 2),
    ]
    assert {d["title"]: d["sold_count"] for d in popular}["火锅四人餐"] == 9


@pytest.mark.parametrize(
    "query",
    [
        "page_size=51",
        "page=0",
        "sort=distance",
        "near=91,103",
        "near=abc",
        "near=27.3,103.7&radius=50",
        "near=27.3,103.7&radius=50001",
        "type=buffet",
        "sort=random",
    ],
)
def test_bad_catalog_parameters_are_422(client, query):
    response = client.get(f"/api/v1/deals?{query}")

    assert response.status_code == 422, query
    assert response.get_json()["error"]["code"] == "validation_error"


def test_pages_have_a_hard_maximum(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    live_deals(app, bd, [shop["id"]] * 55)

    first = client.get("/api/v1/deals?page_size=50").get_json()
    second = client.get("/api/v1/deals?page_size=50&page=2").get_json()

    assert len(first["items"]) == 50 and len(second["items"]) == 5 and first["total"] == 55


def test_sale_window_paused_and_suspended_merchants_are_hidden(app, client, city, clock):
    bd, ids, merchants = city
    client.post(f"/api/v1/deals/{ids['tea_set']}/pause", headers=bd.headers, json={})
    move(client, bd, merchants["park"]["id"], "suspended")

    assert titles(client) == ["秒杀锅底", "火锅四人餐"]
    clock.advance(days=4)  # the flash sale ended on the 26th at 22:00
    assert titles(client) == ["火锅四人餐"]
    paused_page = client.get(f"/api/v1/deals/{ids['tea_set']}")
    assert paused_page.status_code == 200 and paused_page.get_json()["status"] == "paused"


def test_a_deal_page_has_what_a_shopper_needs(app, client, city):
    _, ids, merchants = city

    response = client.get(f"/api/v1/deals/{ids['hotpot_set']}")

    page = response.get_json()
    assert page["title"] == "火锅四人餐" and page["status"] == "live"
    assert page["merchant"]["name"] == "老灶火锅" and page["merchant"]["grade"] == 5
    assert page["merchant"]["category_name"] == "火锅烧烤"
    assert page["merchant"]["location"] == MID
    assert page["merchant"]["address"] == merchants["hotpot"]["address"]
    assert page["stock_left"] == 200 and page["sold_count"] == 0
    assert page["rules"]["validity_days"] == 30
    assert page["cs_phone"] == app.config["LINLI_CS_PHONE"]
    assert "settlement_price" not in page and "commission_l1" not in page
    assert client.get(f"/api/v1/deals/{ids['draft']}").status_code == 404
    assert client.get("/api/v1/deals/999999").get_json()["error"]["code"] == "deal_not_found"


def test_home(app, client, city):
    bd, ids, _ = city
    client.post(
        "/api/v1/popup-bookings",
        headers=bd.headers,
        json={"deal_id": ids["hotpot_flash"], "date": "2026-11-23"},
    )

    home = client.get("/api/v1/home").get_json()

    assert home["popup"]["title"] == "秒杀锅底"
    counts = {c["slug"]: c["live_deals"] for c in home["categories"]}
    assert counts["hotpot-bbq"] == 2 and counts["attractions"] == 1 and counts["dining"] == 0
    assert len(home["categories"]) == 8
    assert {d["title"] for d in home["new_today"]} == {
        "火锅四人餐",
        "秒杀锅底",
        "奶茶三人套餐",
        "景区六人票",
    }
    assert home["cs_phone"] == app.config["LINLI_CS_PHONE"]


def test_home_without_a_popup(client, city):
    assert client.get("/api/v1/home").get_json()["popup"] is None


def test_edits_stock_and_publishing_show_at_once_despite_the_cache(app, client, city):
    bd, ids, merchants = city
    assert "火锅四人餐" in titles(client)  # now cached
    manage = client.get(f"/api/v1/manage/deals/{ids['hotpot_set']}", headers=bd.headers)

    client.patch(
        f"/api/v1/deals/{ids['hotpot_set']}",
        headers=bd.headers,
        json={"version": manage.get_json()["version"], "title": "火锅四人豪华餐", "stock": 150},
    )
    assert "火锅四人豪华餐" in titles(client)
    page = client.get(f"/api/v1/deals/{ids['hotpot_set']}").get_json()
    assert page["stock_left"] == 150

    put_live(app, ids["draft"])
    assert "还没上线" in titles(client)
    client.patch(
        f"/api/v1/merchants/{merchants['tea']['id']}",
        headers=bd.headers,
        json={
            "version": client.get(
                f"/api/v1/merchants/{merchants['tea']['id']}", headers=bd.headers
            ).get_json()["version"],
            "name": "一点点奶茶(新店)",
        },
    )
    tea_page = client.get(f"/api/v1/deals/{ids['tea_set']}").get_json()
    assert tea_page["merchant"]["name"] == "一点点奶茶(新店)"


def test_a_repeated_read_is_served_from_the_cache(app, client, city):
    client.get("/api/v1/deals")
    client.get("/api/v1/home")

    with count_queries(app) as queries:
        client.get("/api/v1/deals")
        client.get("/api/v1/home")

    assert queries.count == 0


def test_the_catalog_still_answers_when_redis_is_down(app, client, city):
    app.extensions["linli.redis"].connection_pool.connection_kwargs["port"] = 1
    app.extensions["linli.redis"].connection_pool.disconnect()
    try:
        response = client.get("/api/v1/deals")
    finally:
        app.extensions["linli.redis"].connection_pool.connection_kwargs["port"] = 6379
        app.extensions["linli.redis"].connection_pool.disconnect()

    assert response.status_code == 200 and len(response.get_json()["items"]) == 4


def test_queries_do_not_grow_from_10_to_200_deals(app, client, clock):
    bd = staff(app, client, Role.BD)
    shops = [live_merchant(client, bd, location=NEAR) for _ in range(5)]
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])

    def cost(path: str) -> int:
        redis.delete(*redis.keys("linli:catalog:*") or ["none"])  # measure the database
        with count_queries(app) as queries:
            assert client.get(path).status_code == 200
        return queries.count

    paths = [
        "/api/v1/deals?page_size=50",
        "/api/v1/deals?near=27.3383,103.7172&sort=distance",
        "/api/v1/deals?sort=popularity&category=hotpot-bbq",
        "/api/v1/home",
    ]
    live_deals(app, bd, [shops[n % 5]["id"] for n in range(10)])
    small = [cost(p) for p in paths]
    live_deals(app, bd, [shops[n % 5]["id"] for n in range(190)])
    large = [cost(p) for p in paths]

    assert large == small, (small, large)
    assert max(small) <= 5
