"""Monthly settlement: exactly once, resumable, traceable, reconciled with the provider."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.distribution import commission
from marketplace.distribution.models import CommissionEntry, CommissionState
from marketplace.ledger import service as ledger
from marketplace.ledger.models import LedgerEntry, LedgerTxn
from marketplace.settlement import service as settlement
from marketplace.settlement.models import Statement, StatementLine
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import live_deal, live_merchant, portal_account, quick_shopper, staff

DECEMBER_1ST_0200 = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 Dec in Shanghai


@pytest.fixture
def month(app, client, clock, live_server):
    """November: two shops sell, some vouchers are used, a distributor earns commission."""
    bd = staff(app, client, Role.BD)
    shops = [live_merchant(client, bd, name=f"店{n}") for n in range(2)]
    deals = [live_deal(app, client, bd, s["id"], "small_set") for s in shops]
    seller, seller_row = new_distributor(app, client)
    clerks = [portal_account(app, client, bd, s["id"], "clerk") for s in shops]
    redeemed = []
    for index, deal in enumerate(deals):
        shopper = quick_shopper(app)
        purchase(app, client, shopper, deal["id"], 2, ref=link(client, seller))
        codes = sorted(
            v["code"]
            for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
        )
        for code in codes[: index + 1]:  # shop 0: one used, shop 1: both used
            client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerks[index].headers)
            redeemed.append(code)
    clock.set(DECEMBER_1ST_0200)
    return {
        "shops": shops,
        "deals": deals,
        "seller": seller_row,
        "seller_account": seller,
        "redeemed": redeemed,
    }


def statements(app) -> list[tuple[str, int, int, int]]:
    with app.app_context():
        return [
            (s.party_type, s.party_id, s.total, len(s.lines))
            for s in db.session.scalars(
                sa.select(Statement).order_by(Statement.party_type, Statement.party_id)
            )
        ]


def test_a_month_is_settled_once_with_lines_that_trace_to_vouchers(app, month):
    with app.app_context():
        first = settlement.run("2026-11")
        again = settlement.run("2026-11")

    shop0, shop1 = (s["id"] for s in month["shops"])
    assert first == {"merchant": 2, "distributor": 1} and again == {"merchant": 0, "distributor": 0}
    assert statements(app) == [
        ("distributor", month["seller"]["id"], 3 * 800, 3),
        ("merchant", shop0, 12800, 1),
        ("merchant", shop1, 2 * 12800, 2),
    ]
    with app.app_context():
        for statement in db.session.scalars(sa.select(Statement)):
            assert statement.total == sum(line.amount for line in statement.lines)
            assert all(line.order_id for line in statement.lines)
        assert db.session.scalar(
            sa.select(sa.func.count())
            .select_from(StatementLine)
            .where(StatementLine.voucher_id.is_not(None))
        ) == len(month["redeemed"])


def test_an_unfinished_month_cannot_be_settled(app, month, clock):
    clock.set(datetime(2026, 12, 15, tzinfo=UTC))

    with app.app_context(), pytest.raises(Exception) as caught:
        settlement.run("2026-12")

    assert getattr(caught.value, "code", "") == "period_not_over"


def test_two_concurrent_runs_settle_exactly_once(app, month):
    barrier = threading.Barrier(2)

    def settle() -> None:
        with app.app_context():
            barrier.wait()
            settlement.run("2026-11")

    threads = [threading.Thread(target=settle) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(statements(app)) == 3
    assert sum(total for *_, total, _ in [(0, 0, s[2], 0) for s in statements(app)]) == (
        3 * 800 + 3 * 12800
    )


def test_a_crash_half_way_resumes_to_the_same_result(app, month, monkeypatch):
    calls = {"n": 0}
    settle_party = settlement._settle_party

    def crash_after_first(*args, **kwargs) -> bool:
        made = settle_party(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the worker died after the first statement")
        return made

    with app.app_context():
        monkeypatch.setattr(settlement, "_settle_party", crash_after_first)
        with pytest.raises(RuntimeError):
            settlement.run("2026-11")
        monkeypatch.undo()
        assert len(db.session.scalars(sa.select(Statement)).all()) == 1
        resumed = settlement.run("2026-11")

    assert resumed == {"merchant": 1, "distributor": 1}
    assert [s[:3] for s in statements(app)] == [
        ("distributor", month["seller"]["id"], 2400),
        ("merchant", month["shops"][0]["id"], 12800),
        ("merchant", month["shops"][1]["id"], 25600),
    ]


def test_commission_cancelled_while_its_statement_is_drawn_up_is_not_settled(
    app, month, monkeypatch, backend
):
    """A refund that cancels a commission entry between settlement reading the earned
    entries and marking them settled must not end on the statement: the run reads again."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: no refund can land mid-statement")
    settleable = commission.settleable
    calls = {"n": 0}

    def refund_lands_after_the_read(period, end):
        rows = settleable(period, end)
        calls["n"] += 1
        if calls["n"] == 2:  # the read inside the distributor's own transaction
            with db.engine.begin() as conn:  # another request, committed meanwhile
                conn.execute(
                    sa.update(CommissionEntry.__table__)
                    .where(CommissionEntry.__table__.c.id == rows[0].id)
                    .values(state=CommissionState.CANCELLED.value)
                )
        return rows

    with app.app_context():
        monkeypatch.setattr(commission, "settleable", refund_lands_after_the_read)
        settlement.run("2026-11")
        monkeypatch.undo()
        states = db.session.execute(
            sa.select(CommissionEntry.amount, CommissionEntry.state).order_by(CommissionEntry.id)
        ).all()
    cancelled = [amount for amount, state in states if state == "cancelled"]
    assert len(cancelled) == 1
    distributor_total = [s[2] for s in statements(app) if s[0] == "distributor"]
    assert distributor_total == [2400 - cancelled[0]]


