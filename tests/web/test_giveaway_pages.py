"""The free-meal giveaway's pages: the shopper's campaign page and entry form, the staff
console's campaigns (BD starts one; customer service verifies, rejects, closes), and who
may open them."""

from __future__ import annotations

import re
from io import BytesIO

import pytest

from tests.factories import quick_shopper
from tests.giveaway.conftest import build_world, enter, open_campaign, screenshot
from tests.web.test_staff_cs_roles import as_role, forbidden, page_csrf_token, page_text

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def world(app, client, clock):
    return build_world(app, client)


def sign_in_shopper(app, client):
    from marketplace.web.session import TOKEN_KEY

    account = quick_shopper(app)
    with client.session_transaction() as session:
        session[TOKEN_KEY] = account.token
    return account


def post_entry(client, campaign_id: int, image: bytes | None, likes: str = "12"):
    data = {"csrf_token": page_csrf_token(client), "likes": likes}
    if image is not None:
        data["screenshot"] = (BytesIO(image), "moments.png")
    return client.post(
        f"/giveaways/{campaign_id}/enter", data=data, content_type="multipart/form-data"
    )


def text(response) -> str:
    return response.get_data(as_text=True)


def test_home_links_the_open_campaign_and_its_page_shows_rules_and_countdown(
    app, client, clock, world
):
    assert "data-giveaway" not in text(client.get("/"))
    campaign = open_campaign(client, world, meals=6)

    home = text(client.get("/"))
    page = client.get(f"/giveaways/{campaign['id']}")

    assert f'href="/giveaways/{campaign["id"]}"' in home and "本周霸王餐" in home
    assert page.status_code == 200
    body = text(page)
    assert "活动规则" in body and "前 6 名各得一份免费套餐" in body
    assert 'data-deadline="86400"' in body and "上传截图报名" in body
    clock.advance(hours=24)
    assert "data-giveaway" not in text(client.get("/"))
    assert "报名已结束" in text(client.get(f"/giveaways/{campaign['id']}"))


def test_a_shopper_enters_with_a_screenshot_and_sees_the_entry(app, client, world):
    campaign = open_campaign(client, world)
    form = client.get(f"/giveaways/{campaign['id']}/enter")
    assert form.status_code == 302 and "/login" in form.headers["Location"]  # a visitor

    sign_in_shopper(app, client)
    assert client.get(f"/giveaways/{campaign['id']}/enter").status_code == 200
    no_file = post_entry(client, campaign["id"], None)
    no_likes = post_entry(client, campaign["id"], screenshot(), likes="")
    not_image = post_entry(client, campaign["id"], b"GIF89a not taken")
    sent = post_entry(client, campaign["id"], screenshot(), likes="35")

    assert no_file.status_code == 422 and "请选择朋友圈截图" in text(no_file)
    assert no_likes.status_code == 422 and "请填写点赞数" in text(no_likes)
    assert not_image.status_code == 422 and "只能上传 JPEG、PNG 或 WebP 图片" in text(not_image)
    assert sent.status_code == 303
    page = text(client.get(sent.headers["Location"]))
    assert "报名成功" in page and "我报的点赞数：35" in page
    assert 'data-entry-status="submitted"' in page
    image = re.search(r'src="(/giveaways/entries/\d+/screenshot)"', page).group(1)
    assert client.get(image).status_code == 200
    again = client.get(f"/giveaways/{campaign['id']}/enter")
    assert again.status_code == 302  # entered already: the campaign page
    twice = post_entry(client, campaign["id"], screenshot())
    assert twice.status_code == 409 and "每人只能报名一次" in text(twice)


def test_the_same_screenshot_and_a_closed_window_are_said_on_the_form(app, client, clock, world):
    campaign = open_campaign(client, world)
    image = screenshot()
    enter(client, quick_shopper(app), campaign["id"], image=image)
    sign_in_shopper(app, client)

    copied = post_entry(client, campaign["id"], image)
    assert copied.status_code == 409 and "这张截图已经有人提交过了" in text(copied)
    clock.advance(hours=24)
    closed = client.get(f"/giveaways/{campaign['id']}/enter")
    assert closed.status_code == 409 and "不在报名时间内" in text(closed)


def test_bd_starts_a_campaign_in_the_console(app, client, world):
    as_role(app, client, "bd")
    page = text(client.get("/staff/giveaways"))
    assert "发起霸王餐" in page and world["deal"]["title"] in page
    token = page_csrf_token(client)

    bad = client.post(
        "/staff/giveaways",
        data={"csrf_token": token, "deal_id": world["deal"]["id"], "meals": "12", "payer": "x"},
    )
    made = client.post(
        "/staff/giveaways",
        data={
            "csrf_token": token,
            "deal_id": world["deal"]["id"],
            "meals": "8",
            "payer": "platform",
            "window_hours": "24",
        },
    )

    assert bad.status_code == 422
    assert made.status_code == 303
    detail = text(client.get(made.headers["Location"]))
    assert "8 份 · 平台按结算价付给商家" in detail
    assert "立即结束并开奖" not in detail  # closing is customer service's


