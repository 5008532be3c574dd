"""Customer service's pages of the staff console (web/staff/cs.py), through HTTP against
the real payment server: the refund queue (phone, wait, approve pays back once, reject
needs a reason, refunds stuck after provider failures on top and retried from there), the
ticket dashboard's SLA clocks and the conversation, the expired-unused vouchers, the
Moments proofs and the distributor applications. Each action is audited as the API's."""

from __future__ import annotations

import io
import re

import png
import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.providers.stripe import StripeClient
from tests.distribution.conftest import new_distributor
from tests.factories import buy, live_deal, live_merchant, pay, quick_shopper, staff
from tests.web.test_staff_cs_roles import as_role, page_csrf_token


@pytest.fixture
def shop(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=40)
    return {"bd": bd, "merchant": merchant, "deal": deal}


def paid_order(app, client, shop, quantity: int = 1):
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, shop["deal"]["id"], quantity).get_json()
    pay(app, checkout, via="reconcile")
    return shopper, checkout["order"]


def ask_refund(client, shopper, order) -> int:
    response = client.post(
        f"/api/v1/orders/{order['id']}/refund-requests",
        json={"reason": "changed_mind", "reason_text": "临时有事"},
        headers=shopper.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def cs_page(app, client):
    """The test client logged in to the console as customer service; its user id."""
    as_role(app, client, "cs")
    with app.app_context():
        return db.session.scalars(sa.select(User.id).where(User.username == "cs-2x")).one()


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": page_csrf_token(client), **data})


def audit_actions(app, entity: str, entity_id) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [
            (row.action, row.actor_id)
            for row in db.session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.entity_type == entity, AuditEvent.entity_id == str(entity_id))
                .order_by(AuditEvent.id)
            )
        ]


def row(request_id: int) -> str:
    """A refund request's row in the queue (named for screen readers)."""
    return f'aria-label="退款申请 #{request_id}"'


def voucher_states(client, shopper) -> list[str]:
    items = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    return sorted(v["status"] for v in items)


def test_the_queue_shows_phone_amount_and_wait_and_approving_pays_back_once(
    app, client, shop, clock
):
    shopper, order = paid_order(app, client, shop, quantity=2)
    request_id = ask_refund(client, shopper, order)
    clock.advance(minutes=75)
    cs_id = cs_page(app, client)

    queue = client.get("/staff/cs/refunds")
    html = queue.get_data(as_text=True)
    assert queue.status_code == 200
    assert shopper.phone in html and f"#{request_id}" in html
    assert "1 小时 15 分" in html  # waited
    amount = order["amount"]
    assert f"同意退款 ¥{amount // 100}.{amount % 100:02d}" in html
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)

    approved = post(client, f"/staff/cs/refunds/{request_id}/approve", note="同意", key=key)
    again = post(client, f"/staff/cs/refunds/{request_id}/approve", note="同意", key=key)

    assert approved.status_code == 303 and again.status_code == 303
    assert "钱已原路退回" in client.get("/staff/cs/refunds?status=refunded").get_data(as_text=True)
    assert voucher_states(client, shopper) == ["refunded", "refunded"]
    with app.app_context():
        intent = order_intent(app, order["id"])
        refunds = app.extensions["linli.stripe"].list_refunds(intent)
    assert [r["amount"] for r in refunds] == [amount]  # paid back once
    actions = audit_actions(app, "refund_request", request_id)
    assert ("refund.approved", cs_id) in actions and ("refund.paid", None) in actions
    # gone from the open queue
    assert row(request_id) not in client.get("/staff/cs/refunds").get_data(as_text=True)


def order_intent(app, order_id: int) -> str:
    from marketplace.orders.models import Order

    return db.session.get(Order, order_id).payment_intent_id


def test_a_rejection_needs_a_reason_and_the_shopper_reads_it(app, client, shop):
    shopper, order = paid_order(app, client, shop)
    request_id = ask_refund(client, shopper, order)
    cs_id = cs_page(app, client)

    bare = post(client, f"/staff/cs/refunds/{request_id}/reject", note="  ")
    assert bare.status_code == 422
    assert "备注" in bare.get_data(as_text=True)  # the field to fix, named on the page
    rejected = post(client, f"/staff/cs/refunds/{request_id}/reject", note="券已过了退款期")
    assert rejected.status_code == 303
    twice = post(client, f"/staff/cs/refunds/{request_id}/reject", note="再拒一次")
    assert twice.status_code == 409
    assert "这个退款申请已经处理过了" in twice.get_data(as_text=True)

    mine = client.get(
        f"/api/v1/orders/{order['id']}/refund-requests", headers=shopper.headers
    ).get_json()
    assert mine[0]["status"] == "rejected" and mine[0]["cs_note"] == "券已过了退款期"
    assert ("refund.rejected", cs_id) in audit_actions(app, "refund_request", request_id)


