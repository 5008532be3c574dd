"""Screenshots of the merchant portal at phone size (375×812) for docs/screenshots/: the
redeem page before, the confirmation, a success, refusals, today, this month and a
statement. Written only by ``make screenshots`` (LINLI_SCREENSHOTS set); skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE, new_context, watch
from tests.browser.test_merchant import (
    OTHER_DEAL,
    SHOP,
    fresh_voucher,
    grouped,
    log_out,
    portal_login,
    settle_this_month_for,
    type_code,
)

OUT = os.environ.get("LINLI_SCREENSHOTS")


@pytest.mark.skipif(not OUT, reason="make screenshots sets LINLI_SCREENSHOTS=docs/screenshots")
def test_screenshots_of_the_merchant_portal(browser, world, browser_problems):
    out = Path(OUT or ".")
    out.mkdir(parents=True, exist_ok=True)
    context = new_context(browser, PHONE, base_url=world.url, device_scale_factor=2)
    page = watch(context.new_page(), browser_problems)
    browser_problems.expect("/merchant/redeem/check")

    page.goto("/merchant/login")
    page.screenshot(path=out / "merchant-login.png")
    portal_login(page, "laozhaotong-clerk")
    code = fresh_voucher(world)
    page.goto("/merchant/redeem")
    page.get_by_label("券码（12 位数字）").press_sequentially(code)
    page.screenshot(path=out / "merchant-redeem.png")
    page.get_by_role("button", name="查询").click()
    page.get_by_role("heading", name="确认核销").wait_for()
    page.screenshot(path=out / "merchant-redeem-confirm.png")
    page.get_by_role("button", name="确认核销").click()
    page.get_by_role("heading", name="核销成功").wait_for()
    page.screenshot(path=out / "merchant-redeem-success.png")
    type_code(page, code)
    page.get_by_role("heading", name="不能核销").wait_for()
    page.screenshot(path=out / "merchant-redeem-used.png")
    type_code(page, fresh_voucher(world, OTHER_DEAL))
    page.get_by_role("heading", name="不能核销").wait_for()
    page.screenshot(path=out / "merchant-redeem-other-shop.png")
    typo = code[:5] + str((int(code[5]) + 1) % 10) + code[6:]
    type_code(page, typo)
    page.get_by_role("alert").get_by_text("有一位数字不对").wait_for()
    page.screenshot(path=out / "merchant-redeem-typo.png")
    for extra in (fresh_voucher(world), fresh_voucher(world)):
        type_code(page, extra)
        page.get_by_role("button", name="确认核销").click()
        page.get_by_role("heading", name="核销成功").wait_for()
    log_out(page)

    portal_login(page, "laozhaotong-owner")
    page.goto("/merchant/")
    page.get_by_role("row").filter(has_text=grouped(code)).wait_for()
    page.screenshot(path=out / "merchant-today.png", full_page=True)
    page.goto("/merchant/month")
    page.screenshot(path=out / "merchant-month.png", full_page=True)
    statement_id = settle_this_month_for(world, SHOP)
    page.goto(f"/merchant/statements/{statement_id}")
    page.screenshot(path=out / "merchant-statement.png", full_page=True)
    page.goto("/merchant/shop")
    page.screenshot(path=out / "merchant-shop.png")
    context.close()
    assert browser_problems.found == []
