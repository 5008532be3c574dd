"""The password login of the merchant portal and the staff console (web/console.py):
the right people in, the wrong ones refused with a sentence, the initial password changed
before anything else, logout ending the token for the API too, CSRF on every form."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import PASSWORD, make_user, staff
from tests.web.test_foundation import csrf_token_of

AUDIENCES = {
    "merchant": (Role.MERCHANT_STAFF,),
    "staff": (Role.BD, Role.CS, Role.EDITOR, Role.ADMIN),
}


def page_login(client, audience: str, username: str, password: str = PASSWORD, next_path: str = ""):
    form = client.get(f"/{audience}/login" + (f"?next={next_path}" if next_path else ""))
    assert form.status_code == 200
    return client.post(
        f"/{audience}/login",
        data={
            "username": username,
            "password": password,
            "next": next_path,
            "csrf_token": csrf_token_of(form.get_data(as_text=True)),
        },
    )


@pytest.mark.parametrize("audience", sorted(AUDIENCES))
def test_a_visitor_is_sent_to_the_audiences_own_login_and_back(app, client, audience):
    first = client.get(f"/{audience}/")
    assert first.status_code == 302
    assert first.headers["Location"] == f"/{audience}/login?next=%2F{audience}%2F"

    role = AUDIENCES[audience][-1]
    username = f"{audience}user"
    make_user(app, role, username=username)
    logged = page_login(client, audience, username, next_path=f"/{audience}/")
    assert logged.status_code == 303 and logged.headers["Location"] == f"/{audience}/"
    home = client.get(f"/{audience}/")
    assert home.status_code == 200
    assert username in home.get_data(as_text=True)
    # already logged in: the login page goes straight on
    assert client.get(f"/{audience}/login").status_code == 302


@pytest.mark.parametrize("audience", sorted(AUDIENCES))
def test_a_wrong_password_stays_on_the_form_with_a_sentence(app, client, audience):
    make_user(app, AUDIENCES[audience][0], username=f"{audience}wrong")
    refused = page_login(client, audience, f"{audience}wrong", password="not-the-password")
    assert refused.status_code == 401
    html = refused.get_data(as_text=True)
    assert "账号或密码不对" in html
    assert f'value="{audience}wrong"' in html  # the username is kept, the password is not
    assert client.get(f"/{audience}/").status_code == 302


def test_each_door_lets_in_only_its_own_people(app, client):
    make_user(app, Role.MERCHANT_STAFF, username="clerkonly")
    make_user(app, Role.BD, username="bdonly")
    refused = page_login(client, "staff", "clerkonly")
    assert refused.status_code == 403
    assert "不能登录这里" in refused.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302  # no session was begun
    refused = page_login(client, "merchant", "bdonly")
    assert refused.status_code == 403
    # the general manager (admin) holds every staff role
    make_user(app, Role.ADMIN, username="gm")
    assert page_login(client, "staff", "gm").status_code == 303


def test_a_shopper_session_does_not_open_the_console(app, client):
    make_user(app, Role.MERCHANT_STAFF, username="owner1")
    assert page_login(client, "merchant", "owner1").status_code == 303
    # logged in as a clerk, the staff console answers with the 403 page
    forbidden = client.get("/staff/")
    assert forbidden.status_code == 403
    assert "text/html" in forbidden.content_type


def test_an_initial_password_must_be_changed_before_anything_else(app, client):
    make_user(app, Role.MERCHANT_STAFF, username="newclerk", must_change_password=True)
    logged = page_login(client, "merchant", "newclerk", next_path="/merchant/")
    assert logged.status_code == 303
    assert logged.headers["Location"].startswith("/merchant/password?next=")
    # every page sends the user back to the password form
    held = client.get("/merchant/")
    assert held.status_code == 302 and held.headers["Location"].startswith("/merchant/password")
    form = client.get(held.headers["Location"])
    html = form.get_data(as_text=True)
    assert "初始密码" in html
    token = csrf_token_of(html)

    mismatch = client.post(
        "/merchant/password",
        data={"current_password": PASSWORD, "new_password": "a-new-secret-1",
              "repeat_password": "a-new-secret-2", "csrf_token": token},
    )  # fmt: skip
    assert mismatch.status_code == 422 and "不一样" in mismatch.get_data(as_text=True)
    short = client.post(
        "/merchant/password",
        data={"current_password": PASSWORD, "new_password": "short",
              "repeat_password": "short", "csrf_token": token},
    )  # fmt: skip
    assert short.status_code == 422 and "至少 10 位" in short.get_data(as_text=True)
    wrong = client.post(
        "/merchant/password",
        data={"current_password": "not-it-at-all", "new_password": "a-new-secret-1",
              "repeat_password": "a-new-secret-1", "csrf_token": token},
    )  # fmt: skip
    assert wrong.status_code == 401
    done = client.post(
        "/merchant/password",
        data={"current_password": PASSWORD, "new_password": "a-new-secret-1",
              "repeat_password": "a-new-secret-1", "next": "/merchant/", "csrf_token": token},
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["Location"] == "/merchant/"
    assert client.get("/merchant/").status_code == 200

    # the new password is the one that works from now on, for the API too
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "newclerk", "password": "a-new-secret-1"}
        ).status_code
        == 201
    )


def test_logout_ends_the_token_for_the_api_too(app, client):
    make_user(app, Role.CS, username="cs1")
    assert page_login(client, "staff", "cs1").status_code == 303
    from marketplace.web.session import TOKEN_KEY

    with client.session_transaction() as cookie:
        token = cookie[TOKEN_KEY]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page = client.get("/staff/").get_data(as_text=True)
    out = client.post("/staff/logout", data={"csrf_token": csrf_token_of(page)})
    assert out.status_code == 303 and out.headers["Location"] == "/staff/login"
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/staff/").status_code == 302


def test_revoking_the_token_elsewhere_ends_the_page_session(app, client):
    account = staff(app, client, Role.BD)
    assert page_login(client, "staff", account.username).status_code == 303
    from marketplace.web.session import TOKEN_KEY

    with client.session_transaction() as cookie:
        token = cookie[TOKEN_KEY]
    assert (
        client.delete(
            "/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 204
    )
    assert client.get("/staff/").status_code == 302


@pytest.mark.parametrize(
    "path", ["/merchant/login", "/staff/login", "/staff/logout", "/merchant/password"]
)
def test_the_forms_are_refused_without_their_csrf_token(app, client, path):
    make_user(app, Role.BD, username="bdcsrf")
    response = client.post(path, data={"username": "bdcsrf", "password": PASSWORD})
    assert response.status_code in (400, 302)  # the password form first asks for a login
    if response.status_code == 400:
        assert "text/html" in response.content_type
    assert client.get("/staff/").status_code == 302
