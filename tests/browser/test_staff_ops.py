"""The staff console's customer-service and general-manager journeys in a real browser at
desktop size (1280×800), against the harness's live server, seed and localstripe:

- customer service logs in, finds the shopper's refund request in the queue (phone, wait),
  approves it, and the shopper's voucher page says refunded;
- the general manager settles last month from the page, records a payout, and sees the
  overview's figures match the statements;
- every CS and money page is usable at tablet width (768×1024): nothing wider than the
  screen but the tables, which scroll inside their cards.

With LINLI_SCREENSHOTS set (``make screenshots``) the refund queue and the money
overview are written to docs/screenshots/."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from marketplace.core.clock import day_start, frozen, local_today, previous_month
from marketplace.core.db import db
from tests.browser.conftest import new_context, paid_order, sign_in_as, watch
from tests.factories import quick_shopper

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
DEV_PASSWORD = "linli-dev-password"
OUT = os.environ.get("LINLI_SCREENSHOTS")


def console(browser, world, problems, viewport=DESKTOP):
    """A desktop (or tablet) browser: no touch, no mobile viewport, as staff work."""
    context = browser.new_context(
        viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=world.url
    )
    context.set_default_timeout(10_000)
    return context, watch(context.new_page(), problems)


def log_in(page, username: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("账号").fill(username)
    page.get_by_label("密码").fill(DEV_PASSWORD)
    with page.expect_navigation():  # the page it leads to, loaded (see test_merchant)
        page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name=re.compile("你好")).wait_for()


def shot(page, name: str, **options) -> None:
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(OUT) / name, **options)


def test_customer_service_approves_a_refund_and_the_shopper_sees_it_refunded(
    browser, world, browser_problems
):
    shopper = quick_shopper(world.app, "13500007001")
    checkout = paid_order(world, shopper, world.popup_deal_id)
    code = checkout["codes"][0]
    asked = world.app.test_client().post(
        f"/api/v1/orders/{checkout['order']['id']}/refund-requests",
        json={"reason": "cannot_book", "reason_text": "周末都约满了"},
        headers=shopper.headers,
    )
    assert asked.status_code == 201, asked.get_json()
    request_id = asked.get_json()["id"]

    context, page = console(browser, world, browser_problems)
    log_in(page, "cs")
    assert page.get_by_text("待处理退款").is_visible()  # the landing panel
    page.get_by_role("navigation", name="运营后台").get_by_role("link", name="退款").click()
    row = page.get_by_role("row", name=f"退款申请 #{request_id}")
    row.get_by_role("link", name="13500007001").wait_for()  # tel: link, once the queue is shown
    assert row.get_by_text("周末都约满了").is_visible()
    shot(page, "staff-cs-refunds.png")
    row.get_by_role("button", name=re.compile(r"^同意退款 ¥")).click()
    page.get_by_text(f"退款申请 #{request_id} 已同意，钱已原路退回。").wait_for()
    assert page.get_by_role("row", name=f"退款申请 #{request_id}").count() == 0
    context.close()

    shop = new_context(browser, base_url=world.url)
    sign_in_as(shop, world, shopper)
    mine = watch(shop.new_page(), browser_problems)
    mine.goto(f"/vouchers/{code}")
    assert mine.get_by_text("已退款").first.is_visible()
    shop.close()
    assert browser_problems.found == []


def _last_month_sale(world) -> dict[str, int]:
    """A sale last month, played back on the platform's clock (``frozen``, this thread
    only): a deal of a seeded shop on sale then, a shopper buying it through the API and
    paying at localstripe, the voucher used at the shop a day later; the deal is paused
    then, so the catalog the other tests of this server count is as the seed left it."""
    from marketplace.accounts.models import User
    from marketplace.deals import service as deals
    from marketplace.orders import actions
    from marketplace.vouchers.models import Voucher
    from merchants.models import Merchant
    from tests.factories import Account, make_deal, put_live

    period = previous_month()
    middle = day_start(local_today().replace(day=1) - timedelta(days=15)) + timedelta(hours=3)
    app = world.app
    with frozen(middle) as clock:
        with app.test_request_context():
            editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
            shop = db.session.scalars(
                sa.select(Merchant).where(Merchant.name == "老昭通炭火烧烤")
            ).one()
            shop_id, editor_id = shop.id, editor.id
            account = Account(editor.id, editor.username, None, "")
        deal = make_deal(app.test_client(), account, shop_id, "small_set", title="上月烧烤三人餐")
        put_live(app, deal["id"])
        shopper = quick_shopper(app, "13500007002")
        checkout = paid_order(world, shopper, deal["id"])
        clock.advance(days=1)
        with app.test_request_context():
            voucher = db.session.scalars(
                sa.select(Voucher).where(Voucher.order_id == checkout["order"]["id"])
            ).one()
            actions.voucher_redeemed(voucher, by_id=None)
            # sold out last month: off the catalog the other browser tests count
            deals.pause(deals.get_deal(deal["id"]), db.session.get(User, editor_id))
            db.session.commit()
    return {"period": period, "merchant_id": shop_id}


def test_the_general_manager_settles_last_month_pays_and_the_overview_matches(
    browser, world, browser_problems
):
    sale = _last_month_sale(world)
    period = sale["period"]

    context, page = console(browser, world, browser_problems)
    log_in(page, "admin")
    nav = page.get_by_role("navigation", name="运营后台")
    nav.get_by_role("link", name="结算").click()
    assert page.get_by_label("月份").first.input_value() == period
    page.get_by_role("button", name="开始结算").click()
    page.get_by_text(re.compile(f"^{period} 已结算：新出商家结算单")).wait_for()
    statement = page.get_by_role("row").filter(has_text="老昭通炭火烧烤")
    statement.get_by_role("link").click()
    page.get_by_label("付款流水号").wait_for()
    total = page.locator('[data-figure="statement_total"]').inner_text()
    page.get_by_label("付款流水号").fill("ICBC-0001")
    page.get_by_role("button", name="登记付款").click()
    page.get_by_text(re.compile(r"已登记付款")).wait_for()
    assert page.get_by_text(re.compile("已付款：流水号 ICBC-0001")).is_visible()

    nav.get_by_role("link", name="经营概览").click()
    page.get_by_label("月份").fill(period)
    page.get_by_role("button", name="查看").click()
    page.get_by_role("heading", name=f"经营概览 {period}").wait_for()
    owed = page.locator('[data-figure="settlement_owed"]').inner_text()
    on_statements = page.locator('[data-statements="merchant"]').inner_text()
    commission = page.locator('td[data-statements="distributor"]').inner_text()
    assert owed == on_statements and owed != "¥0.00"
    assert commission == page.locator('dd[data-figure="commission"]').inner_text()
    assert page.get_by_text(re.compile("已付款 1 张")).is_visible()
    assert total == owed  # the only shop with vouchers used last month
    assert page.locator("svg[role=img]").count() == 2
    shot(page, "staff-money-overview.png", full_page=True)
    context.close()
    assert browser_problems.found == []


PAGES = [
    ("cs", ["/staff/", "/staff/cs/refunds", "/staff/cs/tickets", "/staff/cs/vouchers/expired",
            "/staff/cs/moments", "/staff/cs/distributors"]),
    ("admin", ["/staff/", "/staff/money", "/staff/money/settlements",
               "/staff/money/reconciliation", "/staff/admin/distribution", "/staff/admin/staff",
               "/staff/admin/jobs"]),
]  # fmt: skip


@pytest.mark.parametrize(("username", "paths"), PAGES)
def test_the_pages_fit_a_tablet(browser, world, browser_problems, username, paths):
    context, page = console(browser, world, browser_problems, TABLET)
    log_in(page, username)
    for path in paths:
        page.goto(path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= TABLET["width"], (path, width)
    context.close()
    assert browser_problems.found == []
