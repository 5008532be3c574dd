"""``flask users`` and ``flask seed`` from the command line."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import AuthToken, User
from marketplace.core.db import db
from tests.factories import login_password, make_user


def test_users_create_makes_a_staff_account_that_can_log_in(app, client):
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "Wang.BD",
            "--role",
            "bd",
            "--role",
            "editor",
            "--password",
            "a-long-password",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "roles=bd,editor" in result.output
    token = login_password(client, "wang.bd", "a-long-password")
    roles = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert roles["roles"] == ["bd", "editor"]


def test_users_create_refuses_bad_input_and_writes_nothing(app):
    runner = app.test_cli_runner()

    short = runner.invoke(args=["users", "create", "li", "--role", "cs", "--password", "short"])
    bad_role = runner.invoke(
        args=["users", "create", "li", "--role", "boss", "--password", "x" * 12]
    )
    make_user(app, username="taken")
    taken = runner.invoke(args=["users", "create", "taken", "--role", "cs", "--password", "x" * 12])

    assert short.exit_code != 0 and "at least 10 characters" in short.output
    assert bad_role.exit_code != 0
    assert taken.exit_code != 0 and "taken" in taken.output
    with app.app_context():
        assert db.session.scalars(sa.select(User.username)).all() == ["taken"]


def test_set_password_logs_out_existing_sessions(app, client):
    make_user(app, username="zhou")
    old_token = login_password(client, "zhou")

    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "zhou", "--password", "reset-by-admin"]
    )

    assert result.exit_code == 0, result.output
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code
        == 401
    )
    assert login_password(client, "zhou", "reset-by-admin")
    with app.app_context():
        assert (
            db.session.scalars(sa.select(AuthToken.revoked_at.is_not(None))).all().count(True) == 1
        )
