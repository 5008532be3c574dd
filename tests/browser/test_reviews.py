"""A shopper rates a redeemed visit in a real browser at phone size (375×812): from the
voucher's page to the form (stars, words, a photo) and back, and the review shows in the
deal page's reviews block (loaded by htmx). Customer service's reviews and care pages on a
desktop. Screenshots for docs/ with ``make screenshots``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from marketplace.core.db import db
from tests.browser.conftest import new_context, paid_order, sign_in_as, watch
from tests.browser.test_staff_ops import console, log_in
from tests.factories import quick_shopper

OUT = os.environ.get("LINLI_SCREENSHOTS")
DEAL_TITLE = "羊肉火锅三人餐"  # the seed's customers reviewed it already
# Where each part of the review form's content starts (its box's left edge inside its
# border and padding), in CSS pixels from the screen's left.
FORM_PARTS = ["legend", "label[for=review-text]", "#review-text", "label[for=review-photos]",
              "#review-photos"]  # fmt: skip
CONTENT_LEFTS = """parts => Object.fromEntries(parts.map(sel => {
  const el = document.querySelector(sel), s = getComputedStyle(el);
  return [sel, Math.round(el.getBoundingClientRect().left + parseFloat(s.borderLeftWidth)
                          + parseFloat(s.paddingLeft))]; }))"""


def shot(page, name: str, **options) -> None:
    if OUT:
        Path(OUT).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(OUT) / name, **options)


def _deal_id(world) -> int:
    from marketplace.deals.models import Deal

    with world.app.app_context():
        return db.session.scalars(sa.select(Deal.id).where(Deal.title == DEAL_TITLE)).one()


def _redeem(world, code: str) -> None:
    """The shop redeems the voucher (as the counter's scan does)."""
    from marketplace.orders import actions
    from marketplace.vouchers.models import Voucher

    with world.app.app_context():
        voucher = db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).one()
        actions.voucher_redeemed(voucher, by_id=None)
        db.session.commit()


def test_a_shopper_rates_a_redeemed_visit(browser, world, browser_problems, tmp_path):
    deal_id = _deal_id(world)
    shopper = quick_shopper(world.app)
    code = paid_order(world, shopper, deal_id)["codes"][0]
    _redeem(world, code)
    photo = tmp_path / "dish.jpg"
    Image.new("RGB", (320, 240), (200, 90, 40)).save(photo, "JPEG")

    context = new_context(browser, base_url=world.url)
    sign_in_as(context, world, shopper)
    page = watch(context.new_page(), browser_problems)
    page.goto(f"/vouchers/{code}")
    page.get_by_role("link", name="评价这次消费").click()
    page.get_by_role("heading", name=DEAL_TITLE).wait_for()
    page.locator("label[for=star-4]").click()
    page.get_by_label(re.compile("说说感受")).fill("羊肉很新鲜，服务热情。")
    page.get_by_label(re.compile("晒图")).set_input_files(str(photo))
    # the titles and the fields start on one line at the left, as in the shop's other forms
    assert page.evaluate(CONTENT_LEFTS, FORM_PARTS) == dict.fromkeys(FORM_PARTS, 16)
    shot(page, "shop-review-form.png", full_page=True)
    page.get_by_role("button", name="提交评价").click()

    page.get_by_text("谢谢你的评价！").wait_for()
    assert page.get_by_role("link", name="查看我的评价").is_visible()
    page.goto(f"/deals/{deal_id}")
    block = page.locator("#deal-reviews")
    block.get_by_text("羊肉很新鲜，服务热情。").wait_for()
    assert block.locator(".review-photos img").count() >= 1
    block.scroll_into_view_if_needed()
    shot(page, "shop-deal-reviews.png")
    context.close()
    assert browser_problems.found == []


def test_customer_service_sees_the_reviews_and_the_care_list(browser, world, browser_problems):
    context, page = console(browser, world, browser_problems)
    log_in(page, "cs")
    page.goto("/staff/reviews?view=low")
    page.get_by_role("heading", name="用户评价").wait_for()
    assert page.get_by_text("船开得太快").is_visible()  # the seed's 2-star review
    shot(page, "staff-reviews.png")
    page.goto("/staff/care?tab=contacts")
    page.get_by_text("说周末带朋友来吃甜品。").wait_for()
    shot(page, "staff-care-contacts.png")
    page.goto("/staff/care?tab=segments")
    page.get_by_role("heading", name="客户维护").wait_for()
    shot(page, "staff-care-segments.png")
    context.close()
    assert browser_problems.found == []
