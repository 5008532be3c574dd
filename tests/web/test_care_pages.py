"""The care page of the staff console: today's lapsed customers with the contact form,
the contact log with won back, the segments and the expired vouchers to call; role
isolation; and the distributor's customers page with each customer's segment."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from marketplace.accounts.models import Role
from tests.factories import buy, live_deal, live_merchant, pay, quick_shopper, staff
from tests.web.test_staff_cs_roles import (
    as_role,
    forbidden,
    forbidden_posts,
    page_csrf_token,
    page_text,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def lapsed(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=40)
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, deal["id"], 1).get_json()
    pay(app, checkout, via="reconcile")
    clock.set(datetime(2026, 11, 23, 10, tzinfo=SHANGHAI) + timedelta(days=31))
    return {"deal": deal, "shopper": shopper}


def test_customer_service_logs_a_call_from_todays_list(app, client, lapsed):
    as_role(app, client, "cs")
    page = client.get("/staff/care").get_data(as_text=True)
    assert f"顾客 #{lapsed['shopper'].id}" in page and "2026年11月23日" not in page
    # a page past the end (a stale or hand-typed link) is the last page, not an empty one
    past = client.get("/staff/care?page=99").get_data(as_text=True)
    assert f"顾客 #{lapsed['shopper'].id}" in past
    assert "2026-11-23" in page  # the last purchase, a Shanghai date

    logged = client.post(
        "/staff/care/contacts",
        data={
            "csrf_token": page_csrf_token(client),
            "shopper_id": str(lapsed["shopper"].id),
            "channel": "wechat",
            "outcome": "will_come",
            "note": "周末来",
        },
    )
    assert logged.status_code == 303
    assert f"顾客 #{lapsed['shopper'].id}" not in client.get("/staff/care").get_data(as_text=True)
    log = client.get("/staff/care?tab=contacts").get_data(as_text=True)
    assert "周末来" in log and "答应再来" in log and "未下单" in log

    for shopper_id in ("x", "²"):  # "²" is a digit to str.isdigit, not to int
        bad = client.post(
            "/staff/care/contacts",
            data={
                "csrf_token": page_csrf_token(client),
                "shopper_id": shopper_id,
                "channel": "fax",
                "outcome": "reached",
            },
        )
        assert bad.status_code == 422, shopper_id

    segments = client.get("/staff/care?tab=segments").get_data(as_text=True)
    assert "B 类 1" in segments
    assert client.get("/staff/care?tab=expired").status_code == 200


@pytest.mark.parametrize("who", ["clerk", "shopper", "editor", "bd"])
def test_the_care_page_is_customer_services(app, client, who):
    as_role(app, client, who)
    forbidden(client, ["/staff/care", "/staff/care?tab=segments"])
    forbidden_posts(client, ["/staff/care/contacts"])


def test_the_care_menu_entry_is_customer_services(app, client):
    as_role(app, client, "cs")
    assert "/staff/care" in client.get("/staff/").get_data(as_text=True)
    as_role(app, client, "editor")
    assert "/staff/care" not in page_text(client, "/staff/")


def test_a_distributor_sees_each_customers_segment(app, client, clock, live_server):
    from tests.distribution.conftest import link, new_distributor, purchase
    from tests.web.test_distributor_pages import signed_in

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=40)
    account, _ = new_distributor(app, client)
    buyer = quick_shopper(app)
    purchase(app, client, buyer, deal["id"], ref=link(client, account, deal["id"]))
    signed_in(client, account)

    page = client.get("/distributor/customers").get_data(as_text=True)
    assert "A 类 0 人 · B 类 1 人 · C 类 0 人" in page
    api = client.get("/api/v1/distributors/me/customer-segments", headers=account.headers)
    rows = api.get_json()["items"]
    assert [(r["shopper_id"], r["segment"], r["phone"]) for r in rows] == [(buyer.id, "B", None)]


def test_the_deal_editor_sets_the_expiry_choice(app, client, clock, live_server):
    import re

    from marketplace.core.db import db
    from marketplace.deals.models import Deal
    from tests.web.test_staff_bd import signed_in
    from tests.web.test_staff_deals import SMALL_SET_FORM

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"])
    token = signed_in(client, staff(app, client, Role.EDITOR))
    page = client.get(f"/staff/deals/{deal['id']}").get_data(as_text=True)
    assert '<option value="cs_call" selected>' in page and "过期自动退" in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    form = {"csrf_token": token, "version": version, **SMALL_SET_FORM}
    form.pop("type")
    saved = client.post(f"/staff/deals/{deal['id']}", data={**form, "expiry_policy": "auto_refund"})
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.get(Deal, deal["id"]).expiry_policy == "auto_refund"
    page = client.get(f"/staff/deals/{deal['id']}").get_data(as_text=True)
    assert '<option value="auto_refund" selected>' in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    bad = client.post(
        f"/staff/deals/{deal['id']}", data={**form, "version": version, "expiry_policy": "x"}
    )
    assert bad.status_code == 422
