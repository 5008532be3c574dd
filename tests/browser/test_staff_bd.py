"""The staff console's BD, deal and calendar pages in the browser (desktop 1280×800, and a
tablet's 768×1024), logged in with the seed's own accounts as a person would:

- BD takes a new lead to live: creates it, is refused the contracted stage with the names
  of the missing documents, uploads the three documents, grades it 4 stars with a note,
  moves it along the board to live, writes its deal and puts it into an empty 10:00 slot,
  which then shows as filled;
- an editor's flash deal with a margin is refused with the rule's words as they type.

With LINLI_SCREENSHOTS set (``make screenshots``) the journeys also write the board, the
merchant page, the deal editor and the calendar to that folder."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from marketplace.core.clock import local_today
from seed.staff import DEV_PASSWORD
from tests.browser.conftest import watch
from tests.factories import PDF

DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
OUT = os.environ.get("LINLI_SCREENSHOTS")
# Whether the page is wider than the window (a board scrolls inside itself instead).
PAGES = ("/staff/", "/staff/merchants", "/staff/deals", "/staff/deals/new", "/staff/calendar",
         "/staff/calendar/popup", "/staff/calendar/weekly", "/staff/follow-ups")  # fmt: skip
OVERFLOW = "() => document.documentElement.scrollWidth > window.innerWidth + 1"


def desk(browser: Any, world: Any, problems: Any, viewport: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=1,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        base_url=world.url,
    )
    context.set_default_timeout(10_000)
    return context, watch(context.new_page(), problems)


def log_in(page: Any, username: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("账号").fill(username)
    page.get_by_label("密码").fill(DEV_PASSWORD)
    with page.expect_navigation():  # the page it leads to, loaded (see test_merchant)
        page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name=re.compile("你好")).wait_for()


def shot(page: Any, name: str, *, full: bool = False) -> None:
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(OUT) / f"{name}.png", full_page=full)


# Other browser tests on the shared server create merchants named "浏览器测试 …" too: the
# journey finds its own card by this name.
NEW_LEAD = "浏览器测试 新开铜锅"


def test_bd_takes_a_new_lead_to_live_and_schedules_its_deal(
    browser, world, browser_problems, tmp_path
):
    context, page = desk(browser, world, browser_problems)
    log_in(page, "bd")
    page.get_by_role("link", name="新线索").first.click()
    page.get_by_label("店名").fill("浏览器测试 新开铜锅")
    page.get_by_label("分类").select_option(label="火锅烧烤")
    page.get_by_label("地址").fill("昭阳区珠泉路 9 号")
    page.get_by_label("纬度").fill("27.3401")
    page.get_by_label("经度").fill("103.7188")
    page.get_by_role("button", name="创建线索").click()
    page.get_by_text("已创建线索：浏览器测试 新开铜锅。").wait_for()
    merchant_url = page.url

    # on the board: lead → negotiating, then the contract gate names what is missing
    page.goto("/staff/merchants?q=浏览器测试")
    page.get_by_label("把浏览器测试 新开铜锅移到").select_option(label="洽谈中")
    page.locator("li.board-card", has_text=NEW_LEAD).get_by_role("button", name="移动").click()
    page.get_by_text("浏览器测试 新开铜锅 已移到「洽谈中」。").wait_for()
    browser_problems.expect("/stage")
    page.get_by_label("把浏览器测试 新开铜锅移到").select_option(label="已签约")
    page.locator("li.board-card", has_text=NEW_LEAD).get_by_role("button", name="移动").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "还缺：商家入驻协议、商户服务合同、服务合同附表" in alert.inner_text()

    # the three documents, each a scan uploaded on the merchant page
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(PDF)
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    page.goto(merchant_url)
    for kind in ("商家入驻协议", "商户服务合同", "服务合同附表"):
        page.get_by_label("合同类型").select_option(label=kind)
        page.get_by_label("签署人").fill("张老板")
        page.get_by_label("签署日期").fill(yesterday)
        page.get_by_label(re.compile("^扫描件")).set_input_files(scan)
        page.get_by_role("button", name="上传").click()
        page.get_by_text(f"已记录「{kind}」。").wait_for()
    assert page.get_by_text("未签").count() == 0

    # graded 4 stars with a note
    page.get_by_role("radio", name="4 星").check()
    page.get_by_label("评级说明").fill("老板做了二十年铜锅，点评 4.7，回头客多")
    page.get_by_label("参考").fill("大众点评 4.7")
    page.get_by_role("button", name="保存评级").click()
    page.get_by_text("已评为 4 星。").wait_for()
    history = page.get_by_role("region", name="评级")
    assert "老板做了二十年铜锅" in history.inner_text()

    # negotiating → contracted → live on the board
    page.goto("/staff/merchants?q=浏览器测试")
    for stage in ("已签约", "已上线"):
        page.get_by_label("把浏览器测试 新开铜锅移到").select_option(label=stage)
        page.locator("li.board-card", has_text=NEW_LEAD).get_by_role("button", name="移动").click()
        page.get_by_text(f"浏览器测试 新开铜锅 已移到「{stage}」。").wait_for()
    live_column = page.get_by_role("region", name=re.compile("^已上线"))
    assert "浏览器测试 新开铜锅" in live_column.inner_text()
    assert page.evaluate(OVERFLOW) is False
    page.goto("/staff/merchants")
    shot(page, "staff-board")

    # its deal, written in the editor while the rules say it is fine
    page.goto(merchant_url)
    shot(page, "staff-merchant")
    page.get_by_role("link", name="它的团购").click()
    page.get_by_role("link", name="新建团购").last.click()
    page.get_by_label("商家", exact=True).select_option(label="浏览器测试 新开铜锅（已上线）")
    page.get_by_label("标题").fill("浏览器测试 铜锅四人餐")
    page.get_by_label("适用人数").fill("4")
    page.get_by_label("门市价").fill("268")
    page.get_by_label("售价", exact=True).fill("158")
    page.get_by_label("结算价（付给商家）").fill("128")
    page.get_by_label("库存").fill("100")
    page.get_by_text("符合小套餐的规则。").wait_for()
    page.get_by_role("button", name="创建草稿").click()
    page.get_by_text("已创建草稿：浏览器测试 铜锅四人餐。").wait_for()

    # into the first empty 10:00 slot still to come, which then shows as filled
    page.get_by_role("link", name="排进上新日历").click()
    put = page.get_by_role("button", name=re.compile(r"^把选中的团购排入 \S+ 10:00$")).first
    slot = put.get_attribute("aria-label").removeprefix("把选中的团购排入 ")
    cell = page.get_by_role("cell", name=slot, exact=True)
    assert "空" in cell.inner_text()
    page.get_by_label(f"{slot} 排哪个团购").select_option(
        label="浏览器测试 铜锅四人餐（浏览器测试 新开铜锅）"
    )
    put.click()
    page.get_by_text(f"「浏览器测试 铜锅四人餐」已排入 {slot}。").wait_for()
    cell = page.get_by_role("cell", name=slot, exact=True)
    assert "浏览器测试 铜锅四人餐" in cell.inner_text()
    assert cell.get_by_role("button", name=f"取出 {slot} 的团购").is_visible()
    assert "slot-filled" in cell.get_attribute("class")
    shot(page, "staff-calendar")
    context.close()
    assert browser_problems.found == []


def test_an_editors_flash_deal_with_a_margin_is_refused_as_they_type(
    browser, world, browser_problems
):
    context, page = desk(browser, world, browser_problems)
    log_in(page, "editor")
    assert page.get_by_role("link", name="商家看板").count() == 0  # not an editor's page
    page.get_by_role("link", name="新建团购").first.click()
    page.get_by_label("商家", exact=True).select_option(label="小肠旺老店（已上线）")
    page.get_by_label("类型", exact=True).select_option(label="秒杀")
    rules = page.get_by_role("complementary", name="这个类型的规则")
    rules.get_by_text("零毛利：售价必须等于结算价").wait_for()
    page.get_by_label("标题").fill("浏览器测试 秒杀小肠旺")
    page.get_by_label("门市价").fill("38")
    page.get_by_label("结算价（付给商家）").fill("9.9")
    page.get_by_label("库存").fill("30")
    starts = local_today() + timedelta(days=1)
    page.get_by_label("开抢时间").fill(f"{starts.isoformat()}T10:00")
    page.get_by_label("结束时间").fill(f"{(starts + timedelta(days=2)).isoformat()}T22:00")
    page.get_by_label("售价", exact=True).press_sequentially("19.9", delay=40)
    # (a check may answer while the price is half typed: wait for the one of "19.9")
    expect(rules).to_contain_text("每份毛利¥10.00", use_inner_text=False, timeout=10_000)
    broken = rules.get_by_role("alert")
    assert broken.inner_text() == "秒杀团购的售价必须等于结算价（零毛利）。"
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "staff-deal-editor")

    page.get_by_label("售价", exact=True).fill("9.9")
    broken.get_by_text("秒杀团购的售价必须等于结算价（零毛利）。").wait_for(state="detached")
    # saving anyway with the margin back is the same refusal from the server
    page.get_by_label("售价", exact=True).fill("12.9")
    browser_problems.expect("/staff/deals/new")
    with page.expect_navigation():
        page.get_by_role("button", name="创建草稿").click()
    refusal = page.locator("p.form-problem")  # the page's own refusal, above the form
    assert refusal.inner_text() == "秒杀团购的售价必须等于结算价（零毛利）。"
    assert page.get_by_label("售价", exact=True).input_value() == "12.9"
    context.close()
    assert browser_problems.found == []


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET], ids=["desktop", "tablet"])
def test_the_pages_fit_a_desktop_and_a_tablet(browser, world, browser_problems, viewport):
    context, page = desk(browser, world, browser_problems, viewport)
    log_in(page, "bd")
    overflowing = []
    for path in PAGES:
        page.goto(path)
        if page.evaluate(OVERFLOW):
            overflowing.append(path)
    page.goto("/staff/merchants?q=小肠旺")
    merchant = page.get_by_role("link", name="小肠旺老店")
    merchant.click()
    if page.evaluate(OVERFLOW):
        overflowing.append(page.url)
    context.close()
    assert overflowing == []
    assert browser_problems.found == []


def test_a_card_dragged_onto_a_column_moves_by_the_same_form(browser, world, browser_problems):
    from marketplace.accounts.models import User
    from marketplace.core.db import db
    from tests.factories import Account, make_merchant

    with world.app.app_context():
        bd = db.session.scalars(db.select(User).where(User.username == "bd")).one()
        account = Account(bd.id, bd.username, None, "")
    make_merchant(world.app.test_client(), account, name="浏览器测试 拖拽小店")
    context, page = desk(browser, world, browser_problems)
    log_in(page, "bd")
    page.goto("/staff/merchants?q=拖拽小店")
    card = page.get_by_role("listitem").filter(has_text="浏览器测试 拖拽小店")
    card.drag_to(page.get_by_role("region", name=re.compile("^洽谈中")))
    page.get_by_text("浏览器测试 拖拽小店 已移到「洽谈中」。").wait_for()
    column = page.get_by_role("region", name=re.compile("^洽谈中"))
    assert "浏览器测试 拖拽小店" in column.inner_text()
    # a column the stage rule does not allow is no drop target: nothing is sent
    card = page.get_by_role("listitem").filter(has_text="浏览器测试 拖拽小店")
    card.drag_to(page.get_by_role("region", name=re.compile("^已上线")))
    page.wait_for_timeout(300)
    assert (
        "浏览器测试 拖拽小店" in page.get_by_role("region", name=re.compile("^洽谈中")).inner_text()
    )
    context.close()
    assert browser_problems.found == []
