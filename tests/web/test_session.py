"""Page sessions over HTTP: login by phone and code, the cookie holding an ordinary token,
logout and revocation ending the page and the API alike, the redirect to login and back,
CSRF on the login forms."""

from __future__ import annotations

import re

import sqlalchemy as sa

from marketplace.accounts.models import AuthToken, Role
from marketplace.core.db import db
from marketplace.web.session import TOKEN_KEY, safe_next
from tests.distribution.conftest import link, new_distributor
from tests.factories import last_code, live_deal, live_merchant, staff
from tests.web.test_foundation import csrf_token_of


def page_login(client, sms, phone: str = "13900001111", *, next_path: str = "") -> str:
    """Log in through the pages as a shopper would; returns the token the cookie holds."""
    form = client.get(f"/login?next={next_path}" if next_path else "/login")
    token = csrf_token_of(form.get_data(as_text=True))
    sent = client.post("/login/code", data={"phone": phone, "csrf_token": token})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    logged = client.post(
        "/login",
        data={
            "phone": phone,
            "code": last_code(sms, phone),
            "next": next_path,
            "csrf_token": csrf_token_of(sent.get_data(as_text=True)),
        },
    )
    assert logged.status_code == 303, logged.get_data(as_text=True)
    with client.session_transaction() as cookie:
        return cookie[TOKEN_KEY]


def test_a_page_that_needs_a_login_sends_the_visitor_there_and_back(app, client, sms):
    first = client.get("/me")
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=%2Fme"

    form = client.get(first.headers["Location"])
    html = form.get_data(as_text=True)
    assert 'name="next" value="/me"' in html

    phone = "13900002222"
    client.post("/login/code", data={"phone": phone, "csrf_token": csrf_token_of(html)})
    logged = client.post(
        "/login",
        data={
            "phone": phone,
            "code": last_code(sms, phone),
            "next": "/me",
            "csrf_token": csrf_token_of(html),
        },
    )
    assert logged.status_code == 303 and logged.headers["Location"] == "/me"
    page = client.get("/me")
    assert page.status_code == 200
    assert "你好，用户2222" in page.get_data(as_text=True)


def test_next_only_ever_leads_to_a_path_on_this_site():
    assert safe_next("/deals/3?ref=ab") == "/deals/3?ref=ab"
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"):
        assert safe_next(hostile) == "/", hostile
    assert safe_next("/ok\r\nSet-Cookie: x") == "/"


def test_login_with_a_hostile_next_lands_at_home(app, client, sms):
    page_login(client, sms, next_path="https://evil.example/")
    assert client.get("/login?next=//evil.example").headers["Location"] == "/"


def test_the_cookie_holds_an_ordinary_token_that_the_api_accepts(app, client, sms):
    token = page_login(client, sms)

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["phone"] == "13900001111"
    with app.app_context():
        rows = db.session.scalars(sa.select(AuthToken)).all()
        assert len(rows) == 1 and rows[0].user_id == me.get_json()["id"]


def test_the_session_cookie_is_httponly_and_samesite_lax(app, client, sms):
    form = client.get("/login")
    sent = client.post(
        "/login/code",
        data={"phone": "13900003333", "csrf_token": csrf_token_of(form.get_data(as_text=True))},
    )
    logged = client.post(
        "/login",
        data={
            "phone": "13900003333",
            "code": last_code(sms, "13900003333"),
            "csrf_token": csrf_token_of(sent.get_data(as_text=True)),
        },
    )
    cookie = next(c for c in logged.headers.getlist("Set-Cookie") if c.startswith("linli_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # lasts as long as the token, also when WeChat is closed
    assert "Secure" not in cookie  # Secure only in production (LINLI_ENV=production)


def test_logout_revokes_the_token_for_the_api_too(app, client, sms):
    token = page_login(client, sms)
    home = client.get("/me").get_data(as_text=True)

    out = client.post("/logout", data={"csrf_token": csrf_token_of(home)})

    assert out.status_code == 303
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401 and api.get_json()["error"]["code"] == "invalid_token"
    assert client.get("/me").status_code == 302  # the page session is over too
    with app.app_context():
        record = db.session.scalars(sa.select(AuthToken)).one()
        assert record.revoked_at is not None


def test_revoking_the_token_through_the_api_ends_the_page_session(app, client, sms):
    token = page_login(client, sms)
    assert client.get("/me").status_code == 200

    bye = client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})

    assert bye.status_code == 204
    again = client.get("/me")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login")
    with client.session_transaction() as cookie:
        assert TOKEN_KEY not in cookie  # a dead token is forgotten


