"""The merchant portal's pages over HTTP: redeeming at the counter (check, confirm, the
result, every refusal in words, a retry of the same form), today and this month, the
shop's vouchers, statements and their CSV, the profile, the staff and the tickets; and a
clerk never seeing another shop's vouchers, statements or tickets."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher
from tests.factories import PASSWORD, staff
from tests.merchants.world import two_shops
from tests.web.test_foundation import csrf_token_of


@pytest.fixture
def shops(app, client, clock, live_server):
    return two_shops(app, client, units=3)


def log_in(app, account):
    """A browser-like client with the account's portal page session."""
    browser = app.test_client()
    form = browser.get("/merchant/login")
    done = browser.post(
        "/merchant/login",
        data={"username": account.username, "password": PASSWORD,
              "csrf_token": csrf_token_of(form.get_data(as_text=True))},
    )  # fmt: skip
    assert done.status_code == 303, done.get_data(as_text=True)
    return browser


def text(response) -> str:
    return response.get_data(as_text=True)


def confirm_form(browser, code):
    page = browser.get(f"/merchant/redeem/check?code={code}")
    assert page.status_code == 200, text(page)
    html = text(page)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', html).group(1)
    return html, {"code": code, "key": key, "csrf_token": csrf_token_of(html)}


def test_a_clerk_checks_confirms_and_redeems(app, shops):
    clerk = log_in(app, shops.a_clerk)
    grouped = " ".join([shops.codes[0][:4], shops.codes[0][4:8], shops.codes[0][8:]])
    html, form = confirm_form(clerk, grouped)

    assert shops.deal["title"] in html and "4 人" in html
    assert "本订单共 3 张，还可用 3 张" in html and "可使用" in html
    done = clerk.post("/merchant/redeem", data=form)
    assert done.status_code == 200
    assert "核销成功" in text(done) and "还可用 2 张" in text(done)

    # the same form again (a retry after a lost answer): the first result, not "used"
    again = clerk.post("/merchant/redeem", data=form)
    assert again.status_code == 200 and "核销成功" in text(again)
    # a new attempt at the same voucher: already used, when and by whom
    _, form2 = (None, {**form, "key": "0" * 32})
    used = clerk.post("/merchant/redeem", data=form2)
    assert used.status_code == 409
    assert "这张券已经使用过了" in text(used)
    assert re.search(r"已于 2026-11-23 10:00 由 clerk\d+ 核销", text(used))
    checked = clerk.get(f"/merchant/redeem/check?code={shops.codes[0]}")
    assert checked.status_code == 409 and "已于 2026-11-23 10:00" in text(checked)


@pytest.mark.parametrize(
    ("make_code", "status", "sentence"),
    [
        (lambda s: s.b_codes[0], 403, "这张券不是本店的团购券"),
        (lambda s: s.codes[0][:-1] + str((int(s.codes[0][-1]) + 1) % 10), 422, "券码是 12 位数字"),
        (lambda s: "00000000000" + vouchers.check_digit("00000000000"), 404, "没有找到这张券"),
    ],
)
def test_refusals_are_sentences_with_the_apis_status(app, shops, make_code, status, sentence):
    clerk = log_in(app, shops.a_clerk)
    page = clerk.get(f"/merchant/redeem/check?code={make_code(shops)}")
    assert page.status_code == status
    assert sentence in text(page) and "不能核销" in text(page)
    if status == 403:  # another shop's voucher: nothing of it is shown
        assert shops.b_deal["title"] not in text(page)


def test_refunded_and_expired_vouchers_are_refused_by_name(app, shops):
    with app.app_context():
        table = Voucher.__table__
        db.session.execute(
            sa.update(table).where(table.c.code == shops.codes[0]).values(status="refunded")
        )
        db.session.execute(
            sa.update(table).where(table.c.code == shops.codes[1]).values(status="expired")
        )
        db.session.commit()
    clerk = log_in(app, shops.a_clerk)
    assert "已经退款" in text(clerk.get(f"/merchant/redeem/check?code={shops.codes[0]}"))
    assert "已经过期" in text(clerk.get(f"/merchant/redeem/check?code={shops.codes[1]}"))


def test_the_redeem_post_needs_csrf_and_a_session(app, shops, client):
    clerk = log_in(app, shops.a_clerk)
    refused = clerk.post("/merchant/redeem", data={"code": shops.codes[0], "key": "a" * 32})
    assert refused.status_code == 400
    assert client.get("/merchant/redeem").status_code == 302


def test_today_lists_redemptions_with_times_and_clerks(app, shops, clock):
    clerk = log_in(app, shops.a_clerk)
    _, form = confirm_form(clerk, shops.codes[0])
    clerk.post("/merchant/redeem", data=form)
    owner = log_in(app, shops.a_owner)

    today = text(owner.get("/merchant/"))
    assert shops.a_clerk.username in today and "10:00" in today
    assert shops.codes[0][:4] in today
    assert "已售出未使用的券：2 张" in today
    assert "¥128.00" in today  # owed for the redemption
    # the other shop's day knows nothing of it
    other = text(log_in(app, shops.b_clerk).get("/merchant/"))
    assert shops.codes[0][:4] + " " not in other and "今天还没有核销" in other


