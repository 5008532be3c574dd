"""Buying in a real browser at phone size: the share link, the login by SMS code, checkout,
Stripe.js (localstripe's stand-in, from its own port, as production loads Stripe's), the
order page waiting for the payment, the voucher and its QR, refunds, and another shopper's
404s. Every test fails on a console error or a failed request (``page``)."""

from __future__ import annotations

import itertools
import re

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.distribution.models import CustomerBinding
from marketplace.orders.models import Order
from tests.browser.conftest import (
    LARGE_PHONE,
    PHONE,
    loaded_size,
    log_in_with_code,
    new_context,
    paid_order,
    share_link,
    sign_in_as,
    watch,
)
from tests.browser.test_shop import OVERFLOW, SMALL_TARGETS
from tests.factories import quick_shopper

_phones = itertools.count(1)
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"  # localstripe declines it (Stripe: generic_decline)


def new_phone() -> str:
    return f"1350000{next(_phones):04d}"


def orders_of(world, phone: str) -> list[Order]:
    with world.app.app_context():
        user = db.session.scalars(sa.select(User).where(User.phone == phone)).one()
        return db.session.scalars(sa.select(Order).where(Order.shopper_id == user.id)).all()


def fill_card(page, number: str) -> None:
    """The card element (localstripe's stand-in draws plain inputs where Stripe's iframe
    would be)."""
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("30")
    card.get_by_placeholder("cvc").fill("123")


def log_in_and_checkout(page, world, deal_id: int) -> str:
    """From the deal page through the login to the checkout form; the shopper's phone."""
    phone = new_phone()
    page.goto(f"/deals/{deal_id}")
    page.get_by_role("link", name="立即抢购").click()
    log_in_with_code(page, world, phone)
    page.get_by_role("button", name="提交订单").wait_for()
    return phone


def test_a_share_link_visitor_logs_in_buys_the_popup_pays_and_sees_the_voucher(page, world):
    distributor_id, code = share_link(world, world.popup_deal_id)

    page.goto(f"/s/{code}")
    assert re.search(rf"/deals/{world.popup_deal_id}\?ref={code}$", page.url)
    page.get_by_role("link", name="立即抢购").click()
    assert "/login?next=" in page.url
    phone = new_phone()
    log_in_with_code(page, world, phone)

    assert page.url.endswith(f"/deals/{world.popup_deal_id}/buy?ref={code}")
    assert page.get_by_text("9.9元抢烤串双人拼盘").is_visible()
    page.get_by_role("button", name="提交订单").click()
    page.get_by_role("button", name="确认支付 ¥9.90").wait_for()
    fill_card(page, GOOD_CARD)
    page.get_by_role("button", name="确认支付 ¥9.90").click()

    page.get_by_role("heading", name="团购券（1 张）").wait_for()  # paid: confirmed, issued
    assert page.get_by_text("已支付").first.is_visible()
    page.locator(".voucher-item").first.click()
    page.wait_for_load_state()  # the QR image included
    groups = page.locator(".voucher-code span").all_inner_texts()
    assert len(groups) == 3 and all(re.fullmatch(r"\d{4}", g) for g in groups)
    qr = page.get_by_role("img", name=re.compile("^券码 .* 的二维码$"))
    assert loaded_size(qr)[0] > 100
    assert page.get_by_text("老昭通炭火烧烤").first.is_visible()
    assert page.get_by_text("可使用").first.is_visible()

    with world.app.app_context():
        user = db.session.scalars(sa.select(User).where(User.phone == phone)).one()
        binding = db.session.get(CustomerBinding, user.id)
        assert binding is not None and binding.distributor_id == distributor_id
        assert binding.channel == "login"
    [order] = orders_of(world, phone)
    assert order.status == "paid" and order.distributor_l1_id == distributor_id


def test_a_declined_card_then_a_good_one_pays_once(page, world, browser_problems):
    browser_problems.expect("/_confirm_card/")  # localstripe answers the decline with a 402
    phone = log_in_and_checkout(page, world, world.popup_deal_id)
    page.get_by_role("button", name="提交订单").click()

    fill_card(page, DECLINED_CARD)
    page.get_by_role("button", name="确认支付 ¥9.90").click()
    problem = page.get_by_role("alert")
    problem.wait_for()
    assert problem.inner_text() == "银行卡被拒绝了，请换一张卡再试。"
    assert orders_of(world, phone)[0].status == "pending_payment"

    fill_card(page, GOOD_CARD)
    page.get_by_role("button", name="换一张卡再试").click()
    page.get_by_role("heading", name="团购券（1 张）").wait_for()

    [order] = orders_of(world, phone)
    assert order.status == "paid"
    from marketplace.providers.stripe import stripe

    with world.app.app_context():
        intent = stripe().retrieve_payment_intent(order.payment_intent_id)
    assert intent["status"] == "succeeded" and intent["amount"] == 990


