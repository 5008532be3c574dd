"""Screenshots of the shoppers' and distributors' main pages at phone size, for
docs/screenshots/ (written only by ``make screenshots``, which sets LINLI_SCREENSHOTS;
otherwise skipped)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE, _photo, loaded_size, new_context, watch
from tests.factories import last_code

OUT = os.environ.get("LINLI_SCREENSHOTS")


@pytest.mark.skipif(not OUT, reason="make screenshots sets LINLI_SCREENSHOTS=docs/screenshots")
def test_screenshots_of_the_main_pages(browser, world, browser_problems):
    out = Path(OUT or ".")
    out.mkdir(parents=True, exist_ok=True)
    context = new_context(browser, PHONE, base_url=world.url, device_scale_factor=2)
    page = watch(context.new_page(), browser_problems)

    page.goto("/")
    page.get_by_role("dialog").wait_for()
    page.screenshot(path=out / "shop-home-popup.png")
    page.get_by_role("button", name="关闭").click()
    page.screenshot(path=out / "shop-home.png")
    page.evaluate("() => window.scrollTo(0, 700)")
    page.screenshot(path=out / "shop-home-near.png")
    page.goto("/deals?category=hotpot-bbq&sort=popularity")
    page.screenshot(path=out / "shop-list.png")
    page.goto(f"/deals/{world.photo_deal_id}")
    page.screenshot(path=out / "shop-deal.png")
    page.evaluate("() => window.scrollTo(0, 650)")
    page.screenshot(path=out / "shop-deal-rules.png")
    page.goto(f"/deals/{world.sold_out_deal_id}")
    page.screenshot(path=out / "shop-deal-sold-out.png")
    browser_problems.expect("/deals/999999")
    page.goto("/deals/999999")
    page.screenshot(path=out / "shop-404.png")

    # Buying: the login (code sent, the resend counting down), checkout, paying, the order
    # with its voucher, the voucher at the counter, my vouchers, the sold-out refusal.
    page.goto(f"/deals/{world.popup_deal_id}")
    page.get_by_role("link", name="立即抢购").click()
    page.get_by_label("手机号").fill("13600009999")
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_text("验证码已发送到").wait_for()
    page.screenshot(path=out / "shop-login.png")
    page.get_by_label("验证码").fill(last_code(world.app.extensions["linli.sms"], "13600009999"))
    page.get_by_role("button", name="登录", exact=True).click()
    page.get_by_role("button", name="提交订单").wait_for()
    page.screenshot(path=out / "shop-checkout.png")
    page.get_by_role("button", name="提交订单").click()
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill("4242424242424242")
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("30")
    card.get_by_placeholder("cvc").fill("123")
    page.screenshot(path=out / "shop-pay.png")
    page.get_by_role("button", name="确认支付 ¥9.90").click()
    page.get_by_role("heading", name="团购券（1 张）").wait_for()
    page.screenshot(path=out / "shop-order.png")
    page.locator(".voucher-item").first.click()
    page.get_by_role("img", name=re.compile("二维码")).wait_for()
    page.wait_for_load_state()
    page.screenshot(path=out / "shop-voucher.png")
    page.goto("/vouchers")
    page.screenshot(path=out / "shop-vouchers.png")
    page.locator(".voucher-item").first.click()
    page.get_by_role("link", name="‹ 订单详情").click()
    page.get_by_role("link", name="申请退款").click()
    page.screenshot(path=out / "shop-refund.png")
    page.goto("/tickets/new")
    page.screenshot(path=out / "shop-ticket.png")
    browser_problems.expect(f"/deals/{world.sold_out_deal_id}/buy")
    page.goto(f"/deals/{world.sold_out_deal_id}/buy")
    page.screenshot(path=out / "shop-sold-out.png")
    context.close()

    assert browser_problems.found == []


@pytest.mark.skipif(not OUT, reason="make screenshots sets LINLI_SCREENSHOTS=docs/screenshots")
def test_screenshots_of_the_distributor_pages(browser, world, browser_problems):
    from tests.browser.test_distributor import (
        bound_customer_buys,
        join_with_invite,
        new_phone,
        verify_friends,
    )

    out = Path(OUT or ".")
    out.mkdir(parents=True, exist_ok=True)
    context = new_context(browser, PHONE, base_url=world.url, device_scale_factor=2)
    page = watch(context.new_page(), browser_problems)
    phone = new_phone()

    page.goto("/distributor/join")
    page.get_by_label("手机号").wait_for()
    join_with_invite(page, world, phone)
    page.goto(f"/deals/{world.photo_deal_id}")
    page.get_by_role("button", name="分享赚佣金").click()
    poster_img = page.get_by_role("img", name=re.compile("的分享海报$"))
    loaded_size(poster_img)
    page.screenshot(path=out / "distributor-share.png")
    poster = page.get_by_role("link", name="保存海报").get_attribute("href")
    (out / "distributor-poster.png").write_bytes(page.request.get(poster).body())
    page.evaluate("() => window.scrollTo(0, 420)")
    page.screenshot(path=out / "distributor-share-poster.png")
    bound_customer_buys(world, phone)
    verify_friends(world, phone)
    page.goto("/distributor/moments")
    page.get_by_label("朋友圈截图").set_input_files(
        {"name": "moments.png", "mimeType": "image/png", "buffer": _photo()}
    )
    page.get_by_role("button", name="上传打卡").click()
    page.wait_for_url(re.compile(r"/distributor/moments$"))
    page.screenshot(path=out / "distributor-moments.png")
    page.goto("/distributor")
    page.screenshot(path=out / "distributor-home.png")
    page.goto("/distributor/customers")
    page.screenshot(path=out / "distributor-customers.png")
    context.close()

    assert browser_problems.found == []
