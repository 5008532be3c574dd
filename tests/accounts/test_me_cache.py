"""``GET /me`` answered from Redis: the profile is kept with the token's principal, tagged
with the user's generation, read in the same round trip, and stale the moment anything it
shows changes (name, phone, username, roles, the password flag)."""

from __future__ import annotations

from redis import Redis

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from tests.dbtouch import database_touches
from tests.factories import quick_shopper, serving, staff


def me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def rename(app, user_id: int, **changes) -> None:
    with serving(app):
        user = db.session.get(User, user_id)
        for name, value in changes.items():
            setattr(user, name, value)
        db.session.commit()


def test_me_is_answered_from_redis_and_shows_every_change_at_once(app, client):
    shopper = quick_shopper(app, "13812345678")
    first = me(client, shopper.token).get_json()
    with database_touches(app) as touches:
        again = me(client, shopper.token).get_json()

    rename(app, shopper.id, display_name="小王")
    renamed = me(client, shopper.token).get_json()
    rename(app, shopper.id, phone="13900001111")
    new_phone = me(client, shopper.token).get_json()
    with serving(app):
        db.session.get(User, shopper.id).grant(Role.EDITOR)
        db.session.commit()
    granted = me(client, shopper.token).get_json()
    rename(app, shopper.id, must_change_password=True)
    flagged = me(client, shopper.token).get_json()

    assert touches == []  # the principal and the profile from Redis, nothing else
    assert again == first and first["roles"] == ["shopper"]
    assert (renamed["display_name"], renamed["phone"]) == ("小王", "13812345678")
    assert (new_phone["display_name"], new_phone["phone"]) == ("小王", "13900001111")
    assert granted["roles"] == ["editor", "shopper"] and granted["is_staff"] is True
    assert flagged["must_change_password"] is True


def test_a_cached_profile_is_the_users_own(app, client):
    one, two = quick_shopper(app), quick_shopper(app)
    assert me(client, one.token).get_json()["id"] == one.id

    assert me(client, two.token).get_json()["id"] == two.id
    assert me(client, one.token).get_json()["id"] == one.id


def test_staff_profiles_match_the_database_after_a_username_change(app, client):
    account = staff(app, client, Role.CS, username="li")
    assert me(client, account.token).get_json()["username"] == "li"

    rename(app, account.id, username="li2")

    assert me(client, account.token).get_json()["username"] == "li2"


def test_without_redis_me_is_read_from_the_database(app, client):
    shopper = quick_shopper(app)
    assert me(client, shopper.token).status_code == 200
    working = app.extensions["linli.redis"]
    app.extensions["linli.redis"] = Redis(port=1, socket_connect_timeout=0.2)  # nothing there
    try:
        rename(app, shopper.id, display_name="离线")
        answer = me(client, shopper.token)
    finally:
        app.extensions["linli.redis"] = working

    assert answer.status_code == 200 and answer.get_json()["display_name"] == "离线"
    # the rename could not move the generation: the copy from before stays until it expires
    # (principals.TTL_SECONDS), the documented bound on a change made while Redis was away
    assert me(client, shopper.token).get_json()["display_name"] != "离线"