def test_refunds_stuck_after_provider_failures_come_first_and_are_retried_there(
    app, client, shop, clock
):
    older_shopper, older_order = paid_order(app, client, shop)
    older = ask_refund(client, older_shopper, older_order)
    clock.advance(minutes=10)
    shopper, order = paid_order(app, client, shop)
    stuck = ask_refund(client, shopper, order)
    cs_page(app, client)
    html = client.get("/staff/cs/refunds").get_data(as_text=True)
    assert html.index(row(older)) < html.index(row(stuck))  # oldest first

    real = app.extensions["linli.stripe"]
    app.extensions["linli.stripe"] = StripeClient("http://127.0.0.1:1", "sk_test", retries=0)
    try:
        waiting = post(client, f"/staff/cs/refunds/{stuck}/approve", note="")
    finally:
        app.extensions["linli.stripe"] = real
    assert waiting.status_code == 303

    html = client.get("/staff/cs/refunds").get_data(as_text=True)
    assert html.index(row(stuck)) < html.index(row(older))  # stuck on top
    assert "系统会继续重试" in html and "重新退款" in html
    home = client.get("/staff/").get_data(as_text=True)
    assert re.search(r"退款失败待重试</a></dt><dd>1<", home)

    retried = post(client, f"/staff/cs/refunds/{stuck}/approve", note="")
    assert retried.status_code == 303
    assert voucher_states(client, shopper) == ["refunded"]
    assert row(stuck) not in client.get("/staff/cs/refunds").get_data(as_text=True)


def test_the_ticket_dashboard_counts_service_time_down_and_a_reply_stops_the_clock(
    app, client, clock
):
    shopper = quick_shopper(app)
    opened = client.post(
        "/api/v1/tickets",
        json={"kind": "complaint", "subject": "商家不让用券", "body": "到店说券不能用"},
        headers=shopper.headers,
    ).get_json()
    cs_id = cs_page(app, client)

    dashboard = client.get("/staff/cs/tickets").get_data(as_text=True)
    assert "商家不让用券" in dashboard
    assert 'data-seconds-left="60"' in dashboard  # a shopper's complaint: one service minute
    assert 'data-running-until="0"' not in dashboard  # 10:00: service hours, the clock runs

    clock.advance(minutes=3)
    late = client.get("/staff/cs/tickets?late=late").get_data(as_text=True)
    assert 'data-seconds-left="-120"' in late and "ops-late" in late
    assert "商家不让用券" not in client.get("/staff/cs/tickets?late=on_time").get_data(as_text=True)
    rows = client.get("/staff/cs/tickets/rows")  # what htmx fetches every 30 s
    assert rows.status_code == 200 and "<html" not in rows.get_data(as_text=True)

    conversation = client.get(f"/staff/cs/tickets/{opened['id']}").get_data(as_text=True)
    assert "到店说券不能用" in conversation and shopper.phone in conversation
    empty = post(client, f"/staff/cs/tickets/{opened['id']}/replies", body="")
    assert empty.status_code == 422
    replied = post(client, f"/staff/cs/tickets/{opened['id']}/replies", body="已联系商家")
    assert replied.status_code == 303
    closed = post(client, f"/staff/cs/tickets/{opened['id']}/close")
    assert closed.status_code == 303

    ticket = client.get(f"/api/v1/tickets/{opened['id']}", headers=shopper.headers).get_json()
    assert ticket["status"] == "closed" and ticket["first_responded_at"] is not None
    assert ticket["messages"][-1] == {**ticket["messages"][-1], "from_staff": True}
    assert "商家不让用券" not in client.get("/staff/cs/tickets").get_data(as_text=True)
    actions = audit_actions(app, "ticket", opened["id"])
    assert ("ticket.replied", cs_id) in actions and ("ticket.closed", cs_id) in actions
    # a closed ticket takes no reply: the API's 409, on the page
    again = post(client, f"/staff/cs/tickets/{opened['id']}/replies", body="还在吗")
    assert again.status_code == 409 and "已经关闭" in again.get_data(as_text=True)


