"""Merchant profiles: creating, editing with versions, listing with filters."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from merchants.models import Merchant
from tests.factories import ZHAOTONG, live_merchant, make_merchant, staff


def count_merchants(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Merchant))


def test_bd_creates_a_lead_they_own(app, client):
    bd = staff(app, client, Role.BD)

    merchant = make_merchant(
        client,
        bd,
        name="老昭通火锅",
        is_headliner=True,
        business_hours=[{"days": [1, 2, 3, 4, 5, 6, 7], "open": "11:00", "close": "02:00"}],
    )

    assert merchant["stage"] == "lead"
    assert merchant["owner"]["id"] == bd.id
    assert merchant["location"] == ZHAOTONG
    assert merchant["category"]["name_zh"] == "火锅烧烤"
    assert merchant["is_headliner"] is True and merchant["current_grade"] is None
    assert merchant["missing_contracts"] == [
        "entry_agreement",
        "service_contract",
        "service_schedule",
    ]
    assert merchant["business_hours"][0]["close"] == "02:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "spaceships"}, "category"),
        ({"location": {"lat": 200, "lng": 103.7}}, "location"),
        ({"location": {"lat": 27.3, "lng": -181}}, "location"),
        ({"location": {"lat": "north", "lng": 103.7}}, "location"),
        ({"name": ""}, "name"),
        ({"name": "店" * 81}, "name"),
        ({"phone": "call me maybe"}, "phone"),
        ({"business_hours": [{"days": [8], "open": "10:00", "close": "22:00"}]}, "business_hours"),
        ({"business_hours": [{"days": [1], "open": "25:00", "close": "22:00"}]}, "business_hours"),
        ({"owner_id": 999999}, "owner_id"),
        ({"stage": "live"}, "stage"),  # the stage moves only through the pipeline
    ],
)
def test_bad_merchant_input_is_422_and_writes_nothing(app, client, body, field):
    bd = staff(app, client, Role.BD)
    payload = {"name": "好店", "category": "hotpot-bbq", **body}

    response = client.post("/api/v1/merchants", json=payload, headers=bd.headers)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert count_merchants(app) == 0


def test_bd_can_assign_another_bd_but_not_a_non_bd(app, client):
    bd = staff(app, client, Role.BD)
    colleague = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)

    assigned = make_merchant(client, bd, owner_id=colleague.id)
    refused = client.post(
        "/api/v1/merchants",
        headers=bd.headers,
        json={"name": "x", "category": "dining", "owner_id": cs.id},
    )

    assert assigned["owner"]["id"] == colleague.id
    assert refused.status_code == 422 and "owner_id" in refused.get_json()["error"]["fields"]


def test_edit_needs_the_current_version(app, client):
    bd = staff(app, client, Role.BD)
    other_bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    url = f"/api/v1/merchants/{merchant['id']}"

    first = client.patch(
        url, headers=bd.headers, json={"version": merchant["version"], "address": "新地址 8 号"}
    )
    stale = client.patch(
        url,
        headers=other_bd.headers,
        json={"version": merchant["version"], "address": "旧页面的地址"},
    )
    missing = client.patch(url, headers=bd.headers, json={"address": "没有版本"})

    assert first.status_code == 200 and first.get_json()["version"] == merchant["version"] + 1
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"
    assert missing.status_code == 422 and "version" in missing.get_json()["error"]["fields"]
    assert client.get(url, headers=bd.headers).get_json()["address"] == "新地址 8 号"


def test_edits_are_audited_with_before_and_after(app, client):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd, phone="0870-1111111")

    client.patch(
        f"/api/v1/merchants/{merchant['id']}",
        headers=bd.headers,
        json={"version": merchant["version"], "phone": "0870-2222222", "category": "dining"},
    )

    trail = client.get(f"/api/v1/merchants/{merchant['id']}/audit", headers=bd.headers)
    update = trail.get_json()["items"][0]
    assert update["action"] == "merchant.updated"
    assert update["data"] == {
        "phone": {"from": "0870-1111111", "to": "0870-2222222"},
        "category": {"from": "hotpot-bbq", "to": "dining"},
    }


@pytest.fixture
def city(app, client):
    """Six merchants across stages, grades, owners and categories."""
    bd, bd2 = staff(app, client, Role.BD), staff(app, client, Role.BD)
    made = {
        "hotpot": live_merchant(
            client, bd, name="老灶火锅", category="hotpot-bbq", is_headliner=True
        ),
        "bbq": live_merchant(client, bd2, name="望海楼烧烤", category="hotpot-bbq"),
        "tea": make_merchant(
            client,
            bd,
            name="一点点奶茶",
            category="milk-tea-desserts",
            address="昭阳区珠泉路 50_percent% 号",
        ),
        "ktv": make_merchant(client, bd2, name="好乐迪KTV", category="leisure"),
        "kids": live_merchant(client, bd, name="淘气堡儿童乐园", category="kids-family"),
        "spa": make_merchant(client, bd2, name="丽人美容", category="beauty-health"),
    }
    grades = {"hotpot": 5, "bbq": 4, "tea": 3, "kids": 4, "spa": 2}
    for key, grade in grades.items():
        client.post(
            f"/api/v1/merchants/{made[key]['id']}/grades",
            headers=bd.headers,
            json={"grade": grade, "note": "first look"},
        )
    return bd, bd2, {k: v["id"] for k, v in made.items()}


def names(client, bd, query: str) -> list[str]:
    response = client.get(f"/api/v1/merchants?{query}", headers=bd.headers)
    assert response.status_code == 200, response.get_json()
    return sorted(m["name"] for m in response.get_json()["items"])


def test_filters(client, city):
    bd, bd2, _ = city

    assert names(client, bd, "category=hotpot-bbq") == ["望海楼烧烤", "老灶火锅"]
    assert names(client, bd, "stage=live") == ["望海楼烧烤", "淘气堡儿童乐园", "老灶火锅"]
    assert names(client, bd, "grade=4") == ["望海楼烧烤", "淘气堡儿童乐园"]
    assert names(client, bd, "min_grade=4&stage=live") == [
        "望海楼烧烤",
        "淘气堡儿童乐园",
        "老灶火锅",
    ]
    assert names(client, bd, "owner=me") == ["一点点奶茶", "淘气堡儿童乐园", "老灶火锅"]
    assert names(client, bd, f"owner={bd2.id}") == ["丽人美容", "好乐迪KTV", "望海楼烧烤"]
    assert names(client, bd, "headliner=true") == ["老灶火锅"]
    assert names(client, bd, "q=ktv") == ["好乐迪KTV"]  # case-insensitive
    assert names(client, bd, "q=珠泉路") == ["一点点奶茶"]  # address too
    assert names(client, bd, "q=50_percent%25") == ["一点点奶茶"]  # LIKE wildcards are literal
    assert names(client, bd, "q=_") == ["一点点奶茶"]


def test_sort_by_grade_and_pagination(client, city):
    bd, _, _ = city

    page1 = client.get("/api/v1/merchants?sort=grade&page_size=2", headers=bd.headers).get_json()
    page3 = client.get(
        "/api/v1/merchants?sort=grade&page_size=2&page=3", headers=bd.headers
    ).get_json()

    assert page1["total"] == 6 and page1["page"] == 1 and page1["page_size"] == 2
    assert [m["current_grade"] for m in page1["items"]] == [5, 4]
    assert [m["current_grade"] for m in page3["items"]] == [2, None]  # ungraded last


@pytest.mark.parametrize(
    "query", ["page_size=101", "page=0", "grade=6", "stage=famous", "owner=someone", "sort=random"]
)
def test_bad_list_parameters_are_422(client, city, query):
    bd, _, _ = city

    response = client.get(f"/api/v1/merchants?{query}", headers=bd.headers)

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"


def test_listing_costs_the_same_queries_for_3_or_30_merchants(app, client):
    from tests.querycount import count_queries

    bd = staff(app, client, Role.BD)

    def cost() -> int:
        with count_queries(app) as queries:
            assert (
                client.get("/api/v1/merchants?page_size=100", headers=bd.headers).status_code == 200
            )
        return queries.count

    for _ in range(3):
        make_merchant(client, bd)
    # the token's first use writes last_used_at; only the listing itself is measured
    client.get("/api/v1/me", headers=bd.headers)
    small = cost()
    for _ in range(27):
        make_merchant(client, bd)

    assert cost() == small


def test_concurrent_edits_with_the_same_version_let_exactly_one_through(app, client):
    import threading

    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    url = f"/api/v1/merchants/{merchant['id']}"
    barrier = threading.Barrier(6)
    results: list[tuple[int, str]] = []

    def edit(n: int) -> None:
        c = app.test_client()
        barrier.wait()
        response = c.patch(
            url, headers=bd.headers, json={"version": merchant["version"], "address": f"地址 {n}"}
        )
        results.append((response.status_code, (response.get_json().get("error") or {}).get("code")))

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results, key=str) == [(200, None)] + [(409, "stale_version")] * 5
    final = client.get(url, headers=bd.headers).get_json()
    assert final["version"] == merchant["version"] + 1
