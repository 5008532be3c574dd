"""Authentication from Redis: a token's principal is cached, and every change that matters
(logout, revoking all tokens, suspension, a role taken away) is refused by the very next
request — also against a request that read the database just before the change
committed. Without Redis, tokens are checked in the database."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from redis import Redis as RedisClient
from redis.exceptions import ConnectionError as RedisConnectionError

from marketplace.accounts import principals, service
from marketplace.accounts.models import AuthToken, Role
from marketplace.core import tagged
from marketplace.core.db import db
from tests.dbtouch import database_touches
from tests.factories import login_password, make_user, quick_shopper, serving, staff


def me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def code(response) -> str:
    return response.get_json()["error"]["code"]


def test_a_used_token_is_authenticated_without_the_database(app, client):
    account = staff(app, client, Role.BD)

    with serving(app), database_touches(app) as first:
        service.authenticate(account.token)
    with serving(app), database_touches(app) as second:
        principal = service.authenticate(account.token)

    assert first  # the first use reads the token, its user and roles
    assert second == []
    assert principal.user_id == account.id and principal.roles == frozenset({Role.BD})
    assert principal.has_role(Role.BD) and not principal.has_role(Role.CS)


def test_a_new_token_is_not_written_on_its_first_uses(app, client, clock):
    shopper = quick_shopper(app)
    with app.app_context():
        issued_at = db.session.scalar(sa.select(AuthToken.last_used_at))

    with database_touches(app) as touches:
        me(client, shopper.token)
        me(client, shopper.token)
    clock.advance(minutes=6)
    with database_touches(app) as later:
        me(client, shopper.token)
        me(client, shopper.token)

    assert issued_at is not None
    assert not [t for t in touches if t.startswith("UPDATE")]
    assert len([t for t in later if t.startswith("UPDATE auth_tokens")]) == 1  # throttled
    with app.app_context():
        assert db.session.scalar(sa.select(AuthToken.last_used_at)) > issued_at


def test_logging_out_refuses_the_cached_token_at_once(app, client):
    account = staff(app, client, Role.CS)
    assert me(client, account.token).status_code == 200  # cached now

    assert client.delete("/api/v1/auth/token", headers=account.headers).status_code == 204

    assert code(me(client, account.token)) == "invalid_token"


def test_changing_the_password_refuses_every_other_cached_token_at_once(app, client):
    make_user(app, username="zhao")
    kept, other = login_password(client, "zhao"), login_password(client, "zhao")
    assert me(client, kept).status_code == 200 and me(client, other).status_code == 200

    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": "correct-horse-battery", "new_password": "a-new-long-password"},
        headers={"Authorization": f"Bearer {kept}"},
    )

    assert changed.status_code == 204
    assert code(me(client, other)) == "invalid_token"
    assert me(client, kept).status_code == 200


def test_suspending_an_account_refuses_its_cached_tokens_at_once(app, client):
    account = staff(app, client, Role.BD, username="qian")
    assert me(client, account.token).status_code == 200
    runner = app.test_cli_runner()

    suspended = runner.invoke(args=["users", "disable", "qian", "--reason", "离职"])
    refused = me(client, account.token)
    restored = runner.invoke(args=["users", "enable", "qian", "--reason", "返岗"])

    assert suspended.exit_code == 0, suspended.output
    assert refused.status_code == 401 and code(refused) == "account_disabled"
    assert restored.exit_code == 0 and me(client, account.token).status_code == 200


def test_a_role_taken_away_stops_working_at_once(app, client):
    account = staff(app, client, Role.BD, username="sun")
    assert client.get("/api/v1/manage/deals", headers=account.headers).status_code == 200
    runner = app.test_cli_runner()

    assert runner.invoke(args=["users", "roles", "sun", "--role", "cs"]).exit_code == 0
    without = client.get("/api/v1/manage/deals", headers=account.headers)
    assert runner.invoke(args=["users", "roles", "sun", "--role", "editor"]).exit_code == 0
    given = client.get("/api/v1/manage/deals", headers=account.headers)

    assert without.status_code == 403
    assert given.status_code == 200
    assert me(client, account.token).get_json()["roles"] == ["editor"]


def test_a_principal_read_just_before_a_revocation_commits_is_never_used(
    app, client, backend, monkeypatch
):
    """The race the generations exist for: a request reads the token (live) from the
    database, the token is revoked and that commits, then the request stores what it read.
    PostgreSQL lets the revocation commit in between (the store is refused); SQLite holds
    it back until the request ends (then the copy is stale at once). Either way the next
    request is refused."""
    account = staff(app, client, Role.BD)
    entry = principals.entry_key(principals.token_hash(account.token))
    stored: list[bool] = []
    real_store = tagged.store

    def revoke_from_another_request() -> None:
        with app.app_context():
            record = db.session.scalars(sa.select(AuthToken)).one()
            service.revoke_token(record, actor_id=None, reason="stolen phone")
            db.session.commit()

    revoker = threading.Thread(target=revoke_from_another_request)

    def store_after_the_revocation(key, fields, tags, ttl):
        if key == entry and not stored:
            revoker.start()
            revoker.join(timeout=1.5)  # PostgreSQL: committed; SQLite: waits for our lock
        result = real_store(key, fields, tags, ttl)
        if key == entry:
            stored.append(result)
        return result

    monkeypatch.setattr(tagged, "store", store_after_the_revocation)
    during = me(client, account.token)  # authenticated as the token was when it was read
    revoker.join(timeout=15)
    after = me(client, account.token)

    assert not revoker.is_alive()
    assert during.status_code == 200
    assert stored[0] is (backend == "sqlite")  # PostgreSQL: refused, the generation moved
    assert code(after) == "invalid_token"


def test_without_redis_tokens_are_checked_in_the_database(app, client):
    account = staff(app, client, Role.BD)
    working = app.extensions["linli.redis"]
    # nothing listens there: every Redis call of the app fails (changing the pool's port
    # would not do: its open connections keep their own address)
    app.extensions["linli.redis"] = RedisClient(port=1, socket_connect_timeout=0.2)
    try:
        with pytest.raises(RedisConnectionError):
            app.extensions["linli.redis"].ping()
        before = me(client, account.token)
        logout = client.delete("/api/v1/auth/token", headers=account.headers)
        after = me(client, account.token)
    finally:
        app.extensions["linli.redis"] = working

    assert before.status_code == 200 and logout.status_code == 204
    assert code(after) == "invalid_token"
    assert code(me(client, account.token)) == "invalid_token"  # and with Redis back
