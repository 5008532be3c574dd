"""Bearer tokens: expiry, revocation, forgery; role enforcement."""

from __future__ import annotations

import pytest
from flask import Flask

from marketplace.accounts.auth import auth_required
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint
from tests.conftest import build_app
from tests.factories import shopper, staff


def me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_staff_token_expires_after_twelve_hours(app, client, clock):
    account = staff(app, client, Role.CS)

    clock.advance(hours=11, minutes=59)
    assert me(client, account.token).status_code == 200
    clock.advance(minutes=1)
    response = me(client, account.token)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_shopper_token_lasts_thirty_days(app, client, sms, clock):
    account = shopper(client, sms)

    clock.advance(days=29, hours=23)
    assert me(client, account.token).status_code == 200
    clock.advance(hours=1)
    assert me(client, account.token).get_json()["error"]["code"] == "token_expired"


def test_logout_revokes_only_that_token(app, client):
    account = staff(app, client, Role.BD)
    other = staff(app, client, Role.BD, username="other-bd")

    response = client.delete("/api/v1/auth/token", headers=account.headers)

    assert response.status_code == 204
    revoked = me(client, account.token)
    assert revoked.status_code == 401
    assert revoked.get_json()["error"]["code"] == "invalid_token"
    assert me(client, other.token).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer lnl_forged-token-value-that-was-never-issued",
        "Bearer not-even-our-format",
        "Bearer " + "lnl_" + "x" * 200,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "",
    ],
)
def test_missing_or_forged_tokens_are_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] in ("invalid_token", "unauthenticated")


def test_a_tampered_token_is_rejected(app, client):
    account = staff(app, client, Role.BD)
    tampered = account.token[:-1] + ("A" if account.token[-1] != "A" else "B")

    assert me(client, tampered).get_json()["error"]["code"] == "invalid_token"


# -- role enforcement: 401 without a login, 403 with the wrong role --------------------------


@pytest.fixture(scope="module")
def roles_app(redis_url, tmp_path_factory) -> Flask:
    """A small app with role-guarded routes, sharing the real accounts tables (SQLite)."""
    from flask_migrate import upgrade

    from marketplace.core.db import db

    instance = tmp_path_factory.mktemp("roles")
    app = build_app(f"sqlite:///{instance / 'roles.sqlite3'}", redis_url, str(instance))
    blp = Blueprint("guarded", __name__, url_prefix="/guarded")

    @blp.get("/bd")
    @auth_required(Role.BD)
    def bd_only():
        return {"ok": True}

    @blp.get("/cs-or-editor")
    @auth_required(Role.CS, Role.EDITOR)
    def cs_or_editor():
        return {"ok": True}

    @blp.get("/merchant")
    @auth_required(Role.MERCHANT_STAFF)
    def merchant_only():
        return {"ok": True}

    app.extensions["linli.api"].register_blueprint(blp)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("roles", "path", "status"),
    [
        ((Role.BD,), "/api/v1/guarded/bd", 200),
        ((Role.CS,), "/api/v1/guarded/bd", 403),
        ((Role.ADMIN,), "/api/v1/guarded/bd", 200),  # admin may do what any staff may
        ((Role.EDITOR,), "/api/v1/guarded/cs-or-editor", 200),
        ((Role.BD,), "/api/v1/guarded/cs-or-editor", 403),
        ((Role.MERCHANT_STAFF,), "/api/v1/guarded/merchant", 200),
        ((Role.ADMIN,), "/api/v1/guarded/merchant", 403),  # merchant staff is not a staff role
        ((Role.MERCHANT_STAFF,), "/api/v1/guarded/bd", 403),
    ],
)
def test_roles_are_enforced(roles_app, roles, path, status):
    client = roles_app.test_client()
    account = staff(roles_app, client, *roles)

    response = client.get(path, headers=account.headers)

    assert response.status_code == status
    if status == 403:
        assert response.get_json()["error"]["code"] == "forbidden"


def test_guarded_route_without_token_is_401_not_403(roles_app):
    response = roles_app.test_client().get("/api/v1/guarded/bd")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_shopper_is_403_on_staff_routes(roles_app):
    client = roles_app.test_client()
    account = shopper(client, roles_app.extensions["linli.sms"], "13500000000")

    assert client.get("/api/v1/guarded/bd", headers=account.headers).status_code == 403


def test_an_authenticated_request_costs_a_constant_number_of_queries(app, client):
    from tests.querycount import count_queries

    account = staff(app, client, Role.BD)
    me(client, account.token)  # the first use reads the token (then it is cached)

    with count_queries(app) as queries:
        for _ in range(5):
            assert me(client, account.token).status_code == 200

    # the token's principal and the profile /me shows come from Redis in one round trip
    # (a shop's staff also read the user, their roles and their link to the shop)
    assert queries.count == 0, queries