def test_this_month(app, shops):
    clerk = log_in(app, shops.a_clerk)
    _, form = confirm_form(clerk, shops.codes[0])
    clerk.post("/merchant/redeem", data=form)
    page = text(clerk.get("/merchant/month"))
    assert "2026-11 月度概况" in page and shops.deal["title"] in page
    assert "¥474.00" in page and "¥128.00" in page
    assert shops.b_deal["title"] not in page


def test_the_shops_vouchers_are_masked_and_only_its_own(app, shops):
    clerk = log_in(app, shops.a_clerk)
    page = text(clerk.get("/merchant/vouchers?status=active"))
    assert "共 3 张" in page
    for code in shops.codes:
        assert code[-4:] in page and code[:4] + " " + code[4:8] not in page
    for code in shops.b_codes:  # shop B's vouchers, as they would be shown
        if code[-4:] not in {c[-4:] for c in shops.codes}:
            assert f"**** **** {code[-4:]}" not in page
    assert shops.b_deal["title"] not in page
    assert clerk.get("/merchant/vouchers?status=bogus").status_code == 200
    # a page past the end (a stale or hand-typed link) is the last page, not an empty one
    past = text(clerk.get("/merchant/vouchers?status=active&page=99"))
    assert "共 3 张" in past and shops.codes[0][-4:] in past


@pytest.fixture
def settled(app, client, shops, clock):
    """A's voucher redeemed in November, the month settled on 1 December and paid."""
    clerk = log_in(app, shops.a_clerk)
    for code in shops.codes[:2]:
        _, form = confirm_form(clerk, code)
        assert clerk.post("/merchant/redeem", data=form).status_code == 200
    b_clerk = log_in(app, shops.b_clerk)
    _, form = confirm_form(b_clerk, shops.b_codes[0])
    b_clerk.post("/merchant/redeem", data=form)
    clock.set(datetime(2026, 11, 30, 18, 0, tzinfo=UTC))  # 02:00 on 1 December in Shanghai
    from marketplace.settlement import service
    from marketplace.settlement.models import Statement

    with app.app_context():
        service.run("2026-11")
        db.session.commit()
        ids = {s.party_id: s.id for s in db.session.scalars(sa.select(Statement))}
    admin = staff(app, client, Role.ADMIN)
    paid = client.post(
        f"/api/v1/settlements/statements/{ids[shops.a_id]}/payout",
        json={"reference": "ICBC-20261205-001", "paid_on": "2026-12-05"},
        headers=admin.headers,
    )
    assert paid.status_code == 200, paid.get_json()
    return {"a": ids[shops.a_id], "b": ids[shops.b_id]}


def test_statements_list_detail_and_csv(app, shops, settled):
    owner = log_in(app, shops.a_owner)
    listed = text(owner.get("/merchant/statements"))
    assert "2026-11 结算单" in listed and "¥256.00" in listed and "已付款" in listed
    assert "2026-11 结算单" in text(owner.get("/merchant/statements?page=99"))

    page = text(owner.get(f"/merchant/statements/{settled['a']}"))
    assert "ICBC-20261205-001" in page and "2026年12月5日" in page
    assert " ".join([shops.codes[0][:4], shops.codes[0][4:8], shops.codes[0][8:]]) in page
    assert "11-23 10:00" in page

    download = owner.get(f"/merchant/statements/{settled['a']}.csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in download.headers["Content-Disposition"]
    raw = download.data
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "账期",
        "类型",
        "券码",
        "订单号",
        "核销时间（北京时间）",
        "团购",
        "结算金额（元）",
    ]
    assert rows[1] == ["2026-11", "核销", shops.codes[0], str(shops.order_id),
                       "2026-11-23 10:00", shops.deal["title"], "128.00"]  # fmt: skip
    assert rows[3] == ["2026-11", "合计", "", "", "", "", "256.00"]
    assert rows[4][:2] == ["2026-11", "已付款"] and rows[4][2] == "ICBC-20261205-001"


def test_another_shops_statement_is_a_404_page(app, shops, settled):
    clerk = log_in(app, shops.a_clerk)
    for path in (f"/merchant/statements/{settled['b']}", f"/merchant/statements/{settled['b']}.csv",
                 "/merchant/statements/999999"):  # fmt: skip
        response = clerk.get(path)
        assert response.status_code == 404 and "text/html" in response.content_type
    listed = text(clerk.get("/merchant/statements"))
    assert f"/merchant/statements/{settled['b']}" not in listed


