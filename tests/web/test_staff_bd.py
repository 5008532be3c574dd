"""BD's pages of the staff console over HTTP (marketplace/web/staff/bd.py): the board and
its stage rule with the contract gate's words, the new lead, the merchant page's forms
(each the API's domain call, audited the same way), the overdue panel, and who may open
what (the roles of merchants.api)."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.web.session import TOKEN_KEY
from merchants.models import Merchant, MerchantGrade
from tests.factories import (
    PDF,
    Account,
    live_merchant,
    make_merchant,
    portal_account,
    quick_shopper,
    staff,
)
from tests.web.test_console_login import page_login


def signed_in(client, account: Account) -> str:
    """Give the client ``account``'s page session (the cookie holds an ordinary token, as
    the console's login leaves it); returns a CSRF token for its forms."""
    with client.session_transaction() as cookie:
        cookie[TOKEN_KEY] = account.token
    page = client.get("/staff/").get_data(as_text=True)  # the console, or its 403 page
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def html(response) -> str:
    return response.get_data(as_text=True)


def audit_actions(app, merchant_id: int) -> list[tuple[str, int | None]]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.entity_type == "merchant", AuditEvent.entity_id == str(merchant_id))
            .order_by(AuditEvent.id)
        ).all()
        return [(row.action, row.actor_id) for row in rows]


def outsiders(app, client, *, editor: bool = True) -> dict[str, Account]:
    """A clerk, a shopper, customer service and (for BD pages) an editor."""
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    people = {
        "clerk": portal_account(app, client, bd, shop["id"], role="clerk"),
        "shopper": quick_shopper(app),
        "cs": staff(app, client, Role.CS),
    }
    if editor:
        people["editor"] = staff(app, client, Role.EDITOR)
    return people


BD_PAGES = (
    "/staff/merchants",
    "/staff/merchants/new",
    "/staff/merchants/{id}",
    "/staff/follow-ups",
)
BD_POSTS = (
    "/staff/merchants/new",
    "/staff/merchants/{id}",
    "/staff/merchants/{id}/stage",
    "/staff/merchants/{id}/grades",
    "/staff/merchants/{id}/contracts",
    "/staff/merchants/{id}/visits",
    "/staff/merchants/{id}/staff",
)


