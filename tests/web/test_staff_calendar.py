"""The publishing calendar, popup days and the weekly page in the staff console over HTTP
(marketplace/web/staff/calendar.py): slots filled and emptied through deals.publishing,
its refusals as sentences, the popup bookings and picks, and who may open what."""

from __future__ import annotations

import re

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals import popup, weekly
from marketplace.deals.models import Deal
from marketplace.web.staff.calendar import CHOICES
from merchants.models import Category, Merchant
from tests.bulk import deal_row, insert
from tests.factories import (
    live_deal,
    live_merchant,
    make_deal,
    make_merchant,
    move,
    serving,
    staff,
)
from tests.querycount import count_queries
from tests.web.test_staff_bd import html, outsiders, signed_in
from tests.web.test_staff_cs_roles import page_text
from tests.web.test_staff_deals import deal_actions


def slot_cell(page: str, key: str) -> str:
    """The table cell of the slot ``key`` ("2026-11-24 10:00")."""
    match = re.search(rf'<td class="slot ([^"]*)" aria-label="{key}">(.*?)</td>', page, re.S)
    assert match, f"no slot {key}"
    return match.group(1) + " " + match.group(2)


def test_who_opens_the_calendar_popup_days_and_weekly_page(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = make_deal(client, bd, merchant["id"])
    editors_pages = ("/staff/calendar", "/staff/calendar/weekly")
    for name, person in outsiders(app, client, editor=False).items():
        token = signed_in(client, person)
        for path in (*editors_pages, "/staff/calendar/popup"):
            assert client.get(path).status_code == 403, (name, path)
        for path in (
            "/staff/calendar/slots",
            "/staff/calendar/slots/remove",
            "/staff/calendar/popup",
        ):
            data = {
                "csrf_token": token,
                "deal_id": deal["id"],
                "date": "2026-11-24",
                "slot": "10:00",
            }
            assert client.post(path, data=data).status_code == 403, (name, path)
    editor = staff(app, client, Role.EDITOR)
    token = signed_in(client, editor)
    for path in editors_pages:
        assert client.get(path).status_code == 200, path
    # popup bookings are BD's (the API's /popup-bookings): an editor gets the 403 page
    assert client.get("/staff/calendar/popup").status_code == 403
    booking = {"csrf_token": token, "deal_id": deal["id"], "date": "2026-11-25"}
    assert client.post("/staff/calendar/popup", data=booking).status_code == 403
    assert "首页弹窗" not in html(client.get("/staff/"))
    signed_in(client, bd)
    assert client.get("/staff/calendar/popup").status_code == 200


def test_a_deal_is_put_into_an_empty_slot_and_taken_out(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = make_deal(client, bd, merchant["id"], title="排期测试套餐")
    other = make_deal(client, bd, merchant["id"], title="另一个套餐")
    lead = make_merchant(client, bd)
    editor = staff(app, client, Role.EDITOR)
    token = signed_in(client, editor)

    page = html(client.get("/staff/calendar"))
    assert "还有 28 个空时段" in page and "14 天一个上新都没有" in page
    assert "slot-empty" in slot_cell(page, "2026-11-24 10:00")
    assert "已过，没有上新" in slot_cell(page, "2026-11-23 10:00")  # today's 10:00 has passed
    assert "排期测试套餐" in slot_cell(page, "2026-11-24 10:00")  # offered in the slot's choice

    put = client.post(
        "/staff/calendar/slots",
        data={"csrf_token": token, "deal_id": deal["id"], "date": "2026-11-24", "slot": "10:00"},
    )
    assert put.status_code == 303
    page = html(client.get(put.headers["Location"]))
    cell = slot_cell(page, "2026-11-24 10:00")
    assert cell.startswith("slot-filled") and "排期测试套餐" in cell and "取出" in cell
    assert "还有 27 个空时段" in page and "13 天一个上新都没有" in page
    with app.app_context():
        assert db.session.get(Deal, deal["id"]).status == "scheduled"
    assert deal_actions(app, deal["id"])[-1] == "deal.scheduled"

    taken = client.post(
        "/staff/calendar/slots",
        data={"csrf_token": token, "deal_id": other["id"], "date": "2026-11-24", "slot": "10:00"},
    )
    assert taken.status_code == 409 and "这个上新时段已经排了别的团购" in html(taken)
    passed = client.post(
        "/staff/calendar/slots",
        data={"csrf_token": token, "deal_id": other["id"], "date": "2026-11-23", "slot": "10:00"},
    )
    assert passed.status_code == 422
    odd = client.post(
        "/staff/calendar/slots",
        data={"csrf_token": token, "deal_id": other["id"], "date": "2026-11-24", "slot": "12:00"},
    )
    assert odd.status_code == 422
    assert (
        client.post(
            "/staff/calendar/slots",
            data={"csrf_token": token, "deal_id": 999999, "date": "2026-11-25", "slot": "10:00"},
        ).status_code
        == 404
    )
    # a deal of a merchant not yet live is not offered, and is refused if sent anyway
    assert move(client, bd, lead["id"], "negotiating").status_code == 200
    early = make_deal(client, bd, lead["id"], title="还没上线的店的套餐")
    assert "还没上线的店的套餐" not in page_text(client, "/staff/calendar")
    refused = client.post(
        "/staff/calendar/slots",
        data={"csrf_token": token, "deal_id": early["id"], "date": "2026-11-25", "slot": "10:00"},
    )
    assert refused.status_code == 409 and "商家上线后，它的团购才能排期" in html(refused)

    out = client.post(
        "/staff/calendar/slots/remove", data={"csrf_token": token, "deal_id": deal["id"]}
    )
    assert out.status_code == 303
    page = html(client.get("/staff/calendar"))
    assert "slot-empty" in slot_cell(page, "2026-11-24 10:00")
    again = client.post(
        "/staff/calendar/slots/remove", data={"csrf_token": token, "deal_id": deal["id"]}
    )
    assert again.status_code == 409
    # two weeks a page, paged on the server
    later = html(client.get("/staff/calendar?start=2026-12-07"))
    assert "2026-12-20 15:00" in later and "2026-12-21 10:00" not in later
    assert client.get("/staff/calendar?start=someday").status_code == 422


def test_popup_days_bookings_and_picks(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd, name="弹窗测试店")
    first = live_deal(app, client, bd, merchant["id"], title="弹窗团购甲")
    second = live_deal(app, client, bd, merchant["id"], title="弹窗团购乙")
    with app.test_request_context():
        popup.ensure()  # today's pick by the rotation
        db.session.commit()
    token = signed_in(client, bd)

    page = html(client.get("/staff/calendar/popup"))
    assert "最近两周的弹窗" in page and "轮播" in page
    assert re.search(r"2026年11月23日</strong> <a[^>]*>弹窗团购", page)
    booked = client.post(
        "/staff/calendar/popup",
        data={
            "csrf_token": token,
            "deal_id": second["id"],
            "date": "2026-11-25",
            "note": "答应周三弹窗",
        },
    )
    assert booked.status_code == 303
    page = html(client.get("/staff/calendar/popup"))
    assert "答应周三弹窗" in page and "2026年11月25日" in page
    twice = client.post(
        "/staff/calendar/popup",
        data={"csrf_token": token, "deal_id": first["id"], "date": "2026-11-25"},
    )
    assert twice.status_code == 409 and "这一天的首页弹窗已经给了别的团购" in html(twice)
    booking_id = re.search(r"/staff/calendar/popup/(\d+)/cancel", page).group(1)
    cancelled = client.post(
        f"/staff/calendar/popup/{booking_id}/cancel", data={"csrf_token": token}
    )
    assert cancelled.status_code == 303
    assert "答应周三弹窗" not in page_text(client, "/staff/calendar/popup")
    assert deal_actions(app, second["id"])[-2:] == ["deal.popup_booked", "deal.popup_cancelled"]


def test_the_weekly_page_preview(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    live_deal(app, client, bd, merchant["id"], title="周榜团购", commission_l1=1000)
    signed_in(client, staff(app, client, Role.EDITOR))
    assert "还没有生成过热卖页" in html(client.get("/staff/calendar/weekly"))
    with app.test_request_context():
        weekly.build_hot_page()
        db.session.commit()
    page = html(client.get("/staff/calendar/weekly"))
    assert "爆品" in page and "高佣金" in page and page.count("周榜团购") == 2
    assert "¥10.00" in page


def _bulk_deals(app, merchant_ids: list[int], count: int, **overrides) -> None:
    """``count`` deals (newer than any made so far) spread over ``merchant_ids``, inserted
    at once (``tests.bulk``): the calendar reads them, no rule needs to have made them."""
    with serving(app):
        insert(
            Deal,
            [deal_row(merchant_ids[n % len(merchant_ids)], n, **overrides) for n in range(count)],
        )
        db.session.commit()


def _bulk_live_merchants(app, count: int) -> list[int]:
    with serving(app):
        category = db.session.scalars(sa.select(Category.id).order_by(Category.id)).first()
        made = insert(
            Merchant,
            [
                {"name": f"批量上线店 {n}", "category_id": category, "stage": "live"}
                for n in range(count)
            ],
        )
        db.session.commit()
        return made


def test_a_live_merchants_draft_is_offered_behind_many_newer_drafts_of_shops_not_live(
    app, client, clock
):
    """The choice is the newest drafts *of live merchants*: drafts of shops still in the
    pipeline, however many and however new, do not push a live shop's draft out of it."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    make_deal(client, bd, merchant["id"], title="上线店的老草稿")
    lead = make_merchant(client, bd)
    assert move(client, bd, lead["id"], "negotiating").status_code == 200
    _bulk_deals(
        app, [lead["id"]], CHOICES + 5, status="draft", published_at=None, title="未上线店草稿"
    )
    signed_in(client, staff(app, client, Role.EDITOR))
    page = page_text(client, "/staff/calendar")
    assert "上线店的老草稿" in slot_cell(page, "2026-11-24 10:00")
    assert "未上线店草稿" not in page


def test_a_live_merchants_deal_is_a_popup_candidate_behind_many_of_a_suspended_shop(
    app, client, clock
):
    """The popup's choice (live, then scheduled deals) is also of live merchants only: a
    suspended shop's many newer live deals leave room for a live shop's."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    live_deal(app, client, bd, merchant["id"], title="上线店的在售团购")
    suspended = live_merchant(client, bd)
    assert move(client, bd, suspended["id"], "suspended").status_code == 200
    _bulk_deals(app, [suspended["id"]], CHOICES + 5, title="暂停店团购")
    signed_in(client, bd)
    page = page_text(client, "/staff/calendar/popup")
    choice = re.search(r'<select id="popup-deal".*?</select>', page, re.S).group(0)
    assert "上线店的在售团购" in choice and "暂停店团购" not in choice


def test_the_calendars_statements_do_not_grow_with_the_deals_offered(app, client, clock):
    """The choices come with their merchants in the same statement: a hundred drafts,
    live and scheduled deals of a hundred shops cost what one of each costs."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    make_deal(client, bd, merchant["id"])
    live_deal(app, client, bd, merchant["id"])
    signed_in(client, bd)

    def cost(path: str) -> int:
        assert client.get(path).status_code == 200
        with count_queries(app) as sent:
            assert client.get(path).status_code == 200
        return sent.count

    small = {path: cost(path) for path in ("/staff/calendar", "/staff/calendar/popup")}
    shops = _bulk_live_merchants(app, CHOICES)
    _bulk_deals(app, shops, CHOICES, status="draft", published_at=None)
    _bulk_deals(app, shops, CHOICES)
    page = page_text(client, "/staff/calendar")
    assert page.count("批量上线店") >= CHOICES  # the choice is full: each deal, its shop
    large = {path: cost(path) for path in small}
    assert large == small
