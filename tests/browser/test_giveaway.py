"""The free-meal giveaway in a real browser, against the harness's live server and seed:

- a shopper finds the giveaway on the home page (375×812), reads the rules and the
  countdown, logs in, uploads a screenshot with the likes, and sees the entry waiting;
- customer service (1280×800) verifies the entries with the likes counted, rejects one
  with a reason, closes the campaign now, and the winner reads their prize on the
  campaign page while the free voucher waits in their vouchers.

Each journey makes its own campaign (the seed's stays open for the other tests). With
LINLI_SCREENSHOTS set (``make screenshots``) the campaign page, the entry form and the
console's campaign are written to docs/screenshots/."""

from __future__ import annotations

import re

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.giveaway import service
from seed.giveaway import screenshot
from tests.browser.conftest import loaded_size, log_in_with_code, new_context, sign_in_as, watch
from tests.browser.test_staff_ops import console, log_in, shot
from tests.factories import quick_shopper


def new_campaign(world, title: str = "小肠旺四人餐", meals: int = 5) -> int:
    with world.app.test_request_context():
        deal = db.session.scalars(sa.select(Deal).where(Deal.title == title)).one()
        bd = db.session.scalars(sa.select(User).where(User.username == "bd")).one()
        campaign = service.create_campaign(bd, deal_id=deal.id, meals=meals, payer="merchant")
        db.session.commit()
        return campaign.id


def entered(world, campaign_id: int, account, seed: int, likes: int) -> int:
    with world.app.test_request_context():
        shopper = db.session.get(User, account.id)
        entry = service.submit_entry(campaign_id, shopper, screenshot(seed), likes)
        db.session.commit()
        return entry.id


def test_a_shopper_enters_the_giveaway_from_the_home_page(
    browser, world, browser_problems, tmp_path
):
    campaign_id = new_campaign(world)
    context = new_context(browser, base_url=world.url, device_scale_factor=2)
    page = watch(context.new_page(), browser_problems)
    page.goto("/")
    if page.get_by_role("dialog").is_visible():
        page.get_by_role("button", name="关闭").click()
    page.locator(f'[data-giveaway="{campaign_id}"]').click()

    page.get_by_role("heading", name=re.compile("小肠旺四人餐")).wait_for()
    assert page.get_by_role("heading", name="活动规则").is_visible()
    timer = page.get_by_role("timer")
    first = timer.locator("strong").inner_text()
    assert re.fullmatch(r"(\d+ 天 )?\d\d:\d\d:\d\d", first), first  # ticked by giveaway.js
    page.wait_for_timeout(1100)
    assert timer.locator("strong").inner_text() != first
    assert page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
    shot(page, "shop-giveaway.png", full_page=True)

    page.get_by_role("link", name="上传截图报名").click()
    phone = "13500008101"
    log_in_with_code(page, world, phone)
    page.get_by_label("点赞数").wait_for()
    image = tmp_path / "moments.png"
    image.write_bytes(screenshot(7))
    page.get_by_label("朋友圈截图").set_input_files(str(image))
    page.get_by_label("点赞数").fill("52")
    shot(page, "shop-giveaway-enter.png")
    page.get_by_role("button", name="提交报名").click()

    page.get_by_text("报名成功").wait_for()
    assert page.get_by_text("我报的点赞数：52").is_visible()
    assert page.get_by_text("已提交，等客服核对").is_visible()
    assert loaded_size(page.get_by_role("img", name="我提交的朋友圈截图"))[0] > 0
    assert page.get_by_role("link", name="上传截图报名").count() == 0  # once
    context.close()


def test_customer_service_verifies_entries_and_closes_the_giveaway(
    browser, world, browser_problems
):
    campaign_id = new_campaign(world, title="甜品三人下午茶")
    people = [quick_shopper(world.app, f"1350000820{n}") for n in range(3)]
    entries = [
        entered(world, campaign_id, person, seed, likes)
        for person, seed, likes in zip(people, (11, 12, 13), (30, 45, 80), strict=True)
    ]

    context, page = console(browser, world, browser_problems)
    log_in(page, "cs")
    page.get_by_role("navigation", name="运营后台").get_by_role("link", name="霸王餐").click()
    page.get_by_role("link", name=re.compile("甜品三人下午茶")).first.click()
    page.get_by_role("heading", name=f"霸王餐 #{campaign_id}").wait_for()

    for entry_id, likes in ((entries[0], "28"), (entries[1], "45")):
        card = page.locator(f'[data-entry="{entry_id}"]')
        assert loaded_size(card.get_by_role("img"))[0] > 0
        card.get_by_label("点赞数").fill(likes)
        card.get_by_role("button", name="核实").click()
        page.get_by_text(f"报名 #{entry_id} 已核实。").wait_for()
    card = page.locator(f'[data-entry="{entries[2]}"]')
    card.get_by_label("驳回原因").fill("截图里的点赞是 P 图")
    card.get_by_role("button", name="驳回").click()
    page.get_by_text(f"报名 #{entries[2]} 已驳回。").wait_for()
    ranking = page.locator("table.gw-ranking tbody tr")
    assert ranking.count() == 2
    assert "45" in ranking.nth(0).inner_text() and "28" in ranking.nth(1).inner_text()
    shot(page, "staff-giveaway.png", full_page=True)

    page.get_by_role("button", name="立即结束并开奖").click()
    page.get_by_text("已开奖：发出免费券 2 张，消息 3 条。").wait_for()
    assert page.get_by_role("button", name="立即结束并开奖").count() == 0
    context.close()

    shopper_context = new_context(browser, base_url=world.url)
    sign_in_as(shopper_context, world, people[1])
    shopper_page = watch(shopper_context.new_page(), browser_problems)
    shopper_page.goto(f"/giveaways/{campaign_id}")
    assert shopper_page.get_by_text("恭喜中奖！第 1 名").is_visible()
    assert shopper_page.get_by_role("heading", name="中奖名单").is_visible()
    shopper_page.get_by_role("link", name="查看我的免费券").click()
    shopper_page.wait_for_load_state()
    assert "¥0.00" in shopper_page.content()
    sent = world.app.extensions["linli.notifier"].sent
    assert any(c == f"shopper:{people[2].id}" and "感谢" in m for c, m in sent)
    shopper_context.close()