def test_only_bd_and_the_general_manager_open_the_pipeline(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    for name, person in outsiders(app, client).items():
        token = signed_in(client, person)
        for path in BD_PAGES:
            answer = client.get(path.format(id=merchant["id"]))
            assert answer.status_code == 403, (name, path)
            assert "text/html" in answer.content_type
        for path in BD_POSTS:
            answer = client.post(path.format(id=merchant["id"]), data={"csrf_token": token})
            assert answer.status_code == 403, (name, path)
        # and the menu a staff member sees has no BD entry
        if name in ("cs", "editor"):
            assert "商家看板" not in html(client.get("/staff/"))
    with app.app_context():
        assert db.session.get(Merchant, merchant["id"]).version == merchant["version"]
    for role in (Role.BD, Role.ADMIN):
        signed_in(client, staff(app, client, role))
        home = html(client.get("/staff/"))
        assert "商家看板" in home and "我逾期的回访" in home
        for path in BD_PAGES:
            assert client.get(path.format(id=merchant["id"])).status_code == 200, (role, path)


def test_a_visitor_is_sent_to_the_console_login(client):
    answer = client.get("/staff/merchants")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/staff/login?next=")


def sign_form(client, token: str, merchant_id: int, kind: str, data: bytes = PDF):
    return client.post(
        f"/staff/merchants/{merchant_id}/contracts",
        data={
            "csrf_token": token,
            "kind": kind,
            "signatory": "张老板",
            "signed_on": "2026-11-20",
            "file": (io.BytesIO(data), f"{kind}.pdf"),
        },
        content_type="multipart/form-data",
    )


def move(client, token: str, merchant_id: int, stage: str, **extra):
    return client.post(
        f"/staff/merchants/{merchant_id}/stage",
        data={"csrf_token": token, "stage": stage, **extra},
    )


def test_bd_takes_a_new_lead_to_live_through_the_pages(app, client, clock):
    bd = staff(app, client, Role.BD)
    token = signed_in(client, bd)
    created = client.post(
        "/staff/merchants/new",
        data={
            "csrf_token": token,
            "name": "页面新线索火锅",
            "category": "hotpot-bbq",
            "address": "昭阳区珠泉路 9 号",
            "lat": "27.34",
            "lng": "103.72",
            "phone": "0870-2111111",
            "hours": "1-5 10:00-22:00\n6,7 09:00-02:00",
            "headliner_shown": "1",
            "is_headliner": "on",
        },
    )
    assert created.status_code == 303
    merchant_id = int(re.search(r"/staff/merchants/(\d+)", created.headers["Location"]).group(1))
    page = html(client.get(created.headers["Location"]))
    assert "页面新线索火锅" in page and "线索" in page
    assert "uri.amap.com/marker?position=103.72,27.34" in page
    assert "头部商家" in page
    with app.app_context():
        merchant = db.session.get(Merchant, merchant_id)
        assert merchant.owner_id == bd.id and merchant.is_headliner
        assert merchant.business_hours == [
            {"days": [1, 2, 3, 4, 5], "open": "10:00", "close": "22:00"},
            {"days": [6, 7], "open": "09:00", "close": "02:00"},
        ]

    assert move(client, token, merchant_id, "negotiating").status_code == 303
    # the contract gate names every document still missing; the board stays as it was
    refused = move(
        client, token, merchant_id, "contracted", board_url="/staff/merchants?category=dining"
    )
    assert refused.status_code == 409
    text = html(refused)
    assert "还缺：商家入驻协议、商户服务合同、服务合同附表" in text
    assert '<option value="dining" selected>' in text
    assert f'href="/staff/merchants/{merchant_id}"' not in text  # a hotpot shop: filtered out
    assert sign_form(client, token, merchant_id, "entry_agreement").status_code == 303
    refused = move(client, token, merchant_id, "contracted", back="merchant")
    assert refused.status_code == 409
    assert "还缺：商户服务合同、服务合同附表" in html(refused)
    # a file that is not a PDF, JPEG or PNG is refused with the API's sentence
    bad = sign_form(client, token, merchant_id, "service_contract", data=b"MZ not a scan")
    assert bad.status_code == 422 and "只能上传" in html(bad)
    for kind in ("service_contract", "service_schedule"):
        assert sign_form(client, token, merchant_id, kind).status_code == 303
    # an illegal jump is the stage rule's refusal
    assert move(client, token, merchant_id, "suspended").status_code == 409
    assert move(client, token, merchant_id, "contracted").status_code == 303
    assert move(client, token, merchant_id, "live", reason="三份合同齐了").status_code == 303

    page = html(client.get(f"/staff/merchants/{merchant_id}"))
    assert "已上线" in page and "未签" not in page
    contract_link = re.search(rf"/staff/merchants/{merchant_id}/contracts/(\d+)", page).group(0)
    scan = client.get(contract_link)
    assert scan.status_code == 200 and scan.data == PDF
    assert scan.headers["Content-Type"] == "application/pdf"
    # audited exactly as the API does it: the same actions, by this BD
    actions = audit_actions(app, merchant_id)
    assert [a for a, _ in actions] == [
        "merchant.created",
        "merchant.stage_changed",
        "merchant.contract_recorded",
        "merchant.contract_recorded",
        "merchant.contract_recorded",
        "merchant.stage_changed",
        "merchant.stage_changed",
    ]
    assert {actor for _, actor in actions} == {bd.id}
    assert "改变阶段" in page and "三份合同齐了" in page


def test_grading_visits_and_portal_accounts_on_the_merchant_page(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    token = signed_in(client, bd)
    url = f"/staff/merchants/{merchant['id']}"

    bad = client.post(f"{url}/grades", data={"csrf_token": token, "grade": "6", "note": "x"})
    assert bad.status_code == 422
    graded = client.post(
        f"{url}/grades",
        data={"csrf_token": token, "grade": "4", "note": "环境好，出餐快", "reference": "点评 4.6"},
    )
    assert graded.status_code == 303
    page = html(client.get(url))
    assert "环境好，出餐快" in page and "点评 4.6" in page and 'aria-label="4 星"' in page
    with app.app_context():
        grade = db.session.scalars(sa.select(MerchantGrade)).one()
        assert (grade.grade, grade.graded_by_id) == (4, bd.id)

    # a visit whose follow-up has passed shows on my landing page
    late = client.post(
        f"{url}/visits",
        data={
            "csrf_token": token,
            "visited_on": "2026-11-10",
            "channel": "call",
            "notes": "老板说下周再谈",
            "follow_up_due": "2026-11-17",
        },
    )
    assert late.status_code == 303
    future = client.post(
        f"{url}/visits",
        data={"csrf_token": token, "visited_on": "2026-11-30", "channel": "visit", "notes": "x"},
    )
    assert future.status_code == 422  # a visit cannot be in the future (the domain's rule)
    home = html(client.get("/staff/"))
    assert merchant["name"] in home and "应在 2026年11月17日 回访" in home
    assert merchant["name"] in html(client.get("/staff/follow-ups"))
    assert "老板说下周再谈" in html(client.get(url))

    # a portal login: the initial password is shown once and works at the portal's door
    created = client.post(
        f"{url}/staff",
        data={
            "csrf_token": token,
            "username": "newowner1",
            "role": "owner",
            "display_name": "店长",
        },
    )
    assert created.status_code == 201
    password = re.search(r'<code class="secret">([^<]+)</code>', html(created)).group(1)
    assert password not in html(client.get(url))  # never shown again
    taken = client.post(
        f"{url}/staff", data={"csrf_token": token, "username": "newowner1", "role": "clerk"}
    )
    assert taken.status_code == 409 and "这个用户名已经有人用了" in html(taken)
    portal = app.test_client()
    logged = page_login(portal, "merchant", "newowner1", password=password)
    assert logged.status_code == 303 and logged.headers["Location"].startswith("/merchant/password")
    actions = [a for a, _ in audit_actions(app, merchant["id"])]
    assert actions[-3:] == ["merchant.graded", "merchant.visit_recorded", "merchant.staff_created"]


def test_the_profile_is_edited_with_the_version_it_was_read_at(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = make_merchant(client, bd)
    token = signed_in(client, bd)
    url = f"/staff/merchants/{merchant['id']}"
    form = {
        "csrf_token": token,
        "version": str(merchant["version"]),
        "name": "改过名的店",
        "category": "dining",
        "address": "昭阳区新街 1 号",
        "lat": "",
        "lng": "",
        "phone": "0870-2000000",
        "hours": "1-7 11:00-21:00",
        "hours_note": "",
        "description": "",
        "owner_id": "",
        "headliner_shown": "1",
    }
    assert client.post(url, data=form).status_code == 303
    stale = client.post(url, data={**form, "name": "又改名"})
    assert stale.status_code == 409 and "内容刚被别人修改过" in html(stale)
    bad_hours = client.post(url, data={**form, "version": "2", "hours": "每天都开"})
    assert bad_hours.status_code == 422
    with app.app_context():
        row = db.session.get(Merchant, merchant["id"])
        assert (row.name, row.category.slug, row.owner_id, row.latitude) == (
            "改过名的店",
            "dining",
            None,
            None,
        )
        assert row.business_hours == [
            {"days": [1, 2, 3, 4, 5, 6, 7], "open": "11:00", "close": "21:00"}
        ]


def test_the_board_filters_and_pages_each_column_on_the_server(app, client, clock):
    bd = staff(app, client, Role.BD)
    other = staff(app, client, Role.BD)
    for n in range(10):
        make_merchant(client, bd, name=f"我的线索{n:02d}")
    make_merchant(client, other, name="别人的线索", category="dining")
    live_merchant(client, bd, name="已上线的店")
    signed_in(client, bd)

    board = html(client.get("/staff/merchants"))
    cards = re.findall(r'class="board-card"', board)
    assert len(cards) == 8 + 1  # eight leads on the first page of the column, one live shop
    assert "我的线索09" in board and "我的线索01" not in board  # newest first
    second = html(client.get("/staff/merchants?p_lead=2"))
    assert "我的线索02" in second and "我的线索03" not in second  # 11 leads: 8, then 3
    mine = html(client.get("/staff/merchants?owner=me&p_lead=2"))
    assert "别人的线索" not in mine and "我的线索00" in mine
    by_category = html(client.get("/staff/merchants?category=dining"))
    assert "别人的线索" in by_category and "我的线索" not in by_category
    assert "已上线的店" not in html(client.get("/staff/merchants?grade=5"))
    assert client.get("/staff/merchants?grade=9").status_code == 422
    assert client.get("/staff/merchants?owner=somebody").status_code == 422
