"""A busy month's statement on its pages: the merchant portal's statement
(``/merchant/statements/{id}``) and the staff console's (``/staff/money/statements/{id}``)
show its lines a page at a time (20), the statement's total and its number of lines for
the whole month on every page, a page past the end as the last page; the CSV downloads
still hold every line; and a page costs the same statements for a month of 3 lines as
for one of 130, each on its own deal."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.settlement.models import StatementLine
from marketplace.vouchers.models import Voucher
from tests.bulk import busy_statement
from tests.factories import live_merchant, portal_account, quick_shopper, serving, staff
from tests.querycount import count_queries
from tests.web.test_merchant_pages import log_in
from tests.web.test_staff_cs_roles import as_role

LINES = 45  # three pages of 20: 20, 20 and 5
PERIOD = "2026-10"


@pytest.fixture
def busy(app, client, clock):
    """A live shop, its owner, and October's statement with 45 lines (amounts 10000…)."""
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd, name="忙碌的烧烤店")
    owner = portal_account(app, client, bd, shop["id"], "owner")
    shopper = quick_shopper(app)
    with serving(app):
        statement_id = busy_statement(shop["id"], shopper.id, LINES, period=PERIOD)
        db.session.commit()
        codes = list(
            db.session.scalars(
                sa.select(Voucher.code)
                .join(StatementLine, StatementLine.voucher_id == Voucher.id)
                .where(StatementLine.statement_id == statement_id)
                .order_by(StatementLine.id)
            )
        )
    total = sum(10_000 + n for n in range(LINES))
    return {"bd": bd, "shop": shop, "owner": owner, "shopper": shopper,
            "id": statement_id, "codes": codes, "total": total}  # fmt: skip


def yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def grouped(code: str) -> str:
    return f"{code[:4]} {code[4:8]} {code[8:]}"


def shown_titles(html: str) -> list[str]:
    """The lines' deals shown on a page, in order (the bulk statement's deal titles)."""
    return re.findall(r"明细团购 (\d{4})", html)


def numbers(first: int, last: int) -> list[str]:
    return [f"{n:04d}" for n in range(first, last)]


# -- the merchant portal -------------------------------------------------------------------