def test_the_owner_edits_the_profile_and_a_clerk_cannot(app, shops):
    owner = log_in(app, shops.a_owner)
    form = text(owner.get("/merchant/shop"))
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    saved = owner.post(
        "/merchant/shop",
        data={"csrf_token": csrf_token_of(form), "version": version,
              "description": "炭火现烤，二十年老店", "phone": "0870-2123456",
              "hours-0-days": ["1", "2", "3", "4", "5"], "hours-0-open": "17:00",
              "hours-0-close": "02:00", "hours-1-open": "", "hours-1-close": "",
              "hours_note": "节假日照常营业"},
    )  # fmt: skip
    assert saved.status_code == 303, text(saved)
    page = text(owner.get("/merchant/shop"))
    assert "二十年老店" in page and "周一至周五 17:00–02:00" in page and "节假日照常营业" in page

    stale = owner.post(
        "/merchant/shop",
        data={"csrf_token": csrf_token_of(form), "version": version, "description": "x",
              "phone": "0870-2123456", "hours_note": ""},
    )  # fmt: skip
    assert stale.status_code == 409
    bad = owner.post(
        "/merchant/shop",
        data={"csrf_token": csrf_token_of(form), "version": str(int(version) + 1),
              "description": "x", "phone": "not a phone", "hours_note": ""},
    )  # fmt: skip
    assert bad.status_code == 422 and "电话号码" in text(bad)

    clerk = log_in(app, shops.a_clerk)
    clerk_page = clerk.get("/merchant/shop")
    assert 'name="version"' not in text(clerk_page)
    refused = clerk.post(
        "/merchant/shop",
        data={"csrf_token": csrf_token_of(text(clerk_page)), "version": str(int(version) + 1),
              "description": "clerk edit", "phone": "0870-2123456", "hours_note": ""},
    )  # fmt: skip
    assert refused.status_code == 403


def test_the_owner_sees_the_staff_and_asks_for_a_login(app, shops):
    owner = log_in(app, shops.a_owner)
    page = text(owner.get("/merchant/staff"))
    assert shops.a_clerk.username in page and shops.a_clerk2.username in page
    assert shops.b_clerk.username not in page
    asked = owner.post(
        "/merchant/staff/request",
        data={"csrf_token": csrf_token_of(page), "name": "小李", "phone": "13800001111",
              "role": "clerk"},
    )  # fmt: skip
    assert asked.status_code == 303
    ticket = text(owner.get(asked.headers["Location"]))
    assert "申请新增商家后台账号" in ticket and "小李" in ticket
    # a clerk neither sees the staff nor asks
    clerk = log_in(app, shops.a_clerk)
    assert clerk.get("/merchant/staff").status_code == 403
    assert "/merchant/staff" not in text(clerk.get("/merchant/"))


def test_tickets_urgent_with_replies_and_only_ones_own(app, shops):
    clerk = log_in(app, shops.a_clerk)
    form = text(clerk.get("/merchant/tickets/new"))
    opened = clerk.post(
        "/merchant/tickets/new",
        data={"csrf_token": csrf_token_of(form), "kind": "question", "subject": "顾客的券扫不出来",
              "body": "顾客在店里等", "urgent": "1", "order_id": str(shops.order_id)},
    )  # fmt: skip
    assert opened.status_code == 303
    ticket_path = opened.headers["Location"]
    page = text(clerk.get(ticket_path))
    assert "紧急" in page and "顾客的券扫不出来" in page and "11月23日 10:01" in page
    # another shop's clerk: the 404 page; and the ticket cannot name another shop's order
    other = log_in(app, shops.b_clerk)
    assert other.get(ticket_path).status_code == 404
    assert "顾客的券扫不出来" not in text(other.get("/merchant/tickets"))
    other_form = text(other.get("/merchant/tickets/new"))
    refused = other.post(
        "/merchant/tickets/new",
        data={"csrf_token": csrf_token_of(other_form), "kind": "question", "subject": "x",
              "body": "y", "order_id": str(shops.order_id)},
    )  # fmt: skip
    assert refused.status_code == 422 and "不是本店的订单" in text(refused)
    replied = other.post(
        ticket_path + "/replies", data={"csrf_token": csrf_token_of(other_form), "body": "hi"}
    )
    assert replied.status_code == 404


def test_an_account_without_a_shop_gets_the_404_page(app, client):
    from tests.factories import make_user

    make_user(app, Role.MERCHANT_STAFF, username="floating")
    browser = app.test_client()
    form = browser.get("/merchant/login")
    browser.post("/merchant/login", data={"username": "floating", "password": PASSWORD,
                 "csrf_token": csrf_token_of(text(form))})  # fmt: skip
    home = browser.get("/merchant/")  # the landing page says so, with a way on
    assert home.status_code == 200 and "还没有绑定商家" in text(home)
    for path in ("/merchant/redeem", "/merchant/statements", "/merchant/month", "/merchant/shop"):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "还没有绑定商家" in text(response)