def test_customer_service_verifies_rejects_and_closes_in_the_console(app, client, world):
    campaign = open_campaign(client, world, meals=5)
    people = [quick_shopper(app) for _ in range(3)]
    ids = [
        enter(client, p, campaign["id"], likes=n).get_json()["id"]
        for p, n in zip(people, (10, 30, 20), strict=True)
    ]
    as_role(app, client, "cs")
    detail = f"/staff/giveaways/{campaign['id']}"
    page = text(client.get(detail))
    assert page.count("data-entry=") == 3
    shot = re.search(r'src="(/staff/giveaways/entries/\d+/screenshot)"', page).group(1)
    assert client.get(shot).status_code == 200
    token = page_csrf_token(client)

    verified = client.post(
        f"/staff/giveaways/entries/{ids[0]}/review",
        data={"csrf_token": token, "verified": "true", "likes": "9", "back": detail},
    )
    no_reason = client.post(
        f"/staff/giveaways/entries/{ids[1]}/review",
        data={"csrf_token": token, "verified": "false", "reason": ""},
    )
    rejected = client.post(
        f"/staff/giveaways/entries/{ids[1]}/review",
        data={"csrf_token": token, "verified": "false", "reason": "截图是别的活动"},
    )

    assert verified.status_code == 303 and rejected.status_code == 303
    assert no_reason.status_code == 422
    page = text(client.get(detail))
    assert "核实 9 赞" in page and "截图是别的活动" in page and "暂列中奖" in page
    closed = client.post(f"/staff/giveaways/{campaign['id']}/close", data={"csrf_token": token})
    assert closed.status_code == 303
    after = text(client.get(detail))
    assert "已开奖" in after and "发出免费券 1 张，消息 3 条" in after
    public = text(client.get(f"/giveaways/{campaign['id']}"))
    assert "中奖名单" in public and "9 赞" in public


def test_a_campaign_with_more_entries_than_a_page_pages_them(app, client, world):
    """The pager's links name the campaign (they did not: a 21st entry made the page a 500),
    also on the page a refused review shows again."""
    from marketplace.web.routing import PAGE_SIZE

    campaign = open_campaign(client, world, meals=5)
    people = [quick_shopper(app) for _ in range(PAGE_SIZE + 1)]
    ids = [enter(client, p, campaign["id"], likes=5).get_json()["id"] for p in people]
    as_role(app, client, "cs")
    detail = f"/staff/giveaways/{campaign['id']}"

    first = client.get(detail)
    assert first.status_code == 200
    assert text(first).count("data-entry=") == PAGE_SIZE
    following = re.search(r'href="([^"]*page=2[^"]*)"', text(first)).group(1).replace("&amp;", "&")
    assert following.startswith(detail)
    second = client.get(following)
    assert second.status_code == 200 and text(second).count("data-entry=") == 1
    # a query argument named like the path's cannot replace it in the links (was a 500)
    odd = client.get(f"{detail}?campaign_id=abc&status=")
    assert odd.status_code == 200 and f'href="{detail}?page=2' in text(odd)

    refused = client.post(
        f"/staff/giveaways/entries/{ids[0]}/review",
        data={"csrf_token": page_csrf_token(client), "verified": "false", "reason": ""},
    )
    assert refused.status_code == 422
    assert f'href="{detail}?page=2' in text(refused)


PAGES = ["/staff/giveaways", "/staff/giveaways/1", "/staff/giveaways/entries/1/screenshot"]
ACTIONS = [
    "/staff/giveaways",
    "/staff/giveaways/entries/1/review",
    "/staff/giveaways/1/close",
]


@pytest.mark.parametrize("who", ["clerk", "shopper", "editor"])
def test_the_console_pages_are_the_403_page_for_shoppers_clerks_and_editors(app, client, who):
    as_role(app, client, who)
    forbidden(client, PAGES)
    token = page_csrf_token(client)
    for path in ACTIONS:
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path


def test_bd_may_not_review_or_close_and_cs_may_not_create(app, client, world):
    campaign = open_campaign(client, world)
    entry = enter(client, quick_shopper(app), campaign["id"]).get_json()
    as_role(app, client, "bd")
    token = page_csrf_token(client)
    assert (
        client.post(
            f"/staff/giveaways/entries/{entry['id']}/review", data={"csrf_token": token}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/staff/giveaways/{campaign['id']}/close", data={"csrf_token": token}
        ).status_code
        == 403
    )
    as_role(app, client, "cs")
    token = page_csrf_token(client)
    assert client.post("/staff/giveaways", data={"csrf_token": token}).status_code == 403
    assert "发起霸王餐" not in page_text(client, "/staff/giveaways")


def test_the_menu_shows_the_giveaway_to_cs_bd_and_the_manager_only(app, client):
    for who, shown in (("cs", True), ("bd", True), ("admin", True), ("editor", False)):
        as_role(app, client, who)
        assert (">霸王餐</a>" in text(client.get("/staff/"))) is shown, who


def test_a_visitor_is_sent_to_the_console_login(client):
    response = client.get("/staff/giveaways")
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/login")


def test_another_shoppers_screenshot_is_not_found(app, client, world):
    campaign = open_campaign(client, world)
    entry = enter(client, quick_shopper(app), campaign["id"]).get_json()
    sign_in_shopper(app, client)
    assert client.get(f"/giveaways/entries/{entry['id']}/screenshot").status_code == 404
