"""Campaigns and entries: the rules of taking part, through the API on both databases."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.giveaway.models import Campaign, Entry
from tests.factories import PNG, live_deal, staff
from tests.giveaway.conftest import code_of, enter, open_campaign, review, screenshot


def test_bd_opens_a_campaign_of_5_to_10_meals_for_24_hours_by_default(client, world, shoppers):
    bd, deal = world["bd"], world["deal"]
    for meals in (4, 11):
        response = client.post(
            "/api/v1/giveaways",
            json={"deal_id": deal["id"], "meals": meals, "payer": "platform"},
            headers=bd.headers,
        )
        assert response.status_code == 422
    bad_payer = client.post(
        "/api/v1/giveaways",
        json={"deal_id": deal["id"], "meals": 5, "payer": "nobody"},
        headers=bd.headers,
    )
    assert bad_payer.status_code == 422
    (shopper,) = shoppers(1)
    as_shopper = client.post(
        "/api/v1/giveaways",
        json={"deal_id": deal["id"], "meals": 5, "payer": "merchant"},
        headers=shopper.headers,
    )
    assert as_shopper.status_code == 403
    as_cs = client.post(
        "/api/v1/giveaways",
        json={"deal_id": deal["id"], "meals": 5, "payer": "merchant"},
        headers=world["cs"].headers,
    )
    assert as_cs.status_code == 403

    campaign = open_campaign(client, world, meals=7, payer="merchant")

    assert campaign["meals"] == 7 and campaign["payer"] == "merchant"
    assert campaign["status"] == "open" and campaign["taking_entries"] is True
    assert campaign["seconds_left"] == 24 * 3600
    assert campaign["merchant_id"] == world["shop"]["id"]
    public = client.get(f"/api/v1/giveaways/{campaign['id']}").get_json()
    assert public["winners"] == [] and public["deal_title"] == deal["title"]


def test_a_shopper_enters_once_with_a_screenshot_and_sees_the_entry(app, client, world, shoppers):
    campaign = open_campaign(client, world)
    (shopper,) = shoppers(1)

    first = enter(client, shopper, campaign["id"], likes=42)
    again = enter(client, shopper, campaign["id"], likes=50)

    assert first.status_code == 201, first.get_json()
    assert first.get_json()["status"] == "submitted" and first.get_json()["claimed_likes"] == 42
    assert (again.status_code, code_of(again)) == (409, "giveaway_already_entered")
    mine = client.get(f"/api/v1/giveaways/{campaign['id']}/entries/me", headers=shopper.headers)
    assert mine.status_code == 200 and mine.get_json()["id"] == first.get_json()["id"]
    image = client.get(
        f"/api/v1/giveaway-entries/{first.get_json()['id']}/screenshot", headers=shopper.headers
    )
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(PNG)


def test_one_entry_per_shopper_is_a_constraint_of_the_table(app, client, world, shoppers):
    campaign = open_campaign(client, world)
    (shopper,) = shoppers(1)
    assert enter(client, shopper, campaign["id"]).status_code == 201

    with app.app_context():
        db.session.add(
            Entry(
                campaign_id=campaign["id"],
                shopper_id=shopper.id,
                file_key="x.png",
                image_sha256="f" * 64,
                claimed_likes=1,
            )
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_the_same_image_twice_is_caught_by_its_hash(app, client, world, shoppers):
    campaign = open_campaign(client, world)
    one, two = shoppers(2)
    image = screenshot()

    assert enter(client, one, campaign["id"], image=image).status_code == 201
    copied = enter(client, two, campaign["id"], image=image)

    assert (copied.status_code, code_of(copied)) == (409, "giveaway_same_screenshot")
    assert enter(client, two, campaign["id"]).status_code == 201  # their own screenshot
    (third,) = shoppers(1)
    with app.app_context():
        digest = db.session.scalar(sa.select(Entry.image_sha256).where(Entry.shopper_id == one.id))
        db.session.add(
            Entry(
                campaign_id=campaign["id"],
                shopper_id=third.id,
                file_key="y.png",
                image_sha256=digest,
                claimed_likes=1,
            )
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_the_same_image_may_enter_another_campaign(app, client, world, shoppers):
    other_deal = live_deal(app, client, world["bd"], world["shop"]["id"])
    first = open_campaign(client, world)
    second = open_campaign(client, world, deal_id=other_deal["id"])
    (shopper,) = shoppers(1)
    image = screenshot()

    assert enter(client, shopper, first["id"], image=image).status_code == 201
    assert enter(client, shopper, second["id"], image=image).status_code == 201


def test_only_an_image_of_at_most_5_mib_is_taken(client, world, shoppers):
    campaign = open_campaign(client, world)
    (shopper,) = shoppers(1)

    not_image = enter(client, shopper, campaign["id"], image=b"%PDF-1.4 not an image")
    too_large = enter(client, shopper, campaign["id"], image=PNG + b"\x00" * (5 * 1024 * 1024))
    negative = enter(client, shopper, campaign["id"], likes=-1)

    assert (not_image.status_code, code_of(not_image)) == (422, "file_type_not_allowed")
    assert (too_large.status_code, code_of(too_large)) == (413, "file_too_large")
    assert negative.status_code == 422
    assert enter(client, shopper, campaign["id"]).status_code == 201  # nothing was kept


def test_entries_are_refused_once_the_window_has_closed(client, clock, world, shoppers):
    campaign = open_campaign(client, world)
    early, late = shoppers(2)
    clock.advance(hours=23, minutes=59)
    assert enter(client, early, campaign["id"]).status_code == 201

    clock.advance(minutes=1)
    refused = enter(client, late, campaign["id"])

    assert (refused.status_code, code_of(refused)) == (409, "giveaway_window_closed")
    shown = client.get(f"/api/v1/giveaways/{campaign['id']}").get_json()
    assert shown["taking_entries"] is False and shown["seconds_left"] == 0


def test_a_shopper_must_log_in_and_sees_only_their_own_screenshot(client, world, shoppers):
    campaign = open_campaign(client, world)
    one, two = shoppers(2)
    entry = enter(client, one, campaign["id"]).get_json()

    anonymous = client.post(f"/api/v1/giveaways/{campaign['id']}/entries", data={"likes": "1"})
    theirs = client.get(f"/api/v1/giveaway-entries/{entry['id']}/screenshot", headers=two.headers)
    staff_view = client.get(
        f"/api/v1/giveaway-entries/{entry['id']}/screenshot", headers=world["cs"].headers
    )

    assert anonymous.status_code == 401
    assert theirs.status_code == 404
    assert staff_view.status_code == 200


def test_customer_service_verifies_with_likes_or_rejects_with_a_reason_audited(
    app, client, world, shoppers
):
    campaign = open_campaign(client, world)
    one, two = shoppers(2)
    first = enter(client, one, campaign["id"], likes=30).get_json()
    second = enter(client, two, campaign["id"], likes=99).get_json()
    cs = world["cs"]

    no_likes = review(client, cs, first["id"], verified=True)
    no_reason = review(client, cs, second["id"], verified=False)
    by_shopper = review(client, one, first["id"], verified=True, likes=30)
    by_bd = review(client, world["bd"], first["id"], verified=True, likes=30)
    verified = review(client, cs, first["id"], verified=True, likes=28)
    rejected = review(client, cs, second["id"], verified=False, reason="截图不是本活动的团购")

    assert no_likes.status_code == 422 and no_reason.status_code == 422
    assert by_shopper.status_code == 403 and by_bd.status_code == 403
    assert verified.status_code == 200
    assert verified.get_json()["status"] == "verified"
    assert verified.get_json()["verified_likes"] == 28
    assert rejected.get_json()["status"] == "rejected"
    assert rejected.get_json()["reason"] == "截图不是本活动的团购"
    mine = client.get(f"/api/v1/giveaways/{campaign['id']}/entries/me", headers=two.headers)
    assert mine.get_json()["status"] == "rejected"
    with app.app_context():
        trail = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.reason)
            .where(AuditEvent.entity_type == "giveaway_entry")
            .where(AuditEvent.action.in_(["giveaway.verified", "giveaway.rejected"]))
            .order_by(AuditEvent.id)
        ).all()
    assert trail == [
        ("giveaway.verified", cs.id, None),
        ("giveaway.rejected", cs.id, "截图不是本活动的团购"),
    ]


def test_the_ranking_is_by_verified_likes_ties_by_the_earlier_entry(client, clock, world, shoppers):
    campaign = open_campaign(client, world)
    people = shoppers(5)
    ids = []
    for person, claimed in zip(people, (500, 20, 20, 90, 5), strict=True):
        ids.append(enter(client, person, campaign["id"], likes=claimed).get_json()["id"])
        clock.advance(minutes=1)
    cs = world["cs"]
    review(client, cs, ids[0], verified=True, likes=10)  # claimed 500: CS counted 10
    review(client, cs, ids[1], verified=True, likes=20)
    review(client, cs, ids[2], verified=True, likes=20)  # same likes, a minute later
    review(client, cs, ids[3], verified=False, reason="点赞截图是别人的")
    # ids[4]: not reviewed, not ranked

    ranked = client.get(
        f"/api/v1/giveaways/{campaign['id']}/ranking", headers=cs.headers
    ).get_json()

    assert [e["id"] for e in ranked["items"]] == [ids[1], ids[2], ids[0]]
    assert ranked["total"] == 3
    listed = client.get(
        f"/api/v1/giveaways/{campaign['id']}/entries?status=submitted", headers=cs.headers
    ).get_json()
    assert [e["id"] for e in listed["items"]] == [ids[4]]
    assert (
        client.get(
            f"/api/v1/giveaways/{campaign['id']}/ranking", headers=people[0].headers
        ).status_code
        == 403
    )


def test_two_entries_of_one_shopper_at_the_same_moment_make_one(app, client, world, shoppers):
    """The campaign's row lock (taken first by ``submit_entry``) serialises the two: the
    second sees the first's entry and is told why (409, not a 500); one entry is stored.
    The unique constraints are the last guard behind the lock (tested above)."""
    import threading

    campaign = open_campaign(client, world)
    (shopper,) = shoppers(1)
    start = threading.Barrier(2)
    answers = []

    def attempt() -> None:
        own = app.test_client()
        start.wait()
        response = enter(own, shopper, campaign["id"])
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _ in answers) == [201, 409]
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"]["code"] == "giveaway_already_entered"
    with app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Entry).where(Entry.shopper_id == shopper.id)
        )
    assert count == 1


def test_one_running_campaign_per_deal_a_double_click_makes_one(
    app, client, clock, world, shoppers
):
    """BD's start button clicked twice (or two tabs) opens one campaign; the next may start
    once this one has closed."""
    first = open_campaign(client, world)
    again = client.post(
        "/api/v1/giveaways",
        json={"deal_id": world["deal"]["id"], "meals": 5, "payer": "platform"},
        headers=world["bd"].headers,
    )
    assert again.status_code == 409 and code_of(again) == "giveaway_running"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Campaign.id))) == 1
        # the table's index holds even if the check were skipped (a concurrent start)
        db.session.add(
            Campaign(deal_id=world["deal"]["id"], merchant_id=world["shop"]["id"], meals=5,
                     payer="platform", opens_at=first_opens(first), closes_at=first_closes(first))
        )  # fmt: skip
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
    clock.advance(hours=24)
    # a day later: the staff log in again (a staff token lasts a working day)
    world = {**world, "bd": staff(app, client, Role.BD), "cs": staff(app, client, Role.CS)}
    closed = client.post(f"/api/v1/giveaways/{first['id']}/close", headers=world["cs"].headers)
    assert closed.status_code == 200, closed.get_json()  # no entries: nothing to hand out
    status = client.get(f"/api/v1/giveaways/{first['id']}").get_json()["status"]
    assert status == "closed"
    assert open_campaign(client, world)["id"] != first["id"]


def first_opens(campaign):
    return datetime.fromisoformat(campaign["opens_at"])


def first_closes(campaign):
    return datetime.fromisoformat(campaign["closes_at"])
