"""Moments streak bonus: ≥10 verified days in a row pay ¥2 per converted order, ≥30 ¥3."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.distribution import streaks
from marketplace.distribution.models import Distributor, MomentsProof
from marketplace.orders.attribution import converted_orders
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import quick_shopper, staff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def verified_days(app, distributor_id: int, days: list[date]) -> None:
    with app.app_context():
        for day in days:
            db.session.add(
                MomentsProof(
                    distributor_id=distributor_id,
                    day=day,
                    file_key=f"moments/x/{day}.png",
                    status="verified",
                )
            )
        db.session.commit()


def converted_order_on(app, client, clock, shop, ref_account, day: date) -> None:
    clock.set(datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4))
    purchase(app, client, quick_shopper(app), shop["deal"]["id"], ref=link(client, ref_account))


def bonus(app, distributor_id: int, month: str = "2026-11") -> int:
    with app.app_context():
        distributor = db.session.get(Distributor, distributor_id)
        entry = streaks.compute_streak_bonus(distributor, month, converted_orders)
        db.session.commit()
        return entry.amount if entry else 0


def days(start: int, count: int) -> list[date]:
    return [date(2026, 11, start) + timedelta(days=n) for n in range(count)]


@pytest.mark.parametrize(("run", "expected"), [(9, 0), (10, 200), (29, 200), (30, 300)])
def test_streak_boundaries(app, client, shop, clock, run, expected):
    account, row = new_distributor(app, client)
    verified_days(app, row["id"], days(1, run))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 5))

    assert bonus(app, row["id"]) == expected


def test_a_gap_resets_the_run_and_orders_outside_runs_do_not_count(app, client, shop, clock):
    account, row = new_distributor(app, client)
    # 1–9 verified, a gap on the 10th, 11–20 verified: only the second run counts
    verified_days(app, row["id"], days(1, 9) + days(11, 10))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 3))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 12))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 15))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 25))

    assert bonus(app, row["id"]) == 2 * 200


def test_the_bonus_is_an_entry_of_its_own_and_recomputing_replaces_it(app, client, shop, clock):
    account, row = new_distributor(app, client)
    verified_days(app, row["id"], days(1, 10))
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 2))
    assert bonus(app, row["id"]) == 200
    converted_order_on(app, client, clock, shop, account, date(2026, 11, 3))

    assert bonus(app, row["id"]) == 400
    with app.app_context():
        from marketplace.distribution.models import CommissionEntry

        kinds = db.session.scalars(
            sa.select(CommissionEntry.kind).where(CommissionEntry.kind == "streak_bonus")
        ).all()
        assert kinds == ["streak_bonus"]


def test_proofs_need_verified_friends_and_a_review(app, client, shop, clock):
    cs = staff(app, client, Role.CS)
    account, row = new_distributor(app, client)

    def submit(day: str):
        return client.post(
            "/api/v1/distributors/me/moments",
            headers=account.headers,
            data={"day": day, "file": (io.BytesIO(PNG), "m.png")},
            content_type="multipart/form-data",
        )

    unverified = submit("2026-11-23")
    client.patch(
        f"/api/v1/distributors/{row['id']}", json={"wechat_friends": 1500}, headers=cs.headers
    )
    accepted = submit("2026-11-23")
    duplicate = submit("2026-11-23")
    future = submit("2026-11-24")
    reviewed = client.post(
        f"/api/v1/moments/{accepted.get_json()['id']}/review",
        json={"verified": True},
        headers=cs.headers,
    )

    assert unverified.status_code == 409
    assert unverified.get_json()["error"]["code"] == "friends_not_verified"
    assert accepted.status_code == 201 and accepted.get_json()["status"] == "submitted"
    assert duplicate.get_json()["error"]["code"] == "proof_exists"
    assert future.status_code == 422
    assert reviewed.get_json()["status"] == "verified"


def test_fewer_than_1000_friends_earn_no_streak(app, client, shop):
    cs = staff(app, client, Role.CS)
    account, row = new_distributor(app, client)
    client.patch(
        f"/api/v1/distributors/{row['id']}", json={"wechat_friends": 999}, headers=cs.headers
    )

    response = client.post(
        "/api/v1/distributors/me/moments",
        headers=account.headers,
        data={"day": "2026-11-23", "file": (io.BytesIO(PNG), "m.png")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 409
