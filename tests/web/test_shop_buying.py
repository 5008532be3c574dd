"""Buying, paying and after on the pages, over HTTP: the same domain calls as the API, the
Idempotency-Key of a checkout form, refusals as pages, the order page waiting for the
payment, vouchers and their QR, refunds, tickets, and every page of one shopper's things a
404 for another. (The real browser with Stripe.js: tests/browser/test_buying.py.)"""

from __future__ import annotations

import re

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.orders.models import Order
from marketplace.web.session import TOKEN_KEY
from tests.factories import Account, live_deal, live_merchant, pay, quick_shopper, staff
from tests.web.test_foundation import csrf_token_of


def as_shopper(client, account: Account) -> None:
    """Give the test client a page session holding the shopper's token."""
    with client.session_transaction() as cookie:
        cookie[TOKEN_KEY] = account.token


def checkout_form(client, deal_id: int) -> dict[str, str]:
    html = client.get(f"/deals/{deal_id}/buy").get_data(as_text=True)
    key = re.search(r'name="key" value="([0-9a-f]{32})"', html).group(1)
    return {"csrf_token": csrf_token_of(html), "key": key, "quantity": "1"}


def orders_of(app, shopper: Account) -> list[Order]:
    with app.app_context():
        return db.session.scalars(sa.select(Order).where(Order.shopper_id == shopper.id)).all()


def a_deal(app, client, **overrides) -> dict:
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd, name="老灶火锅")
    return live_deal(app, client, bd, shop["id"], "small_set", title="火锅四人餐", **overrides)


def test_checkout_needs_a_login_and_comes_back(app, client, clock):
    deal = a_deal(app, client)

    first = client.get(f"/deals/{deal['id']}/buy")

    assert first.status_code == 302
    assert first.headers["Location"] == f"/login?next=%2Fdeals%2F{deal['id']}%2Fbuy"


def test_a_double_submitted_checkout_form_is_one_order(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    as_shopper(client, shopper)
    form = checkout_form(client, deal["id"])

    first = client.post(f"/deals/{deal['id']}/buy", data=form)
    second = client.post(f"/deals/{deal['id']}/buy", data=form)

    placed = orders_of(app, shopper)
    assert len(placed) == 1
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"] == f"/orders/{placed[0].id}/pay"
    fresh = checkout_form(client, deal["id"])
    assert fresh["key"] != form["key"]  # a new form is a new purchase


def test_a_checkout_form_without_its_csrf_token_is_refused(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    as_shopper(client, shopper)
    form = checkout_form(client, deal["id"])
    del form["csrf_token"]

    refused = client.post(f"/deals/{deal['id']}/buy", data=form)

    assert refused.status_code == 400
    assert "页面停留太久已过期" in refused.get_data(as_text=True)
    assert orders_of(app, shopper) == []


def test_a_sold_out_deal_is_a_clear_refusal_page(app, client, clock):
    deal = a_deal(app, client, stock=1)
    first, second = quick_shopper(app), quick_shopper(app)
    as_shopper(client, first)
    form = checkout_form(client, deal["id"])
    as_shopper(client, second)
    second_form = checkout_form(client, deal["id"])
    as_shopper(client, first)
    assert client.post(f"/deals/{deal['id']}/buy", data=form).status_code == 303

    as_shopper(client, second)
    late = client.post(f"/deals/{deal['id']}/buy", data=second_form)

    html = late.get_data(as_text=True)
    assert late.status_code == 409
    assert "已抢光" in html and "手慢了，这个团购已经抢光了。" in html
    assert orders_of(app, second) == []
    again = client.get(f"/deals/{deal['id']}/buy")  # the form itself now says so
    assert again.status_code == 409 and "已抢光" in again.get_data(as_text=True)


def test_the_buy_button_says_when_the_shoppers_limit_is_reached(app, client, clock):
    deal = a_deal(app, client, per_shopper_limit=1)
    shopper = quick_shopper(app)
    as_shopper(client, shopper)
    assert 'aria-describedby="buy-reason"' not in client.get(f"/deals/{deal['id']}").get_data(
        as_text=True
    )
    client.post(f"/deals/{deal['id']}/buy", data=checkout_form(client, deal["id"]))

    page = client.get(f"/deals/{deal['id']}").get_data(as_text=True)

    assert "你已经买到了每人限购的份数。" in page
    me = client.get("/me").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token_of(me)})
    visitor = client.get(f"/deals/{deal['id']}").get_data(as_text=True)
    assert "你已经买到了每人限购的份数。" not in visitor  # a visitor sees the button


