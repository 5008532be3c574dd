"""BD revisits and the overdue follow-up list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.accounts.models import Role
from tests.factories import make_merchant, move, staff


def visit(client, bd, merchant_id, **body):
    payload = {"visited_on": "2026-11-20", "channel": "visit", "notes": "老板说周末人多", **body}
    return client.post(f"/api/v1/merchants/{merchant_id}/visits", headers=bd.headers, json=payload)


def overdue(client, bd, query: str = "") -> list[tuple[str, str]]:
    response = client.get(f"/api/v1/merchants/overdue-follow-ups?{query}", headers=bd.headers)
    assert response.status_code == 200, response.get_json()
    return [(m["name"], m["follow_up_due"]) for m in response.get_json()["items"]]


def test_visits_are_logged_newest_first(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    visit(client, bd, merchant["id"], visited_on="2026-11-01", channel="call", notes="想做秒杀")
    visit(
        client,
        bd,
        merchant["id"],
        visited_on="2026-11-15",
        channel="wechat",
        notes="担心结算周期",
        follow_up_due="2026-11-30",
    )

    log = client.get(f"/api/v1/merchants/{merchant['id']}/visits", headers=bd.headers)
    assert [(v["visited_on"], v["channel"]) for v in log.get_json()] == [
        ("2026-11-15", "wechat"),
        ("2026-11-01", "call"),
    ]
    assert log.get_json()[0]["recorded_by"]["id"] == bd.id
    detail = client.get(f"/api/v1/merchants/{merchant['id']}", headers=bd.headers).get_json()
    assert detail["follow_up_due"] == "2026-11-30"


def test_overdue_means_before_today_in_shanghai(app, client, clock):
    # 16:30 UTC on the 22nd is 00:30 on the 23rd in Shanghai: "today" is the 23rd.
    clock.set(datetime(2026, 11, 22, 16, 30, tzinfo=UTC))
    bd = staff(app, client, Role.BD)
    late = make_merchant(client, bd, name="过期一天")
    today = make_merchant(client, bd, name="今天到期")
    later = make_merchant(client, bd, name="下周到期")
    none = make_merchant(client, bd, name="无需跟进")
    visit(client, bd, late["id"], follow_up_due="2026-11-22")
    visit(client, bd, today["id"], follow_up_due="2026-11-23")
    visit(client, bd, later["id"], follow_up_due="2026-11-30")
    visit(client, bd, none["id"])

    assert overdue(client, bd) == [("过期一天", "2026-11-22")]


def test_most_overdue_first_and_filtered_by_owner(app, client, clock):
    bd = staff(app, client, Role.BD)
    bd2 = staff(app, client, Role.BD)
    a = make_merchant(client, bd, name="A店")
    b = make_merchant(client, bd2, name="B店")
    visit(client, bd, a["id"], visited_on="2026-11-01", follow_up_due="2026-11-10")
    visit(client, bd2, b["id"], visited_on="2026-11-01", follow_up_due="2026-11-05")

    assert overdue(client, bd) == [("B店", "2026-11-05"), ("A店", "2026-11-10")]
    assert overdue(client, bd, "owner=me") == [("A店", "2026-11-10")]
    assert overdue(client, bd, f"owner={bd2.id}") == [("B店", "2026-11-05")]


def test_a_later_visit_replaces_the_promised_follow_up(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd, name="回访过")
    visit(client, bd, merchant["id"], visited_on="2026-11-01", follow_up_due="2026-11-10")
    assert overdue(client, bd) == [("回访过", "2026-11-10")]

    visit(client, bd, merchant["id"], visited_on="2026-11-22", notes="已解决")

    assert overdue(client, bd) == []


def test_an_older_visit_logged_late_does_not_replace_the_latest(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd, name="补录")
    visit(client, bd, merchant["id"], visited_on="2026-11-20", follow_up_due="2026-11-21")

    visit(client, bd, merchant["id"], visited_on="2026-11-02", notes="补录上次电话")

    assert overdue(client, bd) == [("补录", "2026-11-21")]


def test_churned_merchants_are_not_chased(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    visit(client, bd, merchant["id"], follow_up_due="2026-11-21")
    move(client, bd, merchant["id"], "churned", reason="关店")

    assert overdue(client, bd) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"visited_on": "2026-11-24"}, "visited_on"),
        ({"follow_up_due": "2026-11-19"}, "follow_up_due"),
        ({"channel": "pigeon"}, "channel"),
        ({"notes": ""}, "notes"),
        ({"visited_on": "20/11/2026"}, "visited_on"),
    ],
)
def test_bad_visits_are_422(app, client, clock, body, field):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)

    response = visit(client, bd, merchant["id"], **body)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert (
        client.get(f"/api/v1/merchants/{merchant['id']}/visits", headers=bd.headers).get_json()
        == []
    )