def test_payout_clears_what_is_owed_and_the_csv_adds_up(app, client, month):
    admin = staff(app, client, Role.ADMIN)
    with app.app_context():
        settlement.run("2026-11")
        statement_id = db.session.scalars(
            sa.select(Statement.id).where(
                Statement.party_type == "merchant", Statement.party_id == month["shops"][1]["id"]
            )
        ).one()

    paid = client.post(
        f"/api/v1/settlements/statements/{statement_id}/payout",
        json={"reference": "ICBC-20261205-01", "paid_on": "2026-12-05"},
        headers=admin.headers,
    )
    again = client.post(
        f"/api/v1/settlements/statements/{statement_id}/payout",
        json={"reference": "ICBC-20261205-01", "paid_on": "2026-12-05"},
        headers=admin.headers,
    )
    csv_text = client.get(
        f"/api/v1/settlements/statements/{statement_id}/csv", headers=admin.headers
    ).get_data(as_text=True)

    assert paid.get_json()["status"] == "paid" and again.status_code == 200
    with app.app_context():
        assert ledger.balance(ledger.merchant(month["shops"][1]["id"])) == 0
        assert ledger.total() == 0
    rows = csv_text.strip().splitlines()
    assert len(rows) == 1 + 2 + 1 and rows[-1].endswith(",25600,256.00")


def test_reconciliation_finds_a_planted_mismatch(app, month):
    with app.app_context():
        clean = settlement.reconcile("2026-11")
        txn = db.session.scalars(
            sa.select(LedgerTxn).where(LedgerTxn.kind == "order_paid").order_by(LedgerTxn.id)
        ).first()
        for entry in db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.txn_id == txn.id)):
            entry.amount = entry.amount - 100 if entry.account == "provider" else entry.amount + 100
        order_id = txn.order_id
        db.session.commit()
        planted = settlement.reconcile("2026-11")

    assert clean["differences"] == [] and clean["provider_net"] == clean["ledger_net"] == 4 * 15800
    assert planted["differences"] == [
        {"order_id": order_id, "provider": 31600, "ledger": 31500, "difference": 100}
    ]


def test_overview_of_the_month(app, client, month):
    admin = staff(app, client, Role.ADMIN)

    overview = client.get(
        "/api/v1/settlements/overview?period=2026-11", headers=admin.headers
    ).get_json()

    assert overview["gmv"] == 4 * 15800
    assert overview["platform_margin"] == 3 * 3000
    assert overview["commission"] == 3 * 800
    assert overview["subsidies_spent"] == 0  # the margin covers the commission