def test_outside_service_hours_the_clocks_stand_still(app, client, clock):
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # 00:00 in Shanghai
    shopper = quick_shopper(app)
    client.post(
        "/api/v1/tickets",
        json={"kind": "question", "subject": "半夜问问", "body": "营业到几点"},
        headers=shopper.headers,
    )
    cs_page(app, client)
    html = client.get("/staff/cs/tickets").get_data(as_text=True)
    assert 'data-running-until="0"' in html and 'data-seconds-left="60"' in html


def test_expired_unused_vouchers_list_whom_to_call(app, client, shop, clock):
    shopper, order = paid_order(app, client, shop)
    cs_page(app, client)
    assert shopper.phone not in client.get("/staff/cs/vouchers/expired").get_data(as_text=True)

    clock.advance(days=400)  # past the voucher's validity (and the console session's)
    cs_page(app, client)
    html = client.get("/staff/cs/vouchers/expired").get_data(as_text=True)
    assert f"tel:{shopper.phone}" in html and f"订单 {order['id']}" in html


def _png() -> bytes:
    buffer = io.BytesIO()
    png.Writer(4, 4, greyscale=True).write(buffer, [[200] * 4] * 4)
    return buffer.getvalue()


def test_moments_proofs_are_shown_and_verified(app, client, clock):
    account, row = new_distributor(app, client)
    cs = staff(app, client, Role.CS)
    client.patch(
        f"/api/v1/distributors/{row['id']}", json={"wechat_friends": 1500}, headers=cs.headers
    )
    image = _png()
    proof = client.post(
        "/api/v1/distributors/me/moments",
        headers=account.headers,
        data={"day": "2026-11-23", "file": (io.BytesIO(image), "m.png")},
        content_type="multipart/form-data",
    ).get_json()
    cs_id = cs_page(app, client)

    html = client.get("/staff/cs/moments").get_data(as_text=True)
    assert f"/staff/cs/moments/{proof['id']}/screenshot" in html
    shot = client.get(f"/staff/cs/moments/{proof['id']}/screenshot")
    assert shot.status_code == 200 and shot.mimetype == "image/png" and shot.data == image
    assert client.get("/staff/cs/moments/999999/screenshot").status_code == 404

    verified = post(client, f"/staff/cs/moments/{proof['id']}/review", verified="true", note="")
    assert verified.status_code == 303
    assert f"/moments/{proof['id']}/" not in client.get("/staff/cs/moments").get_data(as_text=True)
    assert f"/moments/{proof['id']}/" in client.get("/staff/cs/moments?status=verified").get_data(
        as_text=True
    )
    assert audit_actions(app, "moments_proof", proof["id"]) == [("proof.verified", cs_id)]


def test_distributor_applications_are_approved_or_rejected(app, client):
    admin = staff(app, client, Role.ADMIN)
    client.patch(
        "/api/v1/distribution/settings", json={"join_policy": "application"}, headers=admin.headers
    )
    _, applied = new_distributor(app, client)
    _, other = new_distributor(app, client)
    assert applied["status"] == "applied"
    cs_id = cs_page(app, client)

    html = client.get("/staff/cs/distributors").get_data(as_text=True)
    assert f"#{applied['id']}" in html and f"#{other['id']}" in html
    approved = post(client, f"/staff/cs/distributors/{applied['id']}/approve", reason="好友多")
    rejected = post(client, f"/staff/cs/distributors/{other['id']}/reject", reason="")
    assert approved.status_code == 303 and rejected.status_code == 303
    twice = post(client, f"/staff/cs/distributors/{applied['id']}/approve", reason="")
    assert twice.status_code == 409 and "待审核的申请" in twice.get_data(as_text=True)

    assert f"#{applied['id']}" not in client.get("/staff/cs/distributors").get_data(as_text=True)
    assert f"#{applied['id']}" in client.get("/staff/cs/distributors?status=active").get_data(
        as_text=True
    )
    assert audit_actions(app, "distributor", applied["id"])[-1] == ("distributor.approved", cs_id)


def test_lists_paginate_on_the_server_and_keep_their_filters(app, client, shop):
    shoppers = []
    for _ in range(22):
        shopper, order = paid_order(app, client, shop)
        ask_refund(client, shopper, order)
        shoppers.append(shopper)
    cs_page(app, client)
    first = client.get("/staff/cs/refunds?status=pending").get_data(as_text=True)
    assert "共 22 条" in first and "第 1 / 2 页" in first
    assert "/staff/cs/refunds?page=2&amp;status=pending" in first
    second = client.get("/staff/cs/refunds?status=pending&page=2").get_data(as_text=True)
    assert second.count('class="ops-actions"') == 2
    assert shoppers[-1].phone in second  # oldest first: the newest is on the last page
