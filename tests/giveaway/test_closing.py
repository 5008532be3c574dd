"""Closing a giveaway: the winners' free vouchers through the purchase's functions, the
ledger and the merchant's statement for both payers, messages once, and a job that may run
twice or crash halfway."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.distribution.models import CommissionEntry
from marketplace.giveaway import service
from marketplace.giveaway.models import Campaign, Entry
from marketplace.ledger import service as ledger
from marketplace.ledger.models import LedgerTxn
from marketplace.orders.models import Order
from marketplace.settlement import service as settlement
from marketplace.settlement.models import Statement
from marketplace.vouchers.models import Voucher
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import portal_account, staff
from tests.giveaway.conftest import code_of, enter, open_campaign, review

DECEMBER_1ST_0200 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def entered(client, world, people, likes: list[int | None], **campaign) -> tuple[dict, list]:
    """A campaign with one entry per person: verified with ``likes`` (None: rejected)."""
    opened = open_campaign(client, world, **campaign)
    ids = []
    for person, counted in zip(people, likes, strict=True):
        entry = enter(client, person, opened["id"], likes=counted or 1).get_json()
        ids.append(entry["id"])
        if counted is None:
            review(client, world["cs"], entry["id"], verified=False, reason="不是本活动")
        else:
            review(client, world["cs"], entry["id"], verified=True, likes=counted)
    return opened, ids


def outcome(app, campaign_id: int) -> dict:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        entries = db.session.scalars(
            sa.select(Entry).where(Entry.campaign_id == campaign_id).order_by(Entry.id)
        ).all()
        orders = db.session.scalars(
            sa.select(Order).where(Order.idempotency_key == f"linli:giveaway:{campaign_id}")
        ).all()
        return {
            "status": campaign.status,
            "won": {e.shopper_id: e.rank for e in entries if e.outcome == "won"},
            "thanked": sorted(e.shopper_id for e in entries if e.outcome == "thanked"),
            "orders": sorted(
                (o.shopper_id, o.amount, o.unit_price, o.status, o.quantity) for o in orders
            ),
            "vouchers": sorted(
                db.session.scalars(
                    sa.select(Voucher.shopper_id).where(
                        Voucher.order_id.in_([o.id for o in orders])
                    )
                )
            ),
        }


def messages(app) -> list[tuple[str, str]]:
    return list(app.extensions["linli.notifier"].sent)


def test_the_job_does_nothing_before_the_window_ends_then_closes_once(
    app, client, clock, world, shoppers, worker
):
    people = shoppers(7)
    # six verified (two tied at 40), one rejected; five meals
    campaign, _ = entered(client, world, people, [40, 70, 40, 10, 5, 90, None])

    clock.advance(hours=23, minutes=59)
    worker("close_giveaways")
    assert outcome(app, campaign["id"])["status"] == "open" and messages(app) == []

    clock.advance(minutes=1)
    worker("close_giveaways")
    worker("close_giveaways")  # late, or twice: nothing more

    done = outcome(app, campaign["id"])
    assert done["status"] == "closed"
    expected = {people[5].id: 1, people[1].id: 2, people[0].id: 3, people[2].id: 4}
    expected[people[3].id] = 5
    assert done["won"] == expected
    assert done["thanked"] == sorted([people[4].id, people[6].id])
    assert done["orders"] == sorted((p, 0, 0, "paid", 1) for p in expected)
    assert done["vouchers"] == sorted(expected)
    sent = messages(app)
    assert sorted(channel for channel, _ in sent) == sorted(f"shopper:{p.id}" for p in people)
    assert all("恭喜" in text for channel, text in sent if int(channel[8:]) in expected)
    assert all("感谢" in text for channel, text in sent if int(channel[8:]) not in expected)
    shown = client.get(f"/api/v1/giveaways/{campaign['id']}").get_json()
    assert [w["rank"] for w in shown["winners"]] == [1, 2, 3, 4, 5]
    assert [w["verified_likes"] for w in shown["winners"]] == [90, 70, 40, 40, 10]
    mine = client.get(
        f"/api/v1/giveaways/{campaign['id']}/entries/me", headers=people[5].headers
    ).get_json()
    assert mine["outcome"] == "won" and mine["rank"] == 1 and mine["order_id"]
    vouchers = client.get("/api/v1/vouchers", headers=people[5].headers).get_json()["items"]
    assert len(vouchers) == 1 and vouchers[0]["status"] == "active"


def test_entries_and_reviews_stop_once_decided(app, client, clock, world, shoppers):
    people = shoppers(2)
    campaign, ids = entered(client, world, people[:1], [3])
    too_early = client.post(
        f"/api/v1/giveaways/{campaign['id']}/close", headers=world["bd"].headers
    )
    assert too_early.status_code == 403  # closing is customer service's

    closed = client.post(f"/api/v1/giveaways/{campaign['id']}/close", headers=world["cs"].headers)
    again = client.post(f"/api/v1/giveaways/{campaign['id']}/close", headers=world["cs"].headers)

    assert closed.status_code == 200 and closed.get_json()["prizes"] == 1
    assert again.status_code == 200 and again.get_json() == {
        "campaign_id": campaign["id"],
        "prizes": 0,
        "messages": 0,
    }
    late = enter(client, people[1], campaign["id"])
    assert (late.status_code, code_of(late)) == (409, "giveaway_window_closed")
    changed = review(client, world["cs"], ids[0], verified=True, likes=99)
    assert (changed.status_code, code_of(changed)) == (409, "giveaway_decided")
    assert len(messages(app)) == 1


def test_a_run_that_crashed_after_some_prizes_is_finished_by_the_next(
    app, client, clock, world, shoppers, worker
):
    people = shoppers(6)
    campaign, _ = entered(client, world, people, [60, 50, 40, 30, 20, 10])
    clock.advance(hours=24)
    with app.app_context():  # the first run decided and issued one prize, then died
        service.decide(campaign["id"])
        db.session.commit()
        service.issue_prize(
            service.winners(campaign["id"])[0], service.get_campaign(campaign["id"])
        )
        db.session.commit()

    worker("close_giveaways")

    done = outcome(app, campaign["id"])
    assert done["status"] == "closed"
    assert done["orders"] == sorted((p.id, 0, 0, "paid", 1) for p in people[:5])
    assert done["vouchers"] == sorted(p.id for p in people[:5])
    assert sorted(c for c, _ in messages(app)) == sorted(f"shopper:{p.id}" for p in people)


class FailingAfter:
    """A notifier (the WeCom robot) that goes down after ``ok`` messages."""

    def __init__(self, inner, ok: int) -> None:
        self.inner, self.ok = inner, ok

    def send(self, channel: str, markdown: str) -> None:
        if self.ok <= 0:
            raise RuntimeError("WeCom robot unavailable")
        self.ok -= 1
        self.inner.send(channel, markdown)


def test_a_run_that_failed_while_messaging_tells_each_entrant_once_in_all(
    app, client, clock, world, shoppers
):
    people = shoppers(7)
    campaign, _ = entered(client, world, people, [7, 6, 5, 4, 3, 2, 1])
    clock.advance(hours=24)
    memory = app.extensions["linli.notifier"]
    app.extensions["linli.notifier"] = FailingAfter(memory, ok=3)
    try:
        with app.app_context(), pytest.raises(RuntimeError):
            service.close_due()
        assert outcome(app, campaign["id"])["status"] == "closing"
        assert len(memory.sent) == 3
    finally:
        app.extensions["linli.notifier"] = memory
    with app.app_context():
        assert service.close_due()["messages"] == 4
        assert service.close_due() == {"closed": 0, "prizes": 0, "messages": 0}

    channels = [channel for channel, _ in memory.sent]
    assert sorted(channels) == sorted(f"shopper:{p.id}" for p in people)
    assert outcome(app, campaign["id"])["status"] == "closed"


@pytest.mark.parametrize("payer", ["platform", "merchant"])
def test_free_vouchers_in_the_ledger_and_the_merchants_statement(
    app, client, clock, world, shoppers, live_server, payer
):
    deal = world["deal"]
    seller, _ = new_distributor(app, client)
    people = shoppers(5)
    # the first winner bought the deal through a distributor's link: bound to them
    purchase(app, client, people[0], deal["id"], 1, ref=link(client, seller))
    with app.app_context():
        before = db.session.get(Deal, deal["id"])
        stock_left, sold = before.stock_left, before.sold_count
    campaign, _ = entered(client, world, people, [5, 4, 3, 2, 1], payer=payer)
    clock.advance(hours=24)
    clerk = portal_account(app, client, world["bd"], world["shop"]["id"], "clerk")
    with app.app_context():
        service.close_due()
        free = db.session.scalars(
            sa.select(Order).where(Order.idempotency_key == f"linli:giveaway:{campaign['id']}")
        ).all()
        free_ids = [o.id for o in free]
        after = db.session.get(Deal, deal["id"])
        # the meals come on top of the paid sale: its stock and sold count are untouched
        assert (after.stock_left, after.sold_count) == (stock_left, sold)
        assert all(o.distributor_l1_id is None and o.commission_l1 == 0 for o in free)
        expected = 12800 if payer == "platform" else 0
        assert {o.settlement_price for o in free} == {expected}
    codes = [
        v["code"]
        for p in people
        for v in client.get("/api/v1/vouchers", headers=p.headers).get_json()["items"]
        if v["order_id"] in free_ids
    ]
    assert len(codes) == 5
    merchant = ledger.merchant(world["shop"]["id"])
    with app.app_context():
        owed_before = ledger.balance(merchant)
        platform_before = ledger.balance(ledger.PLATFORM)
    for code in codes[:2]:
        redeemed = client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerk.headers)
        assert redeemed.status_code == 200, redeemed.get_json()

    with app.app_context():
        # the platform pays the shop the settlement price per meal; the merchant's own
        # promotion owes nothing
        assert ledger.balance(merchant) - owed_before == -2 * expected
        assert ledger.balance(ledger.PLATFORM) - platform_before == 2 * expected
        assert ledger.total() == 0
        kinds = db.session.scalars(
            sa.select(LedgerTxn.kind).where(LedgerTxn.order_id.in_(free_ids))
        ).all()
        assert sorted(kinds) == sorted(["order_paid"] * 5 + ["voucher_redeemed"] * 2)
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(CommissionEntry)
                .where(CommissionEntry.order_id.in_(free_ids))
            )
            == 0
        )
    clock.set(DECEMBER_1ST_0200)
    with app.app_context():
        settlement.run("2026-11")
        statement = db.session.scalars(
            sa.select(Statement).where(
                Statement.party_type == "merchant", Statement.party_id == world["shop"]["id"]
            )
        ).one()
        lines = [(line.order_id, line.amount) for line in statement.lines]
        free_lines = [amount for order_id, amount in lines if order_id in free_ids]
        assert free_lines == [expected, expected]
        assert statement.total == sum(amount for _, amount in lines)


def test_a_free_voucher_cannot_be_refunded(app, client, clock, world, shoppers, worker):
    """A prize brought no money in: a refund request for it is refused with the usual
    sentence, by the shopper's API and by an admin's override alike."""
    people = shoppers(5)
    campaign, _ = entered(client, world, people, [50, 40, 30, 20, 10])
    clock.advance(hours=24)
    worker("close_giveaways")
    winner = people[0]
    order_id = client.get(
        f"/api/v1/giveaways/{campaign['id']}/entries/me", headers=winner.headers
    ).get_json()["order_id"]
    asked = client.post(
        f"/api/v1/orders/{order_id}/refund-requests",
        json={"reason": "changed_mind"},
        headers=winner.headers,
    )
    assert asked.status_code == 409 and code_of(asked) == "nothing_to_refund"
    admin = staff(app, client, Role.ADMIN)
    overridden = client.post(
        f"/api/v1/orders/{order_id}/refund-override",
        json={"reason": "顾客要求"},
        headers=admin.headers,
    )
    assert overridden.status_code == 409 and code_of(overridden) == "nothing_to_refund"
    with app.app_context():
        assert db.session.scalars(
            sa.select(Voucher.status).where(Voucher.order_id == order_id)
        ).all() == ["active"]


def test_a_shoppers_own_key_cannot_stand_in_for_a_prize(app, client, world, shoppers):
    """A prize's order is found again by its key (a rerun of the closing hands out nothing
    twice): keys of that form are Linli's own, refused from a client."""
    (shopper,) = shoppers(1)
    for key in ("linli:giveaway:1", "linli:anything"):
        response = client.post(
            "/api/v1/orders",
            json={"deal_id": world["deal"]["id"], "quantity": 1},
            headers={**shopper.headers, "Idempotency-Key": key},
        )
        assert response.status_code == 422, response.get_json()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    fine = client.post(
        "/api/v1/orders",
        json={"deal_id": world["deal"]["id"], "quantity": 1},
        headers={**shopper.headers, "Idempotency-Key": "giveaway:1"},
    )
    assert fine.status_code == 201


def test_two_closing_runs_at_once_hand_out_each_prize_once(app, client, clock, world, shoppers):
    """The job (every minute) and customer service's "close now" at the same moment: one
    run decides and hands out the prizes, the other finds them handed out; each entrant is
    told once."""
    import threading

    people = shoppers(7)
    campaign, _ = entered(client, world, people, [40, 70, 40, 10, 5, 90, None])
    clock.advance(hours=24)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            start.wait()
            try:
                service.close_campaign(campaign["id"])
            except BaseException as exc:  # reported below, not lost in the thread
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    done = outcome(app, campaign["id"])
    assert done["status"] == "closed"
    assert len(done["won"]) == 5 and len(done["orders"]) == 5
    assert done["vouchers"] == sorted(done["won"])
    sent = messages(app)
    assert sorted(channel for channel, _ in sent) == sorted(f"shopper:{p.id}" for p in people)