def test_parties_see_only_their_statements(app, client, month):
    with app.app_context():
        settlement.run("2026-11")
        ids = dict(
            db.session.execute(
                sa.select(Statement.party_type, Statement.id).where(
                    Statement.party_type == "distributor"
                )
            ).all()
        )
    stranger = quick_shopper(app)

    assert (
        client.get(
            f"/api/v1/settlements/statements/{ids['distributor']}", headers=stranger.headers
        ).status_code
        == 403
    )


def test_the_ledger_balances_after_a_random_month(app, client, clock, live_server):
    """Purchases, redemptions, refunds before and after settlement (and overrides of used
    vouchers) in a random order: the entries always sum to zero and the provider account
    equals the cash the provider actually holds for the month's orders."""
    rng = random.Random(20261123)
    bd = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)
    admin = staff(app, client, Role.ADMIN)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"], "small_set", stock=500)
    clerk = portal_account(app, client, bd, shop["id"], "clerk")
    seller, _ = new_distributor(app, client)
    bought: list[tuple[object, dict]] = []

    def step(action: str) -> None:
        if action == "buy" or not bought:
            shopper = quick_shopper(app)
            bought.append(
                (
                    shopper,
                    purchase(
                        app,
                        client,
                        shopper,
                        deal["id"],
                        rng.randint(1, 3),
                        ref=link(client, seller),
                    ),
                )
            )
        elif action == "redeem":
            shopper, _ = rng.choice(bought)
            active = client.get(
                "/api/v1/vouchers?status=active", headers=shopper.headers
            ).get_json()["items"]
            if active:
                client.post(f"/api/v1/vouchers/{active[0]['code']}/redeem", headers=clerk.headers)
        elif action == "refund":
            shopper, checkout = rng.choice(bought)
            made = client.post(
                f"/api/v1/orders/{checkout['order']['id']}/refund-requests",
                json={"reason": "other"},
                headers=shopper.headers,
            )
            if made.status_code == 201:
                client.post(
                    f"/api/v1/refund-requests/{made.get_json()['id']}/approve",
                    json={},
                    headers=cs.headers,
                )
        else:  # an override of whatever was used
            _, checkout = rng.choice(bought)
            client.post(
                f"/api/v1/orders/{checkout['order']['id']}/refund-override",
                json={"reason": "投诉"},
                headers=admin.headers,
            )
        with app.app_context():
            assert ledger.total() == 0, action

    for _ in range(20):
        step(rng.choice(["buy", "buy", "redeem", "redeem", "refund", "override"]))
    with app.app_context():
        november = settlement.reconcile("2026-11")
    clock.set(DECEMBER_1ST_0200)
    cs, admin = staff(app, client, Role.CS), staff(app, client, Role.ADMIN)  # fresh tokens
    clerk = portal_account(app, client, staff(app, client, Role.BD), shop["id"], "clerk")
    with app.app_context():
        settlement.run("2026-11")
    for _ in range(10):  # after settlement: refunds claw back, overrides hit the platform
        step(rng.choice(["redeem", "refund", "override"]))

    assert november["differences"] == [] and november["provider_net"] == november["ledger_net"]
    with app.app_context():
        assert ledger.total() == 0
        assert settlement.reconcile("2026-11")["differences"] == []


def test_a_refund_after_settlement_is_clawed_back_on_the_next_statement(app, client, month, clock):
    admin = staff(app, client, Role.ADMIN)
    with app.app_context():
        settlement.run("2026-11")
        from marketplace.vouchers.models import Voucher

        voucher = db.session.scalars(
            sa.select(Voucher).where(Voucher.code == month["redeemed"][0])
        ).one()
        order_id = voucher.order_id

    refunded = client.post(
        f"/api/v1/orders/{order_id}/refund-override",
        headers=admin.headers,
        json={"reason": "食品安全投诉", "voucher_codes": [month["redeemed"][0]]},
    )
    clock.set(datetime(2026, 12, 31, 18, 0, tzinfo=UTC))  # 02:00 on 1 January
    with app.app_context():
        december = settlement.run("2026-12")
        seller_statement = db.session.scalars(
            sa.select(Statement).where(
                Statement.period == "2026-12", Statement.party_type == "distributor"
            )
        ).one()
        lines = [(line.kind, line.amount) for line in seller_statement.lines]
        assert ledger.total() == 0

    assert refunded.get_json()["status"] == "refunded"
    assert december == {"merchant": 0, "distributor": 1}
    assert lines == [("clawback", -800)] and seller_statement.total == -800


