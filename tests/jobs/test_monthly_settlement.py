"""The monthly close runs by itself: on the schedule (the 1st at 02:00 Asia/Shanghai), it
computes last month's streak bonuses and then settles last month, so the bonuses are on
the statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from redis import Redis
from rq.cron import CronScheduler

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.distribution.models import MomentsProof
from marketplace.jobs.schedule import BY_NAME
from marketplace.settlement.models import Statement
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import live_deal, live_merchant, portal_account, quick_shopper, staff

DECEMBER_1ST_0200 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 Dec in Shanghai


def test_the_schedule_holds_the_monthly_settlement_on_the_1st_at_0200(app, client, clock):
    scheduler = CronScheduler(connection=Redis.from_url(app.config["LINLI_REDIS_URL"]))
    scheduler.load_config_from_file("marketplace.jobs.cron_config")
    registered = {job.name: job for job in scheduler.get_jobs()}
    admin = staff(app, client, Role.ADMIN)

    listed = client.get("/api/v1/ops/jobs", headers=admin.headers).get_json()["jobs"]

    assert BY_NAME["monthly_settlement"].cron == "0 2 1 * *"
    assert registered["monthly_settlement"].cron == "0 2 1 * *"
    assert registered["monthly_settlement"].args == ("monthly_settlement",)
    job = next(j for j in listed if j["name"] == "monthly_settlement")
    assert job["next_run"] == "2026-12-01T02:00:00+08:00"


def test_the_job_settles_last_month_with_its_streak_bonuses(
    app, client, clock, live_server, worker
):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"], "small_set")
    clerk = portal_account(app, client, bd, shop["id"], "clerk")
    seller, seller_row = new_distributor(app, client)
    with app.app_context():  # verified Moments proofs 14–23 November: a 10-day run
        for n in range(10):
            db.session.add(
                MomentsProof(
                    distributor_id=seller_row["id"],
                    day=date(2026, 11, 14) + timedelta(days=n),
                    file_key=f"moments/x/{n}.png",
                    status="verified",
                )
            )
        db.session.commit()
    shopper = quick_shopper(app)
    purchase(app, client, shopper, deal["id"], 1, ref=link(client, seller))  # 23 Nov, in the run
    code = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"][0]["code"]
    assert client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerk.headers).status_code == 200
    clock.set(DECEMBER_1ST_0200)

    worker("monthly_settlement")
    worker("monthly_settlement")  # late or twice: nothing changes

    with app.app_context():
        made = db.session.scalars(sa.select(Statement).order_by(Statement.party_type)).all()
        summary = [
            (s.period, s.party_type, s.total, sorted((line.kind, line.amount) for line in s.lines))
            for s in made
        ]
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    assert summary == [
        ("2026-11", "distributor", 800 + 200, [("level1", 800), ("streak_bonus", 200)]),
        ("2026-11", "merchant", 12800, [("redemption", 12800)]),
    ]
    assert redis.hget("linli:jobs:monthly_settlement", "last_ok") == b"1"
