"""Every tab of every menu can be seen and reached on a phone (375×812, and 320 px wide,
the narrowest phone still in use), in a real browser:

- the merchant portal's menu, for an owner (eight pages) and a clerk (seven), at phone
  sizes and wider: every tab lies whole inside the screen and answers a tap where it is
  drawn (nothing over it, nothing clipped by a strip that scrolls), and the menu has nothing
  hidden beyond its edge;
- the staff console's menu on a phone: every entry in the screen, on one line;
- the shop's fixed rows of tabs (the tab bar, the list's sorts, my vouchers' statuses) fit
  the screen whole;
- the category chips, an open list that scrolls sideways: the current chip is in view, a
  cue shows on each side where more chips lie (and only there), and each chip can be
  scrolled into sight.

A tab counts as seen when its box lies inside the screen and inside its menu's box and the
browser finds the tab itself at the box's centre (``elementFromPoint``): a tab cut at the
screen's edge, scrolled out of its strip or under another element is not seen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import LARGE_PHONE, PHONE, new_context, sign_in_as, watch
from tests.browser.test_merchant import portal_login
from tests.browser.test_staff_ops import log_in as staff_log_in
from tests.factories import quick_shopper

SMALL_PHONE = {"width": 320, "height": 568}
WIDER = [{"width": 768, "height": 1024}, {"width": 1280, "height": 800}]  # a tablet, a desk
OWNER_TABS = ["核销", "今日", "本月", "结算单", "工单", "店铺", "评价", "店员"]
CLERK_TABS = OWNER_TABS[:-1]  # a clerk has no staff page
VOUCHER_TABS = ["全部", "可使用", "退款中", "已使用", "已退款", "已过期"]  # every status

# Each link of the menu: its name, its height and whether it is seen (see the docstring).
TABS = """nav => { const box = nav.getBoundingClientRect();
  return [...nav.querySelectorAll('a')].map(a => {
    const r = a.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    const inside = r.left >= Math.max(0, box.left) - 0.5
      && r.right <= Math.min(innerWidth, box.right) + 0.5 && r.top >= 0 && r.bottom <= innerHeight;
    return {name: a.textContent.trim(), height: Math.round(r.height),
            seen: inside && hit !== null && a.contains(hit)}; }); }"""
# How far the menu's content reaches beyond its box (0: nothing hidden in a scroll).
HIDDEN_BEYOND = "nav => nav.scrollWidth - nav.clientWidth"
# The strip's cues, [start, end]: a shadow (a gradient) drawn by ::before / ::after.
CUES = """nav => ['::before', '::after'].map(p => { const s = getComputedStyle(nav, p);
  return s.content !== 'none' && s.content !== 'normal' && parseFloat(s.width) > 0
    && s.backgroundImage.includes('gradient'); })"""


def centre(chip: Any) -> None:
    chip.evaluate("a => a.scrollIntoView({inline: 'center', block: 'nearest'})")


def cues_become(strip: Any, expected: list[bool]) -> None:
    """Wait for the strip's cues to be ``expected`` (the scroll handler runs after the
    scroll), failing with what they are."""
    try:
        strip.page.wait_for_function(
            f"([nav, want]) => JSON.stringify(({CUES})(nav)) === want",
            arg=[strip.element_handle(), str(expected).lower().replace(" ", "")],
            timeout=2000,
        )
    except PlaywrightTimeout:
        assert strip.evaluate(CUES) == expected


def menu(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name=name, exact=True)


def tabs(nav: Any) -> list[dict[str, Any]]:
    return nav.evaluate(TABS)


def unseen(nav: Any) -> list[str]:
    return [tab["name"] for tab in tabs(nav) if not tab["seen"]]


def seen(nav: Any) -> list[str]:
    return [tab["name"] for tab in tabs(nav) if tab["seen"]]


@pytest.mark.parametrize(
    "viewport",
    [PHONE, SMALL_PHONE, LARGE_PHONE, *WIDER],
    ids=lambda v: f"{v['width']}x{v['height']}",
)
@pytest.mark.parametrize(
    ("username", "expected"),
    [("laozhaotong-owner", OWNER_TABS), ("laozhaotong-clerk", CLERK_TABS)],
    ids=["owner", "clerk"],
)
def test_the_merchant_menu_shows_every_page(
    browser, world, browser_problems, viewport, username, expected
):
    context = new_context(browser, viewport, base_url=world.url)
    page = watch(context.new_page(), browser_problems)
    portal_login(page, username)
    found = {}
    for path in ("/merchant/redeem", "/merchant/statements", "/merchant/shop"):
        page.goto(path)
        nav = menu(page, "商家后台")
        found[path] = {
            "names": [tab["name"] for tab in tabs(nav)],
            "unseen": unseen(nav),
            "short": [tab["name"] for tab in tabs(nav) if tab["height"] < 44],
            "hidden beyond the edge (px)": nav.evaluate(HIDDEN_BEYOND),
        }
    context.close()

    clear = {"names": expected, "unseen": [], "short": [], "hidden beyond the edge (px)": 0}
    assert found == dict.fromkeys(found, clear)
    assert browser_problems.found == []


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["375x812", "320x568"])
def test_the_staff_menu_fits_a_phone_on_single_lines(browser, world, browser_problems, viewport):
    context = browser.new_context(
        viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=world.url
    )
    page = watch(context.new_page(), browser_problems)
    staff_log_in(page, "admin")  # the general manager has every entry
    page.goto("/staff/")
    entries = tabs(menu(page, "运营后台"))
    context.close()

    assert len(entries) >= 20
    assert [tab["name"] for tab in entries if not tab["seen"]] == []
    # one line each: a label broken over lines (a menu squeezed narrow) is taller
    assert [tab["name"] for tab in entries if not 44 <= tab["height"] < 56] == []
    assert browser_problems.found == []


@pytest.mark.parametrize("viewport", [PHONE, SMALL_PHONE], ids=["375x812", "320x568"])
def test_the_shops_tab_rows_fit_a_phone(browser, world, browser_problems, viewport):
    context = new_context(browser, viewport, base_url=world.url)
    sign_in_as(context, world, quick_shopper(world.app))
    page = watch(context.new_page(), browser_problems)
    page.goto("/deals?category=hotpot-bbq")
    sorts = tabs(menu(page, "排序"))
    bar = tabs(menu(page, "邻里"))
    page.goto("/vouchers")
    statuses = tabs(menu(page, "按状态查看"))
    context.close()

    assert [t["name"] for t in statuses] == VOUCHER_TABS
    assert len(sorts) == 4 and len(bar) == 4
    for row in (sorts, bar, statuses):
        assert [t["name"] for t in row if not t["seen"] or t["height"] < 44] == []
    assert browser_problems.found == []


def test_the_category_chips_scroll_with_a_cue_and_show_the_current_one(
    browser, world, browser_problems
):
    context = new_context(browser, PHONE, base_url=world.url)
    page = watch(context.new_page(), browser_problems)
    page.goto("/deals")
    strip = menu(page, "分类")
    names = [tab["name"] for tab in tabs(strip)]
    assert len(names) == 9 and names[0] == "全部"  # all, and the eight categories
    assert strip.evaluate(HIDDEN_BEYOND) > 0  # more than a phone's width: it scrolls

    # at the start: 全部 (current) in view, the cue at the end only, the rest beyond it
    assert seen(strip)[0] == "全部"
    cues_become(strip, [False, True])
    later = unseen(strip)
    assert later and later == names[-len(later) :]

    # each chip can be brought into sight; in the middle both cues show, at the end the
    # cue at the start only
    for name in names:
        centre(strip.get_by_role("link", name=name, exact=True))
        assert name in seen(strip)
    cues_become(strip, [True, False])
    centre(strip.get_by_role("link", name=names[4], exact=True))
    cues_become(strip, [True, True])

    # the last category chosen: the page opens with its chip in view
    strip.get_by_role("link", name=names[-1], exact=True).click()
    page.wait_for_url("**/deals?category=*")
    assert strip.locator("[aria-current=page]").inner_text() == names[-1]
    assert names[-1] in seen(strip)
    cues_become(strip, [True, False])
    context.close()
    assert browser_problems.found == []
