"""The shoppers' pages in a real browser at phone size, as a shopper uses them."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    LARGE_PHONE,
    PHONE,
    SOLD_OUT_TITLE,
    loaded_size,
    new_context,
    watch,
)

# Interactive elements smaller than a fingertip, and anything wider than the screen.
SMALL_TARGETS = """() => [...document.querySelectorAll('a, button, input, select, textarea')]
  .filter(el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && r.left >= 0
      && r.right <= innerWidth && !el.closest('[hidden]'); })
  .filter(el => el.getBoundingClientRect().height < 44)
  .map(el => el.outerHTML.slice(0, 120))"""
OVERFLOW = "() => document.documentElement.scrollWidth - innerWidth"


def test_home_shows_the_popup_once_a_day_then_the_city(page, world):
    page.goto("/")

    popup = page.get_by_role("dialog")
    assert popup.is_visible()
    assert popup.get_by_text("9.9元抢烤串双人拼盘").is_visible()
    page.get_by_role("button", name="关闭").click()
    assert popup.is_hidden()
    page.reload()
    page.wait_for_load_state()
    assert page.get_by_role("dialog").is_hidden()  # dismissed today: not again

    categories = page.locator(".category-grid li")
    assert categories.count() == 8
    assert categories.first.inner_text().split() == ["火", "火锅烧烤", "4", "个团购"]
    assert page.get_by_role("heading", name="今日上新").is_visible()
    near = page.locator("#near .deal-card")
    assert near.count() == 6
    assert page.get_by_text("按市中心计算距离").is_visible()
    phone = page.get_by_role("link", name="客服电话 13808700000")
    assert phone.get_attribute("href") == "tel:13808700000"


@pytest.mark.parametrize("viewport", [PHONE, LARGE_PHONE], ids=["375x812", "414x896"])
def test_pages_fit_the_phone_with_fingertip_targets(browser, world, browser_problems, viewport):
    context = new_context(browser, viewport, base_url=world.url)
    tab = watch(context.new_page(), browser_problems)
    found = {}
    for path in ("/", "/deals?category=hotpot-bbq", f"/deals/{world.photo_deal_id}"):
        tab.goto(path)
        for name, check in (("small", SMALL_TARGETS), ("overflow", OVERFLOW)):
            found[(path, name)] = tab.evaluate(check)
    context.close()

    assert {k: v for k, v in found.items() if v} == {}
    assert browser_problems.found == []


def test_the_popup_link_opens_the_deal_and_counts_as_seen(page, world):
    page.goto("/")
    page.get_by_role("link", name="马上去看").click()

    assert page.url.endswith(f"/deals/{world.popup_deal_id}")
    photo = page.locator(".gallery-track img").first
    assert loaded_size(photo)[0] == 640
    page.go_back()
    assert page.get_by_role("dialog").is_hidden()


def test_a_category_list_sorts_and_loads_more(page, world):
    page.goto("/")
    page.get_by_role("button", name="关闭").click()
    page.get_by_role("link", name=re.compile("^火锅烧烤 4 个团购")).click()

    assert page.get_by_role("heading", name="火锅烧烤").is_visible()
    assert page.locator(".deal-card").count() == 4
    assert {s.inner_text() for s in page.locator(".deal-shop").all()} <= {
        "老昭通炭火烧烤 ★★★★★",
        "乌蒙山羊肉火锅 ★★★★☆",
    }
    page.get_by_role("link", name="最热").click()
    assert page.get_by_role("link", name="最热").get_attribute("aria-current") == "true"
    assert "sort=popularity" in page.url and "category=hotpot-bbq" in page.url

    on_sale = world.app.test_client().get("/api/v1/deals").get_json()["total"]
    page.goto("/deals")
    assert page.get_by_text(f"共 {on_sale} 个").is_visible()
    assert page.locator(".deal-card").count() == 10
    url = page.url
    page.get_by_role("link", name="加载更多").click()  # htmx: the next page in place
    page.get_by_text("没有更多了").wait_for()
    assert page.locator(".deal-card").count() == on_sale
    assert page.url == url


def test_search_finds_by_deal_or_shop_name(page):
    page.goto("/")
    page.get_by_role("button", name="关闭").click()
    page.get_by_role("searchbox", name="搜索团购或商家").fill("羊肉")
    page.get_by_role("button", name="搜索").click()

    assert page.get_by_role("heading", name="“羊肉”的搜索结果").is_visible()
    titles = [t.inner_text() for t in page.locator(".deal-title").all()]
    assert titles and all("羊肉" in t for t in titles)


def test_a_sold_out_deal_says_why_it_cannot_be_bought(page, world):
    page.goto(f"/deals/{world.sold_out_deal_id}")

    assert page.get_by_role("heading", name=SOLD_OUT_TITLE).is_visible()
    buy = page.get_by_role("button", name="立即抢购")
    assert buy.is_disabled()
    assert page.get_by_role("note").inner_text() == "手慢了，这个团购已经抢光了。"
    assert page.get_by_text("剩余 0 份").is_visible()


def test_the_deal_page_has_the_shop_its_rules_and_the_phone(page, world):
    page.goto(f"/deals/{world.photo_deal_id}")

    assert page.get_by_role("link", name="立即抢购").is_enabled()
    assert page.get_by_text("老昭通炭火烧烤").first.is_visible()
    assert page.get_by_text("购买后 30 天内有效").is_visible()
    assert page.get_by_text("每天 10:00–22:00").is_visible()
    assert "uri.amap.com/marker?position=" in page.get_by_role(
        "link", name="查看地图"
    ).get_attribute("href")
    assert page.get_by_role("link", name="客服电话 13808700000").is_visible()


def test_an_unknown_deal_is_a_404_page_in_the_shop_style(page, browser_problems):
    browser_problems.expect("/deals/999999")
    response = page.goto("/deals/999999")

    assert response.status == 404
    assert page.get_by_role("heading", name="页面不存在").is_visible()
    assert page.get_by_text("这个团购不存在或已经下架。").is_visible()
    page.get_by_role("link", name="回到首页").click()
    assert page.get_by_role("heading", name="今日上新").is_visible()


def test_sharing_the_location_is_a_form_with_its_csrf_token(browser, world, browser_problems):
    context = new_context(
        browser,
        base_url=world.url,
        permissions=["geolocation"],
        geolocation={"latitude": 27.3583, "longitude": 103.7172},  # 2 km north of the centre
    )
    tab = watch(context.new_page(), browser_problems)
    tab.goto("/")
    tab.get_by_role("button", name="关闭").click()

    tab.get_by_role("button", name="用我的位置").click()
    tab.get_by_text("已按你的位置推荐。").wait_for()
    assert tab.get_by_text("按你的位置计算距离").is_visible()
    first = tab.locator("#near .distance").first.inner_text()

    # The same form with its token removed, as a forged cross-site post would arrive.
    browser_problems.expect("/location")
    tab.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with tab.expect_navigation():
        tab.get_by_role("button", name="改用市中心").click()
    assert tab.get_by_role("heading", name="请求有误").is_visible()
    assert tab.get_by_text("页面停留太久已过期，请刷新页面后再提交一次。").is_visible()
    tab.goto("/")
    assert tab.get_by_text("按你的位置计算距离").is_visible()  # nothing changed
    assert tab.locator("#near .distance").first.inner_text() == first
    context.close()

    assert browser_problems.found == []


def test_a_page_costs_little_to_load(page):
    """No page over ~150 KB of our assets: everything the home page loads from us (HTML,
    CSS, JS, as sent), and our own (non-vendored) CSS and JS separately."""
    page.goto("/")
    page.wait_for_load_state("networkidle")
    entries = page.evaluate(
        """() => [...performance.getEntriesByType('navigation'),
                  ...performance.getEntriesByType('resource')]
           .map(e => ({name: e.name, size: e.encodedBodySize, type: e.initiatorType}))"""
    )
    code = [e for e in entries if e["type"] in ("navigation", "link", "script")]
    own = [e for e in code if "/assets/" in e["name"] and "/vendor/" not in e["name"]]

    assert len(code) >= 5  # the page, weui, htmx, our CSS and JS
    assert sum(e["size"] for e in code) < 150_000, code
    assert sum(e["size"] for e in own) < 30_000, own