def test_a_payment_at_0130_on_december_1st_in_shanghai_counts_in_december(
    app, client, clock, live_server
):
    """2026-11-30T17:30Z is 01:30 on 1 December in Shanghai: December's, on the money
    overview and on the distributor's dashboard alike."""
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"], "small_set")
    seller, _ = new_distributor(app, client)
    code = link(client, seller)
    clock.set(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    admin = staff(app, client, Role.ADMIN)  # a staff token lasts 12 hours: log in now

    purchase(app, client, quick_shopper(app), deal["id"], 1, ref=code)

    def gmv(period: str) -> int:
        return client.get(
            f"/api/v1/settlements/overview?period={period}", headers=admin.headers
        ).get_json()["gmv"]

    dashboard = client.get("/api/v1/distributors/me", headers=seller.headers).get_json()
    assert (gmv("2026-11"), gmv("2026-12")) == (0, 15800)
    assert dashboard["commission_by_month"] == [{"month": "2026-12", "amount": 800}]


def test_admin_settles_a_month_over_http_and_an_unfinished_one_is_a_409(app, client, month):
    admin = staff(app, client, Role.ADMIN)

    settled = client.post("/api/v1/settlements", json={"period": "2026-11"}, headers=admin.headers)
    early = client.post("/api/v1/settlements", json={"period": "2026-12"}, headers=admin.headers)

    assert settled.status_code == 200
    assert settled.get_json() == {
        "period": "2026-11",
        "streak_bonuses": 0,
        "merchant": 2,
        "distributor": 1,
    }
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "period_not_over"


def logged_in_again(app, account):
    """The same account with a token issued now (shopper tokens last 30 days)."""
    from dataclasses import replace

    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import User

    with app.app_context():
        issued = accounts.issue_token(db.session.get(User, account.id))
        db.session.commit()
        return replace(account, token=issued.token)


def test_a_negative_statement_is_carried_into_the_partys_next_statement_once(
    app, client, month, clock
):
    """November pays commission; a December override claws 800 back with nothing earned,
    so December's statement is −800. January's earnings (2 × 800) are netted against it:
    the statement carries the −800 as a line, pays 800, and the distributor owes nothing.
    February does not carry it again."""
    admin = staff(app, client, Role.ADMIN)
    with app.app_context():
        settlement.run("2026-11")
    voucher_code = month["redeemed"][0]
    with app.app_context():
        from marketplace.vouchers.models import Voucher

        order_id = db.session.scalars(
            sa.select(Voucher.order_id).where(Voucher.code == voucher_code)
        ).one()
    assert (
        client.post(
            f"/api/v1/orders/{order_id}/refund-override",
            headers=admin.headers,
            json={"reason": "食品安全投诉", "voucher_codes": [voucher_code]},
        ).status_code
        == 200
    )
    clock.set(datetime(2026, 12, 31, 18, 0, tzinfo=UTC))  # 02:00 on 1 January
    with app.app_context():
        settlement.run("2026-12")
    clock.set(datetime(2027, 1, 10, 4, 0, tzinfo=UTC))  # January: the seller sells again
    seller = logged_in_again(app, month["seller_account"])
    bd = staff(app, client, Role.BD)
    clerk = portal_account(app, client, bd, month["shops"][0]["id"], "clerk")
    shopper = quick_shopper(app)
    purchase(app, client, shopper, month["deals"][0]["id"], 2, ref=link(client, seller))
    for voucher in client.get("/api/v1/vouchers?status=active", headers=shopper.headers).get_json()[
        "items"
    ]:
        client.post(f"/api/v1/vouchers/{voucher['code']}/redeem", headers=clerk.headers)
    clock.set(datetime(2027, 1, 31, 18, 0, tzinfo=UTC))  # 02:00 on 1 February
    with app.app_context():
        settlement.run("2027-01")
    clock.set(datetime(2027, 2, 10, 4, 0, tzinfo=UTC))
    seller = logged_in_again(app, seller)
    shopper = quick_shopper(app)
    purchase(app, client, shopper, month["deals"][0]["id"], 1, ref=link(client, seller))
    code = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"][0]["code"]
    clerk = portal_account(app, client, staff(app, client, Role.BD), month["shops"][0]["id"])
    client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerk.headers)
    clock.set(datetime(2027, 2, 28, 18, 0, tzinfo=UTC))  # 02:00 on 1 March
    with app.app_context():
        settlement.run("2027-02")
        by_period = {
            s.period: (s.id, s.total, sorted((line.kind, line.amount) for line in s.lines))
            for s in db.session.scalars(
                sa.select(Statement).where(
                    Statement.party_type == "distributor",
                    Statement.party_id == month["seller"]["id"],
                )
            )
        }
    admin = staff(app, client, Role.ADMIN)
    paid = client.post(
        f"/api/v1/settlements/statements/{by_period['2027-01'][0]}/payout",
        json={"reference": "ICBC-20270205-01", "paid_on": "2027-02-05"},
        headers=admin.headers,
    )
    january = client.get(
        f"/api/v1/settlements/statements/{by_period['2027-01'][0]}", headers=admin.headers
    ).get_json()

    assert by_period["2026-12"][1:] == (-800, [("clawback", -800)])
    assert by_period["2027-01"][1:] == (
        800,
        [("carried_forward", -800), ("level1", 800), ("level1", 800)],
    )
    assert by_period["2027-02"][1:] == (800, [("level1", 800)])  # carried once only
    carried = next(line for line in january["lines"] if line["kind"] == "carried_forward")
    assert carried["carried_from_id"] == by_period["2026-12"][0]
    assert paid.status_code == 200
    with app.app_context():
        # still owed: November's and February's statements (unpaid), nothing else
        assert ledger.balance(ledger.distributor(month["seller"]["id"])) == -(2400 + 800)
        assert ledger.total() == 0


