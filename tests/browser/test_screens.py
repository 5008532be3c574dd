"""Screenshots of the shoppers' main pages at phone size, for docs/screenshots/ (written
only by ``make screenshots``, which sets LINLI_SCREENSHOTS; otherwise skipped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE, new_context, watch

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
    context.close()

    assert browser_problems.found == []
