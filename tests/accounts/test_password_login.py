"""Staff and merchant-staff login with username and password."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import AuthToken, Role, User
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from tests.factories import PASSWORD, make_user


def login(client, username, password=PASSWORD, **kwargs):
    return client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}, **kwargs
    )


def test_staff_logs_in_and_gets_a_short_lived_token(app, client, clock):
    make_user(app, Role.BD, username="wang")

    response = login(client, "Wang")  # usernames are case-insensitive

    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["roles"] == ["bd"] and body["user"]["is_staff"] is True
    assert body["expires_at"] == "2026-11-23T22:00:00+08:00"  # 12 hours, shown in +08:00
    with app.app_context():
        record = db.session.scalars(sa.select(AuthToken)).one()
        assert body["token"] not in record.token_hash  # only the hash is stored
        assert db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.entity_type == "user")
            .order_by(AuditEvent.id)
        ).all() == ["user.created", "user.logged_in"]


def test_wrong_password_and_unknown_user_look_the_same(app, client):
    make_user(app, Role.CS, username="chen")

    wrong = login(client, "chen", "not-the-password")
    unknown = login(client, "nobody", "not-the-password")

    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.get_json()["error"]["code"]
        == unknown.get_json()["error"]["code"]
        == ("invalid_credentials")
    )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthToken)) == 0


def test_disabled_account_cannot_log_in(app, client):
    user_id = make_user(app, Role.EDITOR, username="liu")
    with app.app_context():
        db.session.get(User, user_id).is_active = False
        db.session.commit()

    response = login(client, "liu")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "account_disabled"


def test_repeated_failures_are_rate_limited(app, client):
    make_user(app, Role.BD, username="zhao")

    statuses = [login(client, "zhao", "guess-guess-guess").status_code for _ in range(11)]

    assert statuses == [401] * 10 + [429]
    # another client address still gets to try
    assert login(client, "zhao", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 201


def test_initial_password_must_be_changed_first(app, client):
    make_user(app, Role.MERCHANT_STAFF, username="shop-owner", must_change_password=True)
    token = login(client, "shop-owner").get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}

    me = client.get("/api/v1/me", headers=auth)
    changed = client.post(
        "/api/v1/me/password",
        headers=auth,
        json={"current_password": PASSWORD, "new_password": "a-new-secret-1"},
    )

    assert me.status_code == 200 and me.get_json()["must_change_password"] is True
    assert changed.status_code == 204
    assert client.get("/api/v1/me", headers=auth).get_json()["must_change_password"] is False
    assert login(client, "shop-owner", "a-new-secret-1").status_code == 201


def test_password_change_logs_out_other_sessions(app, client):
    make_user(app, Role.BD, username="sun")
    phone_session = login(client, "sun").get_json()["token"]
    laptop_session = login(client, "sun").get_json()["token"]

    response = client.post(
        "/api/v1/me/password",
        headers={"Authorization": f"Bearer {laptop_session}"},
        json={"current_password": PASSWORD, "new_password": "brand-new-pass"},
    )

    assert response.status_code == 204
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {laptop_session}"}).status_code
        == 200
    )
    revoked = client.get("/api/v1/me", headers={"Authorization": f"Bearer {phone_session}"})
    assert revoked.status_code == 401
    assert revoked.get_json()["error"]["code"] == "invalid_token"


def test_weak_new_password_is_refused(app, client):
    make_user(app, Role.BD, username="qian")
    auth = {"Authorization": f"Bearer {login(client, 'qian').get_json()['token']}"}

    short = client.post(
        "/api/v1/me/password",
        headers=auth,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    wrong_current = client.post(
        "/api/v1/me/password",
        headers=auth,
        json={"current_password": "nope-nope-nope", "new_password": "long-enough-pw"},
    )

    assert short.status_code == 422
    assert short.get_json()["error"]["fields"] == {"new_password": ["Use at least 10 characters."]}
    assert wrong_current.status_code == 401
    assert login(client, "qian").status_code == 201  # the old password still works


def test_outside_the_test_suite_passwords_use_rfc9106_argon2id(redis_url, tmp_path):
    from marketplace.accounts import service
    from tests.conftest import build_app

    app = build_app(
        f"sqlite:///{tmp_path / 'h.sqlite3'}", redis_url, str(tmp_path), LINLI_ENV="development"
    )

    with app.app_context():
        stored = service.hash_password("a-long-password")

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