def test_a_double_tap_on_the_checkout_button_makes_one_order(page, world, browser_problems):
    # When Chromium does send the second tap's post, the first one's page (the post, or
    # the payment page it was redirected to) is dropped.
    browser_problems.expect("/buy")
    browser_problems.expect("/pay")
    phone = log_in_and_checkout(page, world, world.popup_deal_id)
    posts = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and request.url.endswith("/buy")
            else None
        ),
    )

    # Chromium sends one post for a double tap on a form; a phone's web view may send both,
    # or a slow network may make the shopper tap again: the form posted twice at once.
    landed = page.evaluate(
        """() => { const form = document.getElementById('checkout');
             const post = () => fetch(form.action, {method: 'POST', body: new FormData(form)})
               .then(r => [r.url, r.status]);
             return Promise.all([post(), post()]); }"""
    )
    page.get_by_role("button", name="提交订单").dblclick()
    page.get_by_role("button", name="确认支付 ¥9.90").wait_for()

    assert len(posts) >= 3  # every tap reached the server
    [order] = orders_of(world, phone)
    pay_page = [f"{world.url}/orders/{order.id}/pay", 200]
    # The popup is a flash deal (limit 1): a post that reaches the flash gate while its
    # twin is between the gate and its commit waits for the twin's order (docs/web.md).
    assert landed == [pay_page, pay_page], landed
    assert page.url == f"{world.url}/orders/{order.id}/pay"


def test_a_shopper_asks_for_a_refund(browser, world, browser_problems):
    shopper = quick_shopper(world.app, new_phone())
    checkout = paid_order(world, shopper, world.popup_deal_id)
    context = new_context(browser, base_url=world.url)
    sign_in_as(context, world, shopper)
    page = watch(context.new_page(), browser_problems)

    page.goto(f"/orders/{checkout['order']['id']}")
    page.get_by_role("link", name="申请退款").click()
    page.get_by_text("约不上时间").click()
    page.get_by_label("补充说明（选填）").fill("周末都约满了")
    page.get_by_role("button", name="提交退款申请").click()

    assert page.get_by_text("退款申请已提交，客服会尽快处理。").is_visible()
    assert page.get_by_text("待客服处理 · ¥9.90").is_visible()
    assert page.get_by_role("link", name="申请退款").count() == 0
    context.close()
    assert browser_problems.found == []


def test_a_second_shopper_cannot_open_the_first_ones_order_or_voucher(
    browser, world, browser_problems
):
    first, second = quick_shopper(world.app, new_phone()), quick_shopper(world.app, new_phone())
    checkout = paid_order(world, first, world.popup_deal_id)
    order_id, code = checkout["order"]["id"], checkout["codes"][0]
    context = new_context(browser, base_url=world.url)
    sign_in_as(context, world, second)
    page = watch(context.new_page(), browser_problems)
    for path in (f"/orders/{order_id}", f"/vouchers/{code}", f"/vouchers/{code}/qr.png"):
        browser_problems.expect(path)

    order = page.goto(f"/orders/{order_id}")
    assert order.status == 404
    assert page.get_by_role("heading", name="页面不存在").is_visible()
    assert page.get_by_text("没有找到这个订单。").is_visible()
    voucher = page.goto(f"/vouchers/{code}")
    assert voucher.status == 404
    assert page.get_by_text("没有找到这张券，请核对券码。").is_visible()
    assert page.goto(f"/vouchers/{code}/qr.png").status == 404
    context.close()
    assert browser_problems.found == []


@pytest.mark.parametrize("viewport", [PHONE, LARGE_PHONE], ids=["375x812", "414x896"])
def test_the_shoppers_own_pages_fit_the_phone(browser, world, browser_problems, viewport):
    shopper = quick_shopper(world.app, new_phone())
    checkout = paid_order(world, shopper, world.popup_deal_id)
    order_id, code = checkout["order"]["id"], checkout["codes"][0]
    context = new_context(browser, viewport, base_url=world.url)
    tab = watch(context.new_page(), browser_problems)
    tab.goto("/login")
    found = {("/login", "small"): tab.evaluate(SMALL_TARGETS)}
    sign_in_as(context, world, shopper)
    for path in (
        "/me",
        "/orders",
        f"/orders/{order_id}",
        f"/vouchers/{code}",
        "/vouchers",
        f"/orders/{order_id}/refund",
        "/tickets/new",
        f"/deals/{world.sold_out_deal_id}/buy",
    ):
        if path.endswith("/buy"):
            browser_problems.expect(path)  # sold out: the refusal page (409)
        tab.goto(path)
        for name, check in (("small", SMALL_TARGETS), ("overflow", OVERFLOW)):
            found[(path, name)] = tab.evaluate(check)
    context.close()

    assert {k: v for k, v in found.items() if v} == {}
    assert browser_problems.found == []
