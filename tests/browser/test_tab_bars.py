"""Every tab of every menu can be seen and reached on a phone (375×812, and 320 px wide,
the narrowest phone still in use), in a real browser:

- the merchant portal's menu, for an owner (eight pages) and a clerk (seven), at phone
  sizes and wider: every tab lies whole inside the screen and answers a tap where it is
  drawn (nothing over it, nothing clipped by a strip that scrolls), and the menu has nothing
  hidden beyond its edge;
- the staff console's menu on a phone: every entry in the screen, on one line.

A tab counts as seen when its box lies inside the screen and inside its menu's box and the
browser finds the tab itself at the box's centre (``elementFromPoint``): a tab cut at the
screen's edge, scrolled out of its strip or under another element is not seen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LARGE_PHONE, PHONE, new_context, watch
from tests.browser.test_merchant import portal_login
from tests.browser.test_staff_ops import log_in as staff_log_in

SMALL_PHONE = {"width": 320, "height": 568}
WIDER = [{"width": 768, "height": 1024}, {"width": 1280, "height": 800}]  # a tablet, a desk
OWNER_TABS = ["核销", "今日", "本月", "结算单", "工单", "店铺", "评价", "店员"]
CLERK_TABS = OWNER_TABS[:-1]  # a clerk has no staff page

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


def menu(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name=name, exact=True)


def tabs(nav: Any) -> list[dict[str, Any]]:
    return nav.evaluate(TABS)


def unseen(nav: Any) -> list[str]:
    return [tab["name"] for tab in tabs(nav) if not tab["seen"]]


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
