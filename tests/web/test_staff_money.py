"""The general manager's money pages (web/staff/money.py) on a real month: November's
sales, redemptions and commission through the API and the payment server, then the page's
overview against the API's, the month settled from the page, a payout recorded, the
overview's figures against the statements, the reconciliation and a statement's CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.ledger import service as ledger
from marketplace.settlement.models import Statement
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import live_deal, live_merchant, portal_account, quick_shopper, staff
from tests.web.test_staff_cs_roles import as_role, page_csrf_token

DECEMBER_1ST_1000 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 Dec in Shanghai


@pytest.fixture
def november(app, client, clock, live_server):
    """Two shops sell in November; three vouchers are used; a distributor earns."""
    bd = staff(app, client, Role.BD)
    shops = [live_merchant(client, bd, name=f"店{n}") for n in range(2)]
    deals = [live_deal(app, client, bd, s["id"], "small_set") for s in shops]
    seller, _ = new_distributor(app, client)
    clerks = [portal_account(app, client, bd, s["id"], "clerk") for s in shops]
    for index, deal in enumerate(deals):
        shopper = quick_shopper(app)
        purchase(app, client, shopper, deal["id"], 2, ref=link(client, seller))
        codes = sorted(
            v["code"]
            for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
        )
        for code in codes[: index + 1]:
            used = client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerks[index].headers)
            assert used.status_code == 200, used.get_json()
        clock.advance(hours=2)
    clock.set(DECEMBER_1ST_1000)
    admin = staff(app, client, Role.ADMIN)
    return {"admin": admin}


def manager(app, client) -> int:
    as_role(app, client, "admin")
    with app.app_context():
        return db.session.scalars(sa.select(User.id).where(User.username == "admin-5x")).one()


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": page_csrf_token(client), **data})


def figure(html: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">([^<]+)<', html).group(1)


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"¥{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def test_the_overview_is_the_apis_month_with_its_charts(app, client, november):
    api = client.get(
        "/api/v1/settlements/overview?period=2026-11", headers=november["admin"].headers
    ).get_json()
    assert api["gmv"] > 0 and api["platform_margin"] > 0 and api["commission"] > 0
    manager(app, client)

    page = client.get("/staff/money?period=2026-11")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for name in ("gmv", "refunds", "platform_margin", "commission", "subsidies_spent"):
        assert figure(html, name) == yuan(api[name]), name
    assert figure(html, "net_result") == yuan(api["net_result"])
    assert html.count("<svg") == 2 and 'class="ops-bar ops-bar-gmv' in html
    assert "<style" not in html and " style=" not in html  # the CSP allows no inline style
    # this month's page (December, just begun) has a day so far
    assert client.get("/staff/money").status_code == 200
    bad = client.get("/staff/money?period=2026-13")
    assert bad.status_code == 422


def test_settling_november_from_the_page_and_paying_a_statement(app, client, november):
    manager_id = manager(app, client)
    before = client.get("/staff/money?period=2026-11").get_data(as_text=True)
    assert "这个月还没有结算单" in before
    owed = figure(before, "settlement_owed")

    early = post(client, "/staff/money/settlements", period="2026-12")
    assert early.status_code == 409 and "这个月还没结束" in early.get_data(as_text=True)
    run = post(client, "/staff/money/settlements", period="2026-11")
    assert run.status_code == 303
    assert run.headers["Location"].endswith("/staff/money/settlements?period=2026-11")
    listed = client.get("/staff/money/settlements?period=2026-11").get_data(as_text=True)
    assert "新出商家结算单 2 张，分销员结算单 1 张" in listed
    assert "店0" in listed and "店1" in listed
    again = post(client, "/staff/money/settlements", period="2026-11")
    assert again.status_code == 303
    assert "新出商家结算单 0 张" in client.get(again.headers["Location"]).get_data(as_text=True)

    # the overview's figures match the statements
    after = client.get("/staff/money?period=2026-11").get_data(as_text=True)
    merchant_total = re.search(r'data-statements="merchant">([^<]+)<', after).group(1)
    distributor_total = re.search(r'data-statements="distributor">([^<]+)<', after).group(1)
    assert merchant_total == owed
    assert distributor_total == figure(after, "commission")

    with app.app_context():
        statement = db.session.scalars(
            sa.select(Statement).where(Statement.party_type == "merchant").order_by(Statement.id)
        ).first()
        statement_id, party, total = statement.id, statement.party_id, statement.total
    page = client.get(f"/staff/money/statements/{statement_id}").get_data(as_text=True)
    assert figure(page, "statement_total") == yuan(total)
    bad = post(client, f"/staff/money/statements/{statement_id}/payout", reference="", paid_on="x")
    assert bad.status_code == 422 and "付款流水号" in bad.get_data(as_text=True)
    paid = post(
        client,
        f"/staff/money/statements/{statement_id}/payout",
        reference="BANK-20261201-1",
        paid_on="2026-12-01",
    )
    assert paid.status_code == 303
    same = post(
        client,
        f"/staff/money/statements/{statement_id}/payout",
        reference="BANK-20261201-1",
        paid_on="2026-12-01",
    )
    assert same.status_code == 303  # the same payout recorded again: harmless
    other = post(
        client,
        f"/staff/money/statements/{statement_id}/payout",
        reference="BANK-OTHER",
        paid_on="2026-12-01",
    )
    assert other.status_code == 409 and "已经付过款" in other.get_data(as_text=True)

    shown = client.get(f"/staff/money/statements/{statement_id}").get_data(as_text=True)
    assert "BANK-20261201-1" in shown and "已付款" in shown
    with app.app_context():
        assert ledger.balance(ledger.merchant(party)) == 0
    api = client.get(
        f"/api/v1/settlements/statements/{statement_id}", headers=november["admin"].headers
    ).get_json()
    assert api["status"] == "paid" and api["payout_reference"] == "BANK-20261201-1"
    paid_list = client.get("/staff/money/settlements?period=2026-11&status=paid").get_data(
        as_text=True
    )
    assert f"#{statement_id} ·" in paid_list and paid_list.count("BANK-20261201-1") == 1
    csv = client.get(f"/staff/money/statements/{statement_id}.csv")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("statement,")
    assert manager_id is not None


def test_the_reconciliation_asks_the_provider_and_finds_no_difference(app, client, november):
    manager(app, client)
    idle = client.get("/staff/money/reconciliation").get_data(as_text=True)
    assert "订单数" not in idle  # runs only when asked
    report = client.get("/staff/money/reconciliation?period=2026-11").get_data(as_text=True)
    assert "没有不一致的订单" in report
    assert re.search(r"订单数</dt><dd>2<", report)
