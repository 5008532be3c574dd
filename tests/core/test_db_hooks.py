"""``on_commit`` / ``on_rollback``: run when the transaction really ends, not when a
SAVEPOINT inside it is released (SQLAlchemy reports that as a commit too)."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.core.db import db, on_commit, on_rollback


def test_a_released_savepoint_is_not_the_commit(app):
    ran: list[str] = []
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        on_commit(lambda: ran.append("committed"))
        on_rollback(lambda: ran.append("rolled back"))
        with db.session.begin_nested():
            db.session.execute(sa.text("SELECT 1"))
        at_release = list(ran)
        db.session.rollback()  # the request fails after its savepoint

    assert at_release == []
    assert ran == ["rolled back"]


def test_callbacks_run_once_at_the_real_commit(app):
    ran: list[str] = []
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        on_commit(lambda: ran.append("committed"))
        on_rollback(lambda: ran.append("rolled back"))
        with db.session.begin_nested():
            db.session.execute(sa.text("SELECT 1"))
        db.session.commit()

    assert ran == ["committed"]