def test_a_launch_deal_sold_below_settlement_pays_the_merchant_exactly_and_shows_the_subsidy(
    app, client, clock, live_server
):
    """Sale ¥100, settlement ¥120, subsidy ¥30, L1 ¥5: the merchant gets ¥120, the
    platform pays the ¥20 gap, and a gold distributor's ¥8 tier bonus (set after the deal)
    is capped to the ¥5 the subsidy has left. The overview shows the ¥30 spent."""
    bd, admin, cs = (staff(app, client, role) for role in (Role.BD, Role.ADMIN, Role.CS))
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"], "small_set", sale_price=10000,
                     settlement_price=12000, subsidy=3000, commission_l1=500,
                     commission_l2=0)  # fmt: skip
    clerk = portal_account(app, client, bd, shop["id"], "clerk")
    client.put(
        "/api/v1/distributor-tiers",
        headers=admin.headers,
        json={"slug": "gold", "name": "金牌", "level1_bonus": 800},
    )
    seller, seller_row = new_distributor(app, client)
    client.patch(
        f"/api/v1/distributors/{seller_row['id']}", json={"tier": "gold"}, headers=cs.headers
    )
    shopper = quick_shopper(app)
    purchase(app, client, shopper, deal["id"], 1, ref=link(client, seller))
    code = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"][0]["code"]

    redeemed = client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerk.headers)
    overview = client.get(
        "/api/v1/settlements/overview?period=2026-11", headers=admin.headers
    ).get_json()

    assert redeemed.status_code == 200
    with app.app_context():
        assert ledger.balance(ledger.merchant(shop["id"])) == -12000  # exactly settlement
        assert ledger.balance(ledger.distributor(seller_row["id"])) == -(500 + 500)
        assert ledger.total() == 0
    assert "error" not in overview, overview
    assert overview["platform_margin"] == -2000 and overview["commission"] == 1000
    assert overview["subsidies_budgeted"] == 3000 and overview["subsidies_spent"] == 3000
    assert overview["net_result"] == -3000
