"""The catalog cache: a hit is one Redis round trip and the stored bytes as they are; a
change or a new minute rebuilds; a rebuild in progress is not repeated by every reader;
clients revalidate with the ETag."""

from __future__ import annotations

import json

import pytest

from marketplace.accounts.models import Role
from marketplace.core import cache
from marketplace.core.cache import GENERATION_KEY, cached_answer, cached_json, catalog_changed
from marketplace.core.db import db
from tests.factories import live_deal, live_merchant, staff


class Builder:
    """A build function that counts its calls and answers what it is told."""

    def __init__(self, value: object = None) -> None:
        self.value = value if value is not None else {"deals": ["火锅四人餐"]}
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


@pytest.fixture
def reading(app, clock):
    with app.test_request_context("/api/v1/deals"):
        yield app.extensions["tests.redis"]


def test_a_hit_is_the_stored_bytes_and_builds_nothing(reading):
    build = Builder()
    first = cached_answer("deals", {"page": 1}, build)

    second = cached_answer("deals", {"page": 1}, build)

    assert build.calls == 1
    assert second == first
    assert json.loads(second.body) == {"deals": ["火锅四人餐"]}
    assert "火锅".encode() in second.body  # UTF-8, not \u escapes


def test_a_hit_costs_one_redis_round_trip(reading, app, monkeypatch):
    build = Builder()
    cached_answer("home", {"day": "2026-11-23"}, build)
    redis = app.extensions["linli.redis"]
    sent = []
    real = redis.execute_command
    monkeypatch.setattr(
        redis, "execute_command", lambda *a, **k: sent.append(a[0]) or real(*a, **k)
    )

    cached_answer("home", {"day": "2026-11-23"}, build)

    assert sent == ["MGET"] and build.calls == 1


def test_the_json_text_is_the_answer_s_bytes_decoded(reading):
    build = Builder()

    assert json.loads(cached_json("page:home", {}, build)) == {"deals": ["火锅四人餐"]}
    assert (
        cached_json("page:home", {}, build) == cached_answer("page:home", {}, build).body.decode()
    )
    assert build.calls == 1


def test_other_parameters_are_another_entry(reading):
    build = Builder()
    cached_answer("deals", {"page": 1}, build)
    cached_answer("deals", {"page": 2}, build)
    cached_answer("deal", {"page": 1}, build)

    assert build.calls == 3


def test_a_committed_change_rebuilds_at_once(reading):
    build = Builder()
    cached_answer("deals", {}, build)

    catalog_changed()
    db.session.commit()
    build.value = {"deals": ["烧烤"]}
    after = cached_answer("deals", {}, build)

    assert build.calls == 2 and json.loads(after.body) == {"deals": ["烧烤"]}


def test_a_change_rolled_back_invalidates_nothing(reading):
    build = Builder()
    cached_answer("deals", {}, build)

    catalog_changed()
    db.session.rollback()
    cached_answer("deals", {}, build)

    assert build.calls == 1


def test_a_new_minute_rebuilds(reading, clock):
    build = Builder()
    cached_answer("home", {}, build)
    clock.advance(seconds=cache.TTL_SECONDS)

    cached_answer("home", {}, build)

    assert build.calls == 2


def test_while_another_reader_rebuilds_the_previous_entry_is_served(reading):
    build = Builder()
    before = cached_answer("deals", {}, build)
    reading.incr(GENERATION_KEY)  # a purchase elsewhere
    key = cache._key("deals", {})
    reading.set(f"{key}:lock", 1, px=5000)  # and another reader is rebuilding

    served = cached_answer("deals", {}, build)

    assert served == before and build.calls == 1
    reading.delete(f"{key}:lock")  # that reader finished without storing
    cached_answer("deals", {}, build)
    assert build.calls == 2


def test_with_no_entry_to_serve_a_reader_builds_even_during_a_rebuild(reading):
    build = Builder()
    reading.set(f"{cache._key('deals', {})}:lock", 1, px=5000)

    cached_answer("deals", {}, build)

    assert build.calls == 1


def test_a_failed_build_lets_the_next_reader_rebuild(reading):
    build = Builder()
    cached_answer("deal", {"id": 1}, build)
    reading.incr(GENERATION_KEY)

    def broken():
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        cached_answer("deal", {"id": 1}, broken)
    build.value = {"id": 1, "title": "新"}
    again = cached_answer("deal", {"id": 1}, build)

    assert build.calls == 2 and json.loads(again.body)["title"] == "新"


def test_with_the_cache_off_every_read_builds(reading, app, monkeypatch):
    monkeypatch.setitem(app.config, "LINLI_CATALOG_CACHE", False)
    build = Builder()

    cached_answer("deals", {}, build)
    cached_answer("deals", {}, build)

    assert build.calls == 2


def test_catalog_answers_carry_an_etag_and_revalidate_with_it(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], title="火锅四人餐")

    etags = {}
    for path in ("/api/v1/deals", f"/api/v1/deals/{deal['id']}", "/api/v1/home"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["Cache-Control"] == "public, no-cache"
        etags[path] = first.headers["ETag"]

        again = client.get(path, headers={"If-None-Match": etags[path]})

        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == etags[path]

    version = client.get(f"/api/v1/manage/deals/{deal['id']}", headers=bd.headers).get_json()
    response = client.patch(
        f"/api/v1/deals/{deal['id']}",
        headers=bd.headers,
        json={"version": version["version"], "title": "火锅五人餐"},
    )
    assert response.status_code == 200, response.get_json()
    path = f"/api/v1/deals/{deal['id']}"
    changed = client.get(path, headers={"If-None-Match": etags[path]})
    assert changed.status_code == 200 and changed.get_json()["title"] == "火锅五人餐"


def test_a_listed_hit_is_answered_before_its_query_is_parsed(app, client, clock, monkeypatch):
    from marketplace.deals import api

    bd = staff(app, client, Role.BD)
    live_deal(app, client, bd, live_merchant(client, bd)["id"])
    first = client.get("/api/v1/deals?page_size=5")
    parsed = []
    real = api.CATALOG_ARGS.load
    monkeypatch.setattr(api.CATALOG_ARGS, "load", lambda *a, **k: parsed.append(1) or real(*a, **k))

    # an unknown parameter (a cache buster) is left out of the key: the same entry
    again = client.get("/api/v1/deals?page_size=5&_=1732329600")
    bad = client.get("/api/v1/deals?page_size=500")

    assert again.status_code == 200 and again.data == first.data
    assert bad.status_code == 422 and parsed == [1]  # only the malformed query was parsed


def test_a_sale_that_only_moves_figures_may_lag_a_few_seconds_a_sell_out_is_seen_at_once(
    app, client, clock
):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "flash", stock=2)
    url = f"/api/v1/deals/{deal['id']}"
    from tests.factories import buy, quick_shopper

    assert client.get(url).get_json()["stock_left"] == 2  # cached
    assert buy(client, quick_shopper(app), deal["id"]).status_code == 201
    lagging = client.get(url).get_json()
    clock.advance(seconds=cache.FIGURES_LAG_SECONDS)
    caught_up = client.get(url).get_json()
    assert buy(client, quick_shopper(app), deal["id"]).status_code == 201
    sold_out = client.get(url).get_json()

    assert lagging["stock_left"] == 2  # within the lag: the entry from before the sale
    assert caught_up["stock_left"] == 1
    assert (sold_out["stock_left"], sold_out["status"]) == (0, "sold_out")  # at once
