"""The popup rotation, publishing and pushes, run as RQ jobs by a real worker (burst mode)
against real Redis, with the app's clock under the test's control."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue, SimpleWorker

from marketplace.accounts.models import Role
from marketplace.core.clock import local_today
from marketplace.core.db import db
from marketplace.deals.popup import PopupDay
from marketplace.jobs import tasks
from marketplace.jobs.schedule import QUEUE
from tests.factories import live_deal, live_merchant, make_deal, staff


def popups(app) -> list[tuple[date, int, str]]:
    with app.app_context():
        return [
            (p.day, p.deal_id, p.source)
            for p in db.session.scalars(sa.select(PopupDay).order_by(PopupDay.day))
        ]


@pytest.fixture
def five_deals(app, client, clock):
    bd = staff(app, client, Role.BD)
    headliner = live_merchant(client, bd, name="头部火锅", is_headliner=True)
    others = [live_merchant(client, bd, name=f"店{n}") for n in range(2)]
    grades = {others[0]["id"]: 5, others[1]["id"]: 3}
    for merchant_id, grade in grades.items():
        client.post(
            f"/api/v1/merchants/{merchant_id}/grades",
            headers=bd.headers,
            json={"grade": grade, "note": "n"},
        )
    deals = [
        live_deal(app, client, bd, headliner["id"], validity_days=60),
        live_deal(app, client, bd, others[0]["id"]),
        live_deal(app, client, bd, others[0]["id"]),
        live_deal(app, client, bd, others[1]["id"]),
        live_deal(app, client, bd, others[1]["id"]),
    ]
    return bd, [d["id"] for d in deals]


def test_rotation_is_fair_over_30_days(app, client, five_deals, worker, clock):
    _, ids = five_deals

    for _ in range(30):
        worker("popup_rotation")
        clock.advance(days=1)

    days = popups(app)
    chosen = [deal for _, deal, _ in days]
    assert len(days) == 30 and [d for d, _, _ in days] == sorted({d for d, _, _ in days})
    assert Counter(chosen) == {deal: 6 for deal in ids}  # everyone featured equally
    assert all(a != b for a, b in pairwise(chosen))  # never the same deal twice running
    # first round: the headliner, then higher grades first
    assert chosen[:5] == [ids[0], ids[1], ids[2], ids[3], ids[4]]


def test_a_booking_wins_its_day_and_a_second_run_changes_nothing(app, client, five_deals, worker):
    bd, ids = five_deals
    client.post(
        "/api/v1/popup-bookings", headers=bd.headers, json={"deal_id": ids[4], "date": "2026-11-23"}
    )

    worker("popup_rotation", "popup_rotation")

    assert popups(app) == [(date(2026, 11, 23), ids[4], "booked")]
    assert client.get("/api/v1/home").get_json()["popup"]["id"] == ids[4]


def test_a_missed_day_is_filled_when_the_scheduler_returns(app, client, five_deals, worker, clock):
    worker("popup_rotation")
    clock.advance(days=3)  # the scheduler was down for two days

    worker("popup_rotation")

    assert [d for d, _, _ in popups(app)] == [date(2026, 11, 23), date(2026, 11, 26)]
    assert client.get("/api/v1/home").get_json()["popup"] is not None


def test_a_paused_popup_is_replaced_at_once(app, client, five_deals, worker):
    bd, _ = five_deals
    worker("popup_rotation")
    today = popups(app)[0][1]

    client.post(f"/api/v1/deals/{today}/pause", headers=bd.headers, json={})
    worker("popup_rotation")

    replaced = popups(app)
    assert len(replaced) == 1 and replaced[0][1] != today
    with app.app_context():
        assert db.session.scalars(sa.select(PopupDay.replaced_deal_id)).one() == today
    assert client.get("/api/v1/home").get_json()["popup"]["id"] == replaced[0][1]


def test_publishing_job_at_the_slot_and_the_empty_slot_alert(app, client, clock, worker):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = make_deal(client, bd, merchant["id"])
    client.post(
        f"/api/v1/deals/{deal['id']}/schedule",
        headers=bd.headers,
        json={"date": "2026-11-24", "slot": "10:00"},
    )

    clock.set(clock.now().replace(hour=12))  # 20:00 the evening before
    worker("empty_slot_alert")
    clock.advance(hours=13, minutes=59)  # 09:59 on the day
    worker("publish_slots")
    before = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=_fresh(app, bd)).get_json()
    clock.advance(minutes=1)
    worker("publish_slots")
    after = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=_fresh(app, bd)).get_json()

    sent = app.extensions["linli.notifier"].sent
    assert sent == [("team", "**明天 2026-11-24 还有空的上新时段:15:00**(不可断更)")]
    assert (before["status"], after["status"]) == ("scheduled", "live")


def test_the_weekly_page_and_pushes(app, client, clock, worker):
    from marketplace.deals import service as deals

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    popular = live_deal(app, client, bd, merchant["id"], title="爆款套餐")
    rich = live_deal(app, client, bd, merchant["id"], "large_set", title="高佣大套餐")
    live_deal(app, client, bd, merchant["id"], title="冷门套餐")
    with app.app_context():
        deals.record_sale(deals.get_deal(popular["id"]), 30, day=local_today())
        deals.record_sale(deals.get_deal(rich["id"]), 3, day=local_today() - timedelta(days=3))
        deals.record_sale(deals.get_deal(rich["id"]), 50, day=local_today() - timedelta(days=9))
        db.session.commit()

    worker("weekly_hot_page", "weekly_hits_push", "category_digest")

    page = client.get("/api/v1/weekly-hot").get_json()
    assert [(i["title"], i["sold_last_7_days"]) for i in page["hot"]][:2] == [
        ("爆款套餐", 30),
        ("高佣大套餐", 3),
    ]
    assert page["high_commission"][0]["title"] == "高佣大套餐"
    channels = [channel for channel, _ in app.extensions["linli.notifier"].sent]
    assert sorted(channels) == ["community", "official_account", "wecom"]


def test_a_failing_job_is_retried_and_recorded(app, client, worker, monkeypatch):
    from marketplace.jobs import schedule

    def broken():
        raise RuntimeError("the provider is down")

    monkeypatch.setitem(
        schedule.BY_NAME,
        "retry_refunds",
        schedule.ScheduledJob("retry_refunds", "d", broken, cron="* * * * *", retries=(0,)),
    )
    monkeypatch.setattr(tasks, "BY_NAME", schedule.BY_NAME)

    worker("retry_refunds")
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(
        burst=True, with_scheduler=True
    )

    admin = staff(app, client, Role.ADMIN)
    status = client.get("/api/v1/ops/jobs", headers=admin.headers).get_json()
    job = next(j for j in status["jobs"] if j["name"] == "retry_refunds")
    assert job["last_ok"] is False
    assert job["recent_failures"][0]["error"] == "RuntimeError: the provider is down"
    assert len(job["recent_failures"]) == 2  # the first run and its retry
    assert status["failed_in_rq"] == 1


def _fresh(app, account):
    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import User

    with app.app_context():
        issued = accounts.issue_token(db.session.get(User, account.id))
        db.session.commit()
        return {"Authorization": f"Bearer {issued.token}"}
