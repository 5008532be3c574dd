"""The deal pages of the staff console over HTTP (marketplace/web/staff/deals.py): the
list and its filters, the editor's live rule check (the API's rule function and words),
create and edit through the domain (price history, audit), photos, pause and resume, and
who may open what (the roles of deals.api)."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.deals.models import Deal, DealPriceChange
from tests.factories import PNG, live_deal, live_merchant, make_deal, staff
from tests.web.test_staff_bd import html, outsiders, signed_in

FLASH_FORM = {
    "type": "flash",
    "title": "9.9元秒杀双人餐",
    "list_price": "58",
    "sale_price": "9.90",
    "settlement_price": "9.90",
    "stock": "50",
    "validity_days": "30",
    "sale_starts_at": "2026-11-24T10:00",
    "sale_ends_at": "2026-11-26T22:00",
}
SMALL_SET_FORM = {
    "type": "small_set",
    "title": "四人小聚套餐",
    "party_size": "4",
    "list_price": "268",
    "sale_price": "158",
    "settlement_price": "128",
    "commission_l1": "8",
    "commission_l2": "2",
    "stock": "200",
    "validity_days": "30",
}


def deal_actions(app, deal_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.entity_type == "deal", AuditEvent.entity_id == str(deal_id))
                .order_by(AuditEvent.id)
            )
        )


def test_bd_and_editors_edit_deals_and_only_bd_pauses(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"])
    pages = ("/staff/deals", "/staff/deals/new", f"/staff/deals/{deal['id']}")
    posts = (
        "/staff/deals/new",
        "/staff/deals/check",
        f"/staff/deals/{deal['id']}",
        f"/staff/deals/{deal['id']}/check",
        f"/staff/deals/{deal['id']}/images",
        f"/staff/deals/{deal['id']}/pause",
        f"/staff/deals/{deal['id']}/resume",
    )
    for name, person in outsiders(app, client, editor=False).items():
        token = signed_in(client, person)
        for path in pages:
            assert client.get(path).status_code == 403, (name, path)
        for path in posts:
            assert client.post(path, data={"csrf_token": token}).status_code == 403, (name, path)
        if name == "cs":
            assert "团购" not in re.sub(r"<title>.*?</title>", "", html(client.get("/staff/")))

    editor = staff(app, client, Role.EDITOR)
    token = signed_in(client, editor)
    for path in pages:
        assert client.get(path).status_code == 200, path
    page = html(client.get(f"/staff/deals/{deal['id']}"))
    assert "暂停销售" not in page  # an editor is not offered what the API refuses them
    assert (
        client.post(f"/staff/deals/{deal['id']}/pause", data={"csrf_token": token}).status_code
        == 403
    )
    home = html(client.get("/staff/"))
    assert "上新日历" in home and "商家看板" not in home  # the editor's menu and panel

    token = signed_in(client, bd)
    paused = client.post(
        f"/staff/deals/{deal['id']}/pause", data={"csrf_token": token, "reason": "商家装修"}
    )
    assert paused.status_code == 303
    assert "已暂停" in html(client.get(f"/staff/deals/{deal['id']}"))
    again = client.post(f"/staff/deals/{deal['id']}/pause", data={"csrf_token": token})
    assert again.status_code == 409 and "团购当前的状态不能做这个操作" in html(again)
    assert (
        client.post(f"/staff/deals/{deal['id']}/resume", data={"csrf_token": token}).status_code
        == 303
    )
    assert deal_actions(app, deal["id"])[-2:] == ["deal.paused", "deal.resumed"]


def test_the_editor_shows_the_rules_as_the_fields_change(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    token = signed_in(client, staff(app, client, Role.EDITOR))
    form = {"csrf_token": token, "merchant_id": str(merchant["id"]), **FLASH_FORM}

    fine = html(client.post("/staff/deals/check", data=form))
    assert "符合秒杀的规则" in fine and "售价必须等于结算价" in fine  # the type's rule, kept
    margin = html(client.post("/staff/deals/check", data={**form, "sale_price": "19.90"}))
    assert 'data-code="flash_margin_not_zero"' in margin
    assert "秒杀团购的售价必须等于结算价（零毛利）。" in margin
    street = html(
        client.post(
            "/staff/deals/check",
            data={"csrf_token": token, **SMALL_SET_FORM, "street_promotion": "on",
                  "sale_price": "135"},
        )
    )  # fmt: skip
    assert 'data-code="street_margin_too_low"' in street and "¥9.90" in street
    party = html(
        client.post(
            "/staff/deals/check", data={"csrf_token": token, **SMALL_SET_FORM, "party_size": "6"}
        )
    )
    assert 'data-code="party_size_invalid"' in party
    rich = html(
        client.post(
            "/staff/deals/check",
            data={"csrf_token": token, **SMALL_SET_FORM, "commission_l1": "40"},
        )
    )
    assert 'data-code="commission_exceeds_margin"' in rich
    assert "¥30.00" in rich  # the margin, from the rules' own arithmetic
    typo = html(client.post("/staff/deals/check", data={**form, "sale_price": "九块九"}))
    assert "「售价」填写的格式不对" in typo
    blank = html(client.post("/staff/deals/check", data={"csrf_token": token, "type": "large_set"}))
    assert "填好门市价、售价和结算价后" in blank


def test_deals_are_created_and_edited_through_the_domain(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    editor = staff(app, client, Role.EDITOR)
    token = signed_in(client, editor)

    refused = client.post(
        "/staff/deals/new",
        data={"csrf_token": token, "merchant_id": str(merchant["id"]), **FLASH_FORM,
              "sale_price": "19.90"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "秒杀团购的售价必须等于结算价（零毛利）。" in html(refused)
    assert 'value="19.90"' in html(refused)  # what was typed stays
    created = client.post(
        "/staff/deals/new",
        data={"csrf_token": token, "merchant_id": str(merchant["id"]), **SMALL_SET_FORM},
    )
    assert created.status_code == 303
    deal_id = int(created.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        deal = db.session.get(Deal, deal_id)
        assert (deal.status, deal.sale_price, deal.commission_l1, deal.created_by_id) == (
            "draft",
            15800,
            800,
            editor.id,
        )

    # a live deal's price change is kept as price history, and only real changes count
    live = live_deal(app, client, bd, merchant["id"])
    page = html(client.get(f"/staff/deals/{live['id']}"))
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {"csrf_token": token, "version": version, **SMALL_SET_FORM, "sale_price": "168"}
    form.pop("type")
    assert client.post(f"/staff/deals/{live['id']}", data=form).status_code == 303
    page = html(client.get(f"/staff/deals/{live['id']}"))
    assert "¥158.00 → ¥168.00" in page
    with app.app_context():
        changes = db.session.scalars(sa.select(DealPriceChange)).all()
        assert [(c.field, c.old_value, c.new_value) for c in changes] == [
            ("sale_price", 15800, 16800)
        ]
    stale = client.post(f"/staff/deals/{live['id']}", data={**form, "sale_price": "170"})
    assert stale.status_code == 409
    assert deal_actions(app, live["id"])[-1] == "deal.updated"

    photo = client.post(
        f"/staff/deals/{deal_id}/images",
        data={"csrf_token": token, "file": (io.BytesIO(PNG), "shop.png")},
        content_type="multipart/form-data",
    )
    assert photo.status_code == 303
    assert re.search(
        rf'<img src="/media/deals/{deal_id}/[0-9a-f]+\.png"',
        html(client.get(f"/staff/deals/{deal_id}")),
    )
    not_image = client.post(
        f"/staff/deals/{deal_id}/images",
        data={"csrf_token": token, "file": (io.BytesIO(b"%PDF-1.4"), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert not_image.status_code == 422


def test_the_deal_list_filters_and_pages_on_the_server(app, client, clock):
    bd = staff(app, client, Role.BD)
    first = live_merchant(client, bd, name="甲店")
    second = live_merchant(client, bd, name="乙店")
    for n in range(22):
        make_deal(client, bd, first["id"], title=f"甲店套餐{n:02d}")
    make_deal(client, bd, second["id"], "large_set", title="乙店大套餐")
    signed_in(client, bd)

    page_one = html(client.get("/staff/deals"))
    assert "乙店大套餐" in page_one and "甲店套餐00" not in page_one
    assert "第 1 / 2 页" in page_one
    assert "甲店套餐00" in html(client.get("/staff/deals?page=2"))
    only_large = html(client.get("/staff/deals?type=large_set"))
    assert "乙店大套餐" in only_large and "甲店套餐" not in only_large
    by_shop = html(client.get(f"/staff/deals?merchant_id={second['id']}"))
    assert "乙店大套餐" in by_shop and "甲店套餐" not in by_shop
    assert "甲店套餐" not in html(client.get("/staff/deals?status=live"))
    assert client.get("/staff/deals?status=lost").status_code == 422
