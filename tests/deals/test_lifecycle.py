"""Editing deals: versions, price history, stock, pause and resume."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from tests.factories import live_deal, live_merchant, make_deal, move, staff


@pytest.fixture
def shop(app, client, clock):
    bd = staff(app, client, Role.BD)
    return bd, live_merchant(client, bd)


def patch(client, account, deal, **changes):
    return client.patch(
        f"/api/v1/deals/{deal['id']}",
        headers=account.headers,
        json={"version": deal["version"], **changes},
    )


def test_price_changes_after_publishing_are_history_but_draft_edits_are_not(app, client, shop):
    bd, merchant = shop
    editor = staff(app, client, Role.EDITOR)
    deal = make_deal(client, bd, merchant["id"], "small_set")
    deal = patch(client, bd, deal, sale_price=16800).get_json()  # still a draft
    live_deal_id = deal["id"]
    from tests.factories import put_live

    put_live(app, live_deal_id)
    deal = client.get(f"/api/v1/manage/deals/{live_deal_id}", headers=bd.headers).get_json()

    raised = patch(client, editor, deal, sale_price=17800, commission_l1=900)

    assert raised.status_code == 200, raised.get_json()
    history = client.get(f"/api/v1/deals/{live_deal_id}/price-history", headers=bd.headers)
    assert [
        (h["field"], h["old_value"], h["new_value"], h["changed_by"]["id"])
        for h in history.get_json()
    ] == [("commission_l1", 800, 900, editor.id), ("sale_price", 16800, 17800, editor.id)]


def test_edits_are_checked_against_the_type_rules(client, shop):
    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"], "flash")

    response = patch(client, bd, deal, sale_price=1990)  # settlement stays 990

    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "flash_margin_not_zero"


def test_a_stale_version_is_a_409(client, shop):
    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"])
    assert patch(client, bd, deal, title="新标题").status_code == 200

    stale = patch(client, bd, deal, title="旧页面的标题")

    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"


def test_stock_changes_move_stock_left_and_sold_out_follows(app, client, shop):
    bd, merchant = shop
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=10)
    deal = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers).get_json()
    from marketplace.core.db import db
    from marketplace.deals.models import Deal

    with app.app_context():  # 4 units sold, the way checkout reserves: a counter, no version
        table = Deal.__table__
        db.session.execute(sa.update(table).where(table.c.id == deal["id"]).values(stock_left=6))
        db.session.commit()

    below = patch(client, bd, deal, stock=3)
    down = patch(client, bd, deal, stock=4)

    assert below.status_code == 409 and below.get_json()["error"]["code"] == "stock_below_sold"
    assert down.status_code == 200
    assert (down.get_json()["stock_left"], down.get_json()["status"]) == (0, "sold_out")
    up = patch(client, bd, down.get_json(), stock=12)
    assert (up.get_json()["stock_left"], up.get_json()["status"]) == (8, "live")


def test_pause_and_resume(app, client, shop):
    bd, merchant = shop
    deal = live_deal(app, client, bd, merchant["id"])
    url = f"/api/v1/deals/{deal['id']}"

    paused = client.post(f"{url}/pause", headers=bd.headers, json={"reason": "商家装修"})
    paused_again = client.post(f"{url}/pause", headers=bd.headers, json={})
    resumed = client.post(f"{url}/resume", headers=bd.headers, json={})

    assert paused.get_json()["status"] == "paused"
    assert paused_again.status_code == 409
    assert paused_again.get_json()["error"]["code"] == "illegal_deal_transition"
    assert resumed.get_json()["status"] == "live"


def test_a_suspended_merchants_deal_cannot_resume(app, client, shop):
    bd, merchant = shop
    deal = live_deal(app, client, bd, merchant["id"])
    client.post(f"/api/v1/deals/{deal['id']}/pause", headers=bd.headers, json={})
    move(client, bd, merchant["id"], "suspended")

    response = client.post(f"/api/v1/deals/{deal['id']}/resume", headers=bd.headers, json={})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "merchant_not_live"


def test_editors_cannot_pause(app, client, shop):
    bd, merchant = shop
    editor = staff(app, client, Role.EDITOR)
    deal = live_deal(app, client, bd, merchant["id"])

    response = client.post(f"/api/v1/deals/{deal['id']}/pause", headers=editor.headers, json={})

    assert response.status_code == 403


def test_image_upload_appends_a_public_url(app, client, shop):
    import io

    bd, merchant = shop
    deal = make_deal(client, bd, merchant["id"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

    uploaded = client.post(
        f"/api/v1/deals/{deal['id']}/images",
        headers=bd.headers,
        data={"file": (io.BytesIO(png), "cover.png")},
        content_type="multipart/form-data",
    )
    refused = client.post(
        f"/api/v1/deals/{deal['id']}/images",
        headers=bd.headers,
        data={"file": (io.BytesIO(b"GIF89a..."), "x.gif")},
        content_type="multipart/form-data",
    )

    assert uploaded.status_code == 201, uploaded.get_json()
    url = uploaded.get_json()["images"][-1]
    assert url.startswith("/media/deals/") and url.endswith(".png")
    image = client.get(url)
    assert image.status_code == 200 and image.data == png and image.mimetype == "image/png"
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "file_type_not_allowed"
    assert client.get("/media/deals/1/../../contracts/x.pdf").status_code == 404