def test_the_pay_page_hands_stripe_js_the_client_secret(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    as_shopper(client, shopper)
    placed = client.post(f"/deals/{deal['id']}/buy", data=checkout_form(client, deal["id"]))

    page = client.get(placed.headers["Location"])

    html = page.get_data(as_text=True)
    order = orders_of(app, shopper)[0]
    assert page.status_code == 200
    assert f'data-client-secret="{order.client_secret}"' in html
    assert f'src="{app.config["LINLI_STRIPE_API_BASE"]}/js.stripe.com/v3/"' in html
    assert "确认支付 ¥158.00" in html


def test_the_order_page_waits_for_the_payment_then_shows_the_vouchers(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    as_shopper(client, shopper)
    client.post(f"/deals/{deal['id']}/buy", data=checkout_form(client, deal["id"]))
    order = orders_of(app, shopper)[0]

    waiting = client.get(f"/orders/{order.id}?paid=1").get_data(as_text=True)
    assert "支付成功，正在确认" in waiting and f"/orders/{order.id}/status" in waiting
    still = client.get(f"/orders/{order.id}/status?n=1&paid=1", headers={"HX-Request": "true"})
    assert still.status_code == 200 and "HX-Refresh" not in still.headers

    pay(app, {"payment": {"payment_intent": order.payment_intent_id}}, wait=False)
    done = client.get(f"/orders/{order.id}/status?n=2&paid=1", headers={"HX-Request": "true"})

    assert done.headers["HX-Refresh"] == "true"  # asked the provider: paid, vouchers issued
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "已支付" in html and "团购券（1 张）" in html
    code = re.search(r'href="/vouchers/(\d{12})"', html).group(1)
    assert f"{code[:4]} {code[4:8]} {code[8:]}" in html


def paid_order(app, client, shopper: Account, deal_id: int) -> tuple[Order, str]:
    as_shopper(client, shopper)
    client.post(f"/deals/{deal_id}/buy", data=checkout_form(client, deal_id))
    order = orders_of(app, shopper)[-1]
    pay(app, {"payment": {"payment_intent": order.payment_intent_id}}, wait=False)
    client.get(f"/orders/{order.id}/status", headers={"HX-Request": "true"})
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    return order, re.search(r'href="/vouchers/(\d{12})"', html).group(1)


def test_the_voucher_page_shows_the_code_the_qr_and_where_to_use_it(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    _, code = paid_order(app, client, shopper, deal["id"])

    page = client.get(f"/vouchers/{code}")
    qr = client.get(f"/vouchers/{code}/qr.png")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "".join(f"<span>{code[i : i + 4]}</span>" for i in (0, 4, 8)) in html
    assert "老灶火锅" in html and "可使用" in html and "有效" in html
    assert qr.status_code == 200 and qr.data.startswith(b"\x89PNG")
    listed = client.get("/vouchers?status=active").get_data(as_text=True)
    assert f"/vouchers/{code}" in listed


def test_another_shopper_gets_404_pages_for_my_order_voucher_and_qr(app, client, clock):
    deal = a_deal(app, client)
    mine, other = quick_shopper(app), quick_shopper(app)
    order, code = paid_order(app, client, mine, deal["id"])

    as_shopper(client, other)
    for path in (
        f"/orders/{order.id}",
        f"/orders/{order.id}/pay",
        f"/orders/{order.id}/refund",
        f"/vouchers/{code}",
        f"/vouchers/{code}/qr.png",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html", path
    html = client.get("/tickets/new").get_data(as_text=True)
    refund = client.post(
        f"/orders/{order.id}/refund",
        data={"reason": "changed_mind", "csrf_token": csrf_token_of(html)},
    )
    assert refund.status_code == 404


def test_a_shopper_asks_for_a_refund_with_a_reason(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    order, code = paid_order(app, client, shopper, deal["id"])
    form = client.get(f"/orders/{order.id}/refund").get_data(as_text=True)
    token = csrf_token_of(form)

    no_reason = client.post(f"/orders/{order.id}/refund", data={"csrf_token": token})
    assert no_reason.status_code == 422 and "请选择一个退款原因。" in no_reason.get_data(
        as_text=True
    )
    asked = client.post(
        f"/orders/{order.id}/refund",
        data={
            "csrf_token": token,
            "reason": "cannot_book",
            "reason_text": "周末都约满了",
            "voucher_codes": code,
        },
    )

    assert asked.status_code == 303
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "待客服处理" in page and "约不上时间：周末都约满了" in page
    assert "申请退款</a>" not in page  # one open request per order
    again = client.post(f"/orders/{order.id}/refund", data={"csrf_token": token, "reason": "other"})
    assert again.status_code == 409
    assert "这个订单已经有一个退款申请在处理中。" in again.get_data(as_text=True)


def test_a_shopper_writes_to_customer_service_and_reads_the_reply(app, client, clock):
    deal = a_deal(app, client)
    shopper = quick_shopper(app)
    order, _ = paid_order(app, client, shopper, deal["id"])
    form = client.get(f"/tickets/new?order_id={order.id}").get_data(as_text=True)

    opened = client.post(
        "/tickets/new",
        data={
            "csrf_token": csrf_token_of(form),
            "kind": "complaint",
            "subject": "店家不认券",
            "body": "到店说系统里没有这张券。",
            "order_id": str(order.id),
        },
    )

    assert opened.status_code == 303
    ticket_id = int(opened.headers["Location"].rsplit("/", 1)[1])
    cs = staff(app, client, Role.CS)
    client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"body": "已联系商家，请再出示一次。"},
        headers=cs.headers,
    )
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert "到店说系统里没有这张券。" in page and "已联系商家，请再出示一次。" in page
    assert "客服已回复" in page
    listed = client.get("/tickets").get_data(as_text=True)
    assert "店家不认券" in listed
    other = quick_shopper(app)
    as_shopper(client, other)
    assert client.get(f"/tickets/{ticket_id}").status_code == 404
