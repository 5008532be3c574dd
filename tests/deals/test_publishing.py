"""Publishing slots (10:00 and 15:00 Asia/Shanghai, one deal each) and popup days."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals import publishing, service
from marketplace.deals.errors import MerchantNotLive
from marketplace.deals.models import Deal, DealStatus
from tests.factories import (
    live_deal,
    live_merchant,
    make_deal,
    make_merchant,
    move,
    serving,
    staff,
)


@pytest.fixture
def shop(app, client, clock):  # the clock: Monday 2026-11-23 10:00 in Shanghai
    bd = staff(app, client, Role.BD)
    return bd, live_merchant(client, bd)


def schedule(client, account, deal_id, date, slot):
    return client.post(
        f"/api/v1/deals/{deal_id}/schedule",
        headers=account.headers,
        json={"date": date, "slot": slot},
    )


def test_a_deal_goes_live_at_its_slot_and_not_before(app, client, shop, clock):
    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"])

    scheduled = schedule(client, bd, deal["id"], "2026-11-23", "15:00")
    assert scheduled.status_code == 200, scheduled.get_json()
    assert scheduled.get_json()["status"] == "scheduled"
    assert scheduled.get_json()["publish_at"] == "2026-11-23T15:00:00+08:00"

    with app.app_context():
        early = publishing.publish_due(at=datetime(2026, 11, 23, 6, 59, tzinfo=UTC))
        on_time = publishing.publish_due(at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
        again = publishing.publish_due(at=datetime(2026, 11, 23, 7, 5, tzinfo=UTC))
        db.session.commit()

    assert early.published == [] and on_time.published == [deal["id"]] and again.published == []
    clock.advance(hours=5)
    assert client.get(f"/api/v1/deals/{deal['id']}").get_json()["status"] == "live"


def test_a_late_run_publishes_every_missed_slot(app, client, shop):
    bd, merchant = shop
    first, second = make_deal(client, bd, merchant["id"]), make_deal(client, bd, merchant["id"])
    schedule(client, bd, first["id"], "2026-11-23", "15:00")
    schedule(client, bd, second["id"], "2026-11-24", "10:00")

    with app.app_context():
        report = publishing.publish_due(at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
        db.session.commit()

    assert report.published == [first["id"], second["id"]]


def test_a_deal_whose_merchant_was_suspended_is_held_not_published(app, client, shop):
    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"])
    schedule(client, bd, deal["id"], "2026-11-23", "15:00")
    move(client, bd, merchant["id"], "suspended", reason="卫生整改")

    with app.app_context():
        report = publishing.publish_due(at=datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
        db.session.commit()

    assert report.published == [] and report.held[0][0] == deal["id"]
    staff_view = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers)
    assert staff_view.get_json()["status"] == "scheduled"


def test_one_deal_per_slot(app, client, shop):
    bd, merchant = shop
    first, second = make_deal(client, bd, merchant["id"]), make_deal(client, bd, merchant["id"])
    assert schedule(client, bd, first["id"], "2026-11-24", "10:00").status_code == 200

    clash = schedule(client, bd, second["id"], "2026-11-24", "10:00")
    other_slot = schedule(client, bd, second["id"], "2026-11-24", "15:00")

    assert clash.status_code == 409 and clash.get_json()["error"]["code"] == "slot_taken"
    assert other_slot.status_code == 200


@pytest.mark.parametrize(
    ("date", "slot", "field"),
    [
        ("2026-11-23", "10:00", "date"),  # that slot is now: it has passed
        ("2026-11-22", "15:00", "date"),
        ("2026-11-24", "12:00", "slot"),
        ("2027-03-01", "10:00", "date"),  # more than 60 days ahead
    ],
)
def test_bad_slots_are_422(client, shop, date, slot, field):
    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"])

    response = schedule(client, bd, deal["id"], date, slot)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_only_a_live_merchants_deal_can_be_scheduled(app, client, clock):
    bd = staff(app, client, Role.BD)
    negotiating = make_merchant(client, bd)
    move(client, bd, negotiating["id"], "negotiating")
    deal = make_deal(client, bd, negotiating["id"])

    response = schedule(client, bd, deal["id"], "2026-11-24", "10:00")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "merchant_not_live"


def test_unscheduling_frees_the_slot(client, shop):
    bd, merchant = shop
    first, second = make_deal(client, bd, merchant["id"]), make_deal(client, bd, merchant["id"])
    schedule(client, bd, first["id"], "2026-11-24", "10:00")

    freed = client.delete(f"/api/v1/deals/{first['id']}/schedule", headers=bd.headers)

    assert freed.get_json()["status"] == "draft" and freed.get_json()["publish_at"] is None
    assert schedule(client, bd, second["id"], "2026-11-24", "10:00").status_code == 200


def test_the_slot_calendar_shows_empty_slots_and_days_without_a_deal(client, shop):
    bd, merchant = shop
    a, b = make_deal(client, bd, merchant["id"]), make_deal(client, bd, merchant["id"])
    schedule(client, bd, a["id"], "2026-11-23", "15:00")
    schedule(client, bd, b["id"], "2026-11-25", "10:00")

    response = client.get("/api/v1/publishing-slots?days=3", headers=bd.headers)

    body = response.get_json()
    assert [(s["date"], s["slot"], s["empty"]) for s in body["slots"]] == [
        ("2026-11-23", "10:00", True),
        ("2026-11-23", "15:00", False),
        ("2026-11-24", "10:00", True),
        ("2026-11-24", "15:00", True),
        ("2026-11-25", "10:00", False),
        ("2026-11-25", "15:00", True),
    ]
    assert body["empty_slots"] == 4
    assert body["days_without_a_deal"] == ["2026-11-24"]
    assert body["slots"][1]["deal"]["id"] == a["id"]


def test_popup_days_are_one_deal_each(app, client, shop):
    bd, merchant = shop
    first = live_deal(app, client, bd, merchant["id"])
    second = live_deal(app, client, bd, merchant["id"])

    booked = client.post(
        "/api/v1/popup-bookings",
        headers=bd.headers,
        json={"deal_id": first["id"], "date": "2026-11-28", "note": "谈判承诺"},
    )
    clash = client.post(
        "/api/v1/popup-bookings",
        headers=bd.headers,
        json={"deal_id": second["id"], "date": "2026-11-28"},
    )
    past = client.post(
        "/api/v1/popup-bookings",
        headers=bd.headers,
        json={"deal_id": second["id"], "date": "2026-11-22"},
    )

    assert booked.status_code == 201 and booked.get_json()["note"] == "谈判承诺"
    assert clash.status_code == 409 and clash.get_json()["error"]["code"] == "popup_day_taken"
    assert past.status_code == 422
    listed = client.get("/api/v1/popup-bookings", headers=bd.headers).get_json()
    assert [(b["date"], b["deal"]["id"]) for b in listed["items"]] == [("2026-11-28", first["id"])]

    cancelled = client.delete(
        f"/api/v1/popup-bookings/{booked.get_json()['id']}", headers=bd.headers
    )
    assert cancelled.status_code == 204
    assert (
        client.post(
            "/api/v1/popup-bookings",
            headers=bd.headers,
            json={"deal_id": second["id"], "date": "2026-11-28"},
        ).status_code
        == 201
    )


def test_concurrent_bookings_of_one_slot_let_one_through(app, client, shop):
    import threading

    bd, merchant = shop
    deals = [make_deal(client, bd, merchant["id"]) for _ in range(5)]
    barrier = threading.Barrier(len(deals))
    statuses: list[int] = []

    def book(deal_id: int) -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(schedule(c, bd, deal_id, "2026-11-30", "10:00").status_code)

    threads = [threading.Thread(target=book, args=(d["id"],)) for d in deals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [200, 409, 409, 409, 409]


def test_a_sold_out_deal_is_not_on_sale_and_leaves_the_popup(app, client, shop):
    """ "On sale" includes having units (the status carries it), so the popup needs no stock
    condition of its own: the day's deal selling its last unit is replaced."""
    import sqlalchemy as sa

    from marketplace.core.clock import now
    from marketplace.deals import inventory, popup
    from marketplace.deals.availability import on_sale
    from marketplace.deals.models import Deal

    bd, merchant = shop
    first = live_deal(app, client, bd, merchant["id"], stock=1)
    second = live_deal(app, client, bd, merchant["id"])
    with app.app_context():
        assert popup.ensure().deal_id == first["id"]  # least recently featured, lowest id
        inventory.take(db.session.get(Deal, first["id"]), 1)
        on_sale_ids = db.session.scalars(
            sa.select(Deal.id).join(Deal.merchant).where(*on_sale(now()))
        ).all()

        assert db.session.get(Deal, first["id"]).status == "sold_out"
        assert on_sale_ids == [second["id"]]
        assert popup.ensure().deal_id == second["id"]
        db.session.rollback()


def test_the_sql_twin_of_the_live_merchant_rule_says_what_the_rule_says(app, client, clock):
    """``service.of_live_merchants`` (the calendar's choices) offers exactly the deals
    ``ensure_merchant_live`` would let into a slot, whatever the merchant's stage."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = make_deal(client, bd, merchant["id"])
    seen = {}
    for stage in ("live", "suspended", "live", "churned"):
        if stage != "live" or seen:
            assert move(client, bd, merchant["id"], stage).status_code == 200, stage
        with serving(app):
            found = db.session.get(Deal, deal["id"])
            try:
                service.ensure_merchant_live(found)
                allowed = True
            except MerchantNotLive:
                allowed = False
            offered = found in service.of_live_merchants(DealStatus.DRAFT, 10)
            seen[stage] = (allowed, offered)
            assert allowed == offered, stage
    assert seen == {"live": (True, True), "suspended": (False, False), "churned": (False, False)}
