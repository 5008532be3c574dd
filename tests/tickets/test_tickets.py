"""Tickets: opening, SLA deadlines, breaches, replies, the CS dashboard, privacy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.accounts.models import Role
from marketplace.tickets import service
from tests.factories import live_merchant, portal_account, quick_shopper, staff


def open_ticket(client, account, **extra):
    body = {"kind": "complaint", "subject": "券码无法核销", "body": "店员说系统不认", **extra}
    return client.post("/api/v1/tickets", json=body, headers=account.headers)


@pytest.fixture
def people(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    return {
        "shopper": quick_shopper(app),
        "cs": staff(app, client, Role.CS),
        "owner": portal_account(app, client, bd, merchant["id"], "owner"),
    }


def test_deadlines_by_who_opens_and_urgency(client, people):
    shopper = open_ticket(client, people["shopper"]).get_json()
    merchant = open_ticket(client, people["owner"], kind="question").get_json()
    urgent = open_ticket(client, people["owner"], urgent=True).get_json()
    not_allowed = open_ticket(client, people["shopper"], urgent=True)

    assert shopper["first_response_due_at"] == "2026-11-23T10:01:00+08:00"
    assert merchant["first_response_due_at"] == "2026-11-23T10:05:00+08:00"
    assert urgent["first_response_due_at"] == "2026-11-23T10:01:00+08:00"
    assert not_allowed.status_code == 422


def test_a_late_evening_ticket_is_due_the_next_morning(app, client, people, clock):
    clock.set(datetime(2026, 11, 23, 14, 59, 30, tzinfo=UTC))  # 22:59:30 Shanghai

    ticket = open_ticket(client, people["shopper"]).get_json()

    assert ticket["first_response_due_at"] == "2026-11-24T09:00:30+08:00"
    clock.set(datetime(2026, 11, 23, 20, 0, tzinfo=UTC))  # 04:00: nobody is late yet
    with app.app_context():
        assert service.flag_breaches() == 0


def test_breaches_are_flagged_once_and_reported_to_cs(app, client, people, clock):
    ticket = open_ticket(client, people["shopper"]).get_json()
    answered = open_ticket(client, people["shopper"]).get_json()
    client.post(
        f"/api/v1/tickets/{answered['id']}/replies",
        json={"body": "您好,马上处理"},
        headers=people["cs"].headers,
    )

    clock.advance(seconds=61)
    with app.app_context():
        first = service.flag_breaches()
        from marketplace.core.db import db

        db.session.commit()
        second = service.flag_breaches()
        db.session.commit()

    assert (first, second) == (1, 0)
    sent = app.extensions["linli.notifier"].sent
    assert len(sent) == 1 and sent[0][0] == "cs" and f"#{ticket['id']}" in sent[0][1]
    shown = client.get(f"/api/v1/tickets/{ticket['id']}", headers=people["shopper"].headers)
    assert shown.get_json()["breached_at"] is not None


def test_conversation_and_agents_response_times(app, client, people, clock):
    ticket = open_ticket(client, people["shopper"]).get_json()
    clock.advance(seconds=40)

    answered = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"body": "已联系商家"},
        headers=people["cs"].headers,
    )
    follow_up = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"body": "谢谢"},
        headers=people["shopper"].headers,
    )
    closed = client.post(f"/api/v1/tickets/{ticket['id']}/close", headers=people["cs"].headers)

    assert answered.get_json()["status"] == "answered"
    assert follow_up.get_json()["status"] == "open"
    assert closed.get_json()["status"] == "closed"
    assert [m["from_staff"] for m in closed.get_json()["messages"]] == [False, True, False]
    dashboard = client.get("/api/v1/tickets/dashboard", headers=people["cs"].headers).get_json()
    assert dashboard["agents"][0]["average_first_response_seconds"] == 40
    assert dashboard["agents"][0]["agent_id"] == people["cs"].id


def test_the_dashboard_orders_waiting_tickets_by_time_left(client, people, clock):
    merchant = open_ticket(client, people["owner"]).get_json()  # 5 minutes
    clock.advance(seconds=30)
    shopper = open_ticket(client, people["shopper"]).get_json()  # 1 minute

    dashboard = client.get("/api/v1/tickets/dashboard", headers=people["cs"].headers).get_json()

    assert [(t["ticket"]["id"], t["seconds_left"]) for t in dashboard["open_tickets"]] == [
        (shopper["id"], 60),
        (merchant["id"], 270),
    ]


def test_tickets_are_private(app, client, people):
    ticket = open_ticket(client, people["shopper"]).get_json()
    other = quick_shopper(app)

    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=other.headers).status_code == 404
    assert (
        client.post(
            f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "x"}, headers=other.headers
        ).status_code
        == 404
    )
    assert client.get("/api/v1/tickets", headers=other.headers).get_json()["total"] == 0
    assert client.get("/api/v1/tickets", headers=people["cs"].headers).get_json()["total"] == 1
    assert client.get("/api/v1/tickets/dashboard", headers=other.headers).status_code == 403