def portal(app, busy, query: str = "") -> str:
    response = log_in(app, busy["owner"]).get(f"/merchant/statements/{busy['id']}{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_portal_shows_a_statements_lines_a_page_at_a_time(app, busy):
    first = portal(app, busy)
    assert shown_titles(first) == numbers(0, 20)
    assert grouped(busy["codes"][0]) in first and grouped(busy["codes"][20]) not in first
    assert "第 1 / 3 页" in first
    assert f'href="/merchant/statements/{busy["id"]}?page=2"' in first

    second = portal(app, busy, "?page=2")
    assert shown_titles(second) == numbers(20, 40)
    assert grouped(busy["codes"][20]) in second and grouped(busy["codes"][0]) not in second
    assert "第 2 / 3 页" in second
    assert f'href="/merchant/statements/{busy["id"]}?page=1"' in second

    last = portal(app, busy, "?page=3")
    assert shown_titles(last) == numbers(40, LINES)
    # a page past the end (a hand-typed or stale link) is the last page; a bad one the first
    assert shown_titles(portal(app, busy, "?page=99")) == numbers(40, LINES)
    assert "第 3 / 3 页" in portal(app, busy, "?page=99")
    assert shown_titles(portal(app, busy, "?page=x")) == numbers(0, 20)


def test_the_portal_shows_the_whole_statements_total_and_count_on_every_page(app, busy):
    for query in ("", "?page=2", "?page=3", "?page=99"):
        page = portal(app, busy, query)
        assert re.search(r'id="statement-total">([^<]+)<', page).group(1) == yuan(busy["total"])
        assert f"明细（{LINES} 条）" in page, query
        footer = re.search(r"<tfoot>.*?</tfoot>", page, re.S).group(0)
        assert yuan(busy["total"]) in footer, query


def test_the_portal_csv_holds_every_line_and_the_total(app, busy):
    download = log_in(app, busy["owner"]).get(f"/merchant/statements/{busy['id']}.csv?page=2")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    lines = rows[1:-1]
    assert [row[2] for row in lines] == busy["codes"]  # every voucher, in order
    assert sum(round(float(row[6]) * 100) for row in lines) == busy["total"]
    assert rows[-1][1:] == ["合计", "", "", "", "", f"{busy['total'] / 100:.2f}"]


def portal_cost(app, browser, statement_id: int, query: str = "") -> int:
    path = f"/merchant/statements/{statement_id}{query}"
    assert browser.get(path).status_code == 200
    with count_queries(app) as sent:
        assert browser.get(path).status_code == 200
    return sent.count


def test_a_portal_statement_page_costs_the_same_for_3_or_130_lines(app, busy):
    browser = log_in(app, busy["owner"])
    with serving(app):
        small = busy_statement(busy["shop"]["id"], busy["shopper"].id, 3, period="2026-09")
        large = busy_statement(busy["shop"]["id"], busy["shopper"].id, 130, period="2026-08")
        db.session.commit()
    costs = {
        "3 lines": portal_cost(app, browser, small),
        "130 lines": portal_cost(app, browser, large),
        "130 lines, page 4": portal_cost(app, browser, large, "?page=4"),
        "130 lines, past the end": portal_cost(app, browser, large, "?page=99"),
    }
    past_the_end = costs.pop("130 lines, past the end")
    assert len(set(costs.values())) == 1, costs
    assert past_the_end <= costs["3 lines"] + 2  # the last page read again: count and lines


# -- the staff console ---------------------------------------------------------------------


def console(client, busy, query: str = "") -> str:
    response = client.get(f"/staff/money/statements/{busy['id']}{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def order_numbers(html: str) -> list[int]:
    table = re.search(r'<table class="ops-table">.*?</table>', html, re.S).group(0)
    return [int(n) for n in re.findall(r"订单 (\d+)", table)]


def line_orders(app, statement_id: int) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(StatementLine.order_id)
                .where(StatementLine.statement_id == statement_id)
                .order_by(StatementLine.id)
            )
        )


def test_the_console_shows_a_statements_lines_a_page_at_a_time(app, client, busy):
    as_role(app, client, "admin")
    orders = line_orders(app, busy["id"])
    first = console(client, busy)
    assert order_numbers(first) == orders[:20]
    assert f"共 {LINES} 条" in first and "第 1 / 3 页" in first
    assert f'href="/staff/money/statements/{busy["id"]}?page=2"' in first
    assert order_numbers(console(client, busy, "?page=2")) == orders[20:40]
    assert order_numbers(console(client, busy, "?page=3")) == orders[40:]
    assert order_numbers(console(client, busy, "?page=99")) == orders[40:]
    for query in ("", "?page=2", "?page=99"):
        page = console(client, busy, query)
        shown = re.search(r'data-figure="statement_total">([^<]+)<', page).group(1)
        assert shown == yuan(busy["total"]), query


def test_the_console_csv_holds_every_line(app, client, busy):
    as_role(app, client, "admin")
    download = client.get(f"/staff/money/statements/{busy['id']}.csv?page=2")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    lines = [row for row in rows[1:] if row[3] != "total"]
    assert [int(row[5]) for row in lines] == line_orders(app, busy["id"])
    assert sum(int(row[9]) for row in lines) == busy["total"]


def test_a_console_statement_page_costs_the_same_for_3_or_130_lines(app, client, busy):
    as_role(app, client, "admin")
    with serving(app):
        small = busy_statement(busy["shop"]["id"], busy["shopper"].id, 3, period="2026-09")
        large = busy_statement(busy["shop"]["id"], busy["shopper"].id, 130, period="2026-08")
        db.session.commit()

    def cost(statement_id: int, query: str = "") -> int:
        path = f"/staff/money/statements/{statement_id}{query}"
        assert client.get(path).status_code == 200
        with count_queries(app) as sent:
            assert client.get(path).status_code == 200
        return sent.count

    costs = {"3 lines": cost(small), "130 lines": cost(large), "page 4": cost(large, "?page=4")}
    assert len(set(costs.values())) == 1, costs
