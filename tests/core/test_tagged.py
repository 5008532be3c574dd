"""Copies in Redis tagged with generations (core.tagged): a copy is used only while every
generation it was read under is current, and one read before a change is never stored
after it."""

from __future__ import annotations

import sqlalchemy as sa
from redis import Redis

from marketplace.core import tagged
from marketplace.core.db import db


def test_a_copy_is_valid_until_its_generation_moves(app):
    with app.app_context():
        tags = tagged.generations("test:gen")
        assert tagged.store("test:entry", {"a": "1"}, tags, 60)
        hit = tagged.read("test:entry")
        tagged.bump("test:gen")
        stale = tagged.read("test:entry")

    assert hit == {"a": "1"} and stale is None


def test_a_copy_read_before_a_change_is_not_stored_after_it(app):
    with app.app_context():
        tags = tagged.generations("test:gen")  # 1. the generation, 2. the database ...
        tagged.bump("test:gen")  # ... meanwhile a change commits and moves it on
        stored = tagged.store("test:entry", {"a": "old"}, tags, 60)  # 3. refused

        assert stored is False and tagged.read("test:entry") is None


def test_a_lost_generation_never_matches_again(app):
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])
    with app.app_context():
        tags = tagged.generations("test:gen")
        tagged.store("test:entry", {"a": "1"}, tags, 60)
        redis.delete("test:gen")  # evicted or expired
        assert tagged.read("test:entry") is None
        fresh = tagged.generations("test:gen")
        assert tagged.read("test:entry") is None  # a new random start, not the old value
        bumped_missing = tagged.bump("test:other") or redis.get("test:other")

    assert fresh != tags
    assert bumped_missing is not None and redis.ttl("test:other") > 0
    assert 0 < redis.ttl("test:entry") <= 60


def test_generations_move_only_when_the_transaction_commits(app):
    with app.app_context():
        tags = tagged.generations("test:gen")
        db.session.execute(sa.text("SELECT 1"))  # a transaction is under way
        tagged.bump_after_commit("test:gen")
        db.session.rollback()
        after_rollback = tagged.generations("test:gen")
        tagged.bump_after_commit("test:gen")
        tagged.bump_after_commit("test:gen")  # one move per transaction is enough
        db.session.commit()
        after_commit = tagged.generations("test:gen")

    assert after_rollback == tags
    assert int(after_commit["test:gen"]) == int(tags["test:gen"]) + 1