def test_a_logout_form_without_its_csrf_token_is_refused(app, client, sms):
    token = page_login(client, sms)

    forged = client.post("/logout")

    assert forged.status_code == 400
    assert "页面停留太久已过期" in forged.get_data(as_text=True)
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200  # still logged in


def test_a_login_form_without_its_csrf_token_is_refused(app, client, sms):
    refused = client.post("/login/code", data={"phone": "13900004444"})

    assert refused.status_code == 400
    assert sms.messages_to("13900004444") == []


def test_a_staff_account_cannot_use_the_shoppers_pages(app, client, sms):
    """Roles are sign_in's: a page for shoppers refuses a CS account's session (403)."""
    agent = staff(app, client, Role.CS)
    with client.session_transaction() as cookie:
        cookie[TOKEN_KEY] = agent.token

    page = client.get("/me")

    assert page.status_code == 403
    assert "没有权限" in page.get_data(as_text=True)


def test_the_login_form_says_what_went_wrong(app, client, sms):
    html = client.get("/login").get_data(as_text=True)
    token = csrf_token_of(html)

    bad_phone = client.post("/login/code", data={"phone": "12345", "csrf_token": token})
    assert bad_phone.status_code == 422
    assert "请输入 11 位大陆手机号" in bad_phone.get_data(as_text=True)

    client.post("/login/code", data={"phone": "13900005555", "csrf_token": token})
    too_soon = client.post("/login/code", data={"phone": "13900005555", "csrf_token": token})
    assert too_soon.status_code == 429
    body = too_soon.get_data(as_text=True)
    wait = int(too_soon.headers["Retry-After"])
    assert 0 < wait <= 60
    assert f"验证码发送太频繁了，请 {wait} 秒后再获取。" in body
    assert f'data-countdown="{wait}"' in body

    wrong = client.post(
        "/login", data={"phone": "13900005555", "code": "000000", "csrf_token": token}
    )
    if last_code(sms, "13900005555") != "000000":
        assert wrong.status_code == 401
        assert "验证码不对" in wrong.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_the_tab_bar_shows_the_login_state(app, client, sms):
    assert "登录 / 注册" in client.get("/deals").get_data(as_text=True)
    page_login(client, sms)
    html = client.get("/deals").get_data(as_text=True)
    assert "登录 / 注册" not in html and re.search(r">我的</a>", html)


def test_a_share_link_visitor_is_bound_at_the_page_login(app, client, sms):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"], "small_set")
    distributor, _ = new_distributor(app, client)
    code = link(client, distributor, deal["id"])
    arrived = client.get(f"/s/{code}")
    assert arrived.status_code == 302

    page_login(client, sms, phone="13900006666")

    me = client.get("/me")
    assert me.status_code == 200
    customers = client.get("/api/v1/distributors/me", headers=distributor.headers).get_json()
    assert customers["bound_customers"] == 1


def test_an_htmx_call_of_a_logged_out_visitor_is_sent_to_the_login_page(app, client):
    """htmx follows a redirect and swaps the login page into a fragment; it is told to
    navigate instead (HX-Redirect), and comes back to the page it was on."""
    answer = client.get(
        "/orders/1/status",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/orders/1?paid=1"},
    )

    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == "/login?next=%2Forders%2F1%3Fpaid%3D1"
