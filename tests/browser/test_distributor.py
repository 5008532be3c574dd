"""A distributor's pages in a real browser at phone size: join with an invite code, share
a deal and get its poster, see the customers and commission a shared link brought, send
the day's Moments proof."""

from __future__ import annotations

import itertools
import re
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.distribution import distributors, links
from marketplace.distribution.models import Distributor
from tests.browser.conftest import World, _photo, loaded_size, log_in_with_code
from tests.browser.test_shop import OVERFLOW, SMALL_TARGETS
from tests.factories import pay, quick_shopper

_phones = itertools.count(1)
COMMISSION_DEAL = "羊肉火锅三人餐"  # pays level-1 commission (seed/deals.py)


def new_phone() -> str:
    """A number no seeded shopper has (each worker's world is a fresh database)."""
    return f"1390001{next(_phones):04d}"


def seeded_invite_code(world: World) -> str:
    """The invite code of 李姐, the seed's first distributor."""
    with world.app.app_context():
        return db.session.scalars(
            sa.select(Distributor.invite_code)
            .join(User, User.id == Distributor.user_id)
            .where(User.phone == "13700000001")
        ).one()


def join_with_invite(page: Any, world: World, phone: str) -> None:
    """A new shopper opens the distributor centre, logs in and joins with an invite code."""
    page.goto("/distributor")
    log_in_with_code(page, world, phone)
    page.wait_for_url(re.compile(r"/distributor/join$"))
    page.get_by_label("邀请码").fill(seeded_invite_code(world))
    page.get_by_label("微信好友数").fill("1500")
    page.get_by_role("button", name="加入分销").click()
    page.wait_for_url(re.compile(r"/distributor$"))


def distributor_of_phone(world: World, phone: str) -> Distributor:
    return db.session.scalars(
        sa.select(Distributor).join(User, User.id == Distributor.user_id).where(User.phone == phone)
    ).one()


def bound_customer_buys(world: World, phone: str) -> None:
    """A customer follows the distributor's link to a deal that pays commission and pays
    (through the API and the payment server: the checkout pages are tested on their own)."""
    with world.app.app_context():
        distributor = distributor_of_phone(world, phone)
        deal_id = db.session.scalars(sa.select(Deal.id).where(Deal.title == COMMISSION_DEAL)).one()
        code = links.share_deal(distributor, deal_id).code
        db.session.commit()
    buyer = quick_shopper(world.app)
    client = world.app.test_client()
    checkout = client.post(
        "/api/v1/orders",
        json={"deal_id": deal_id, "quantity": 1, "ref": code},
        headers=buyer.headers,
    )
    assert checkout.status_code == 201, checkout.get_json()
    pay(world.app, checkout.get_json(), via="reconcile")


def verify_friends(world: World, phone: str) -> None:
    """Customer service checked the friend count (the seed's ``cs``)."""
    with world.app.app_context():
        cs = db.session.scalars(sa.select(User).where(User.username == "cs")).one()
        distributors.update_distributor(
            distributor_of_phone(world, phone), {"wechat_friends": 1500}, cs
        )
        db.session.commit()


def test_a_shopper_joins_with_an_invite_code_and_shares_a_deal_with_its_poster(page, world):
    phone = new_phone()
    join_with_invite(page, world, phone)

    assert page.get_by_text("欢迎加入邻里分销").is_visible()
    assert page.get_by_text("今天分享 0 个链接，被点开 0 次").is_visible()
    assert page.get_by_role("heading", name="我的佣金").is_visible()

    page.goto(f"/deals/{world.photo_deal_id}")
    page.get_by_role("button", name="分享赚佣金").click()
    page.wait_for_url(re.compile(r"/distributor/links/\w+$"))
    code = page.url.rsplit("/", 1)[1]
    link = page.get_by_role("textbox", name="分享链接")
    assert link.input_value() == f"{world.url}/s/{code}"
    poster = page.get_by_role("img", name=re.compile("的分享海报$"))
    assert loaded_size(poster) == [750, 1334]
    saved = page.request.get(page.get_by_role("link", name="保存海报").get_attribute("href"))
    assert saved.ok and saved.headers["content-type"] == "image/png"
    assert saved.body().startswith(b"\x89PNG\r\n\x1a\n")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="复制链接").click()
    page.get_by_role("status").filter(has_text="已复制").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == f"{world.url}/s/{code}"
    found = {
        name: page.evaluate(check)
        for name, check in (("small", SMALL_TARGETS), ("overflow", OVERFLOW))
    }
    assert found == {"small": [], "overflow": 0}


def test_customers_and_commission_after_a_bound_customers_purchase(page, world):
    phone = new_phone()
    join_with_invite(page, world, phone)
    bound_customer_buys(world, phone)

    page.reload()

    assert page.get_by_role("link", name=re.compile(r"我的客户\s*1 位，成交 1 单")).is_visible()
    pending = page.locator(".dist-state-pending .dist-amount")
    assert pending.inner_text() == "¥8.00"  # level 1 of 羊肉火锅三人餐; the tier's bonus is 0
    assert page.locator(".dist-rows li").first.inner_text().endswith("¥8.00")  # this month
    page.get_by_role("link", name=re.compile("^我的客户")).click()
    customer = page.locator(".dist-customers li")
    customer.first.wait_for()  # the customers page, not the dashboard still on screen
    assert customer.count() == 1
    assert re.search(r"138\*{4}\d{4}", customer.inner_text())
    assert "成交 1 单，共 ¥158.00" in customer.inner_text()
    found = {}
    for path in ("/distributor", "/distributor/customers", "/distributor/statements",
                 "/distributor/moments"):  # fmt: skip
        page.goto(path)
        for name, check in (("small", SMALL_TARGETS), ("overflow", OVERFLOW)):
            found[(path, name)] = page.evaluate(check)
    assert {k: v for k, v in found.items() if v} == {}


def test_a_distributor_sends_the_days_moments_proof(page, world):
    phone = new_phone()
    join_with_invite(page, world, phone)
    verify_friends(world, phone)

    page.get_by_role("link", name="朋友圈打卡").click()
    page.get_by_label("朋友圈截图").set_input_files(
        {"name": "moments.png", "mimeType": "image/png", "buffer": _photo()}
    )
    page.get_by_role("button", name="上传打卡").click()
    page.wait_for_url(re.compile(r"/distributor/moments$"))

    assert page.get_by_text("打卡已上传，客服审核后计入连续天数。").is_visible()
    assert page.get_by_role("heading", name="朋友圈连续打卡 1 天").is_visible()
    assert page.locator(".proof-submitted").inner_text() == "待审核"
    page.get_by_role("link", name=re.compile("返回")).click()
    assert page.get_by_text("今天已打卡，等待审核").is_visible()
