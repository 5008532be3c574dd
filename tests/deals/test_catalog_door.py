"""The catalog's lanes at the front door (``deals.door``): a fresh cached answer is sent
before Flask, exactly as the views send it; a miss, a stale entry or a query the view
would refuse goes on to the views."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from marketplace.core.frontdoor import FrontDoor
from tests.orders.test_front_door import Reached

PATHS = [
    "/api/v1/deals",
    "/api/v1/deals?page_size=2",
    "/api/v1/deals?page=2&page_size=2",
    "/api/v1/deals?category=hotpot-bbq&sort=grade",
    "/api/v1/deals?near=27.3383,103.7172&radius=5000",
    "/api/v1/deals?q=%E7%81%AB%E9%94%85",  # 火锅
    "/api/v1/deals?type=flash&type=small_set",
    "/api/v1/home",
]


def inner(app):
    door = app.wsgi_app
    assert isinstance(door, FrontDoor)
    return door.inner


def same(at_the_door, inside) -> None:
    assert at_the_door.status_code == inside.status_code
    assert at_the_door.get_data() == inside.get_data()
    names = {n for n, _ in inside.headers} | {n for n, _ in at_the_door.headers}
    for name in names - {"X-Request-ID"}:
        assert at_the_door.headers.get(name) == inside.headers.get(name), name
    assert at_the_door.headers["X-Request-ID"] == inside.headers["X-Request-ID"] == "req-9"


@pytest.mark.parametrize("path", [*PATHS, "deal"])
def test_a_fresh_entry_is_sent_at_the_door_as_the_view_sends_it(app, client, city, path):
    _, ids, _ = city
    if path == "deal":
        path = f"/api/v1/deals/{ids['hotpot_set']}"
    first = client.get(path)  # the view builds and stores the entry
    assert first.status_code == 200, first.get_json()
    etag = first.headers["ETag"]

    with Reached(app) as reached:
        at_the_door = Client(app.wsgi_app).get(path, headers={"X-Request-ID": "req-9"})
        not_modified = Client(app.wsgi_app).get(
            path, headers={"X-Request-ID": "req-9", "If-None-Match": f'W/{etag}, "other"'}
        )
    assert reached.count == 0
    inside = Client(inner(app)).get(path, headers={"X-Request-ID": "req-9"})
    inside_304 = Client(inner(app)).get(
        path, headers={"X-Request-ID": "req-9", "If-None-Match": f'W/{etag}, "other"'}
    )

    same(at_the_door, inside)
    assert at_the_door.get_data() == first.get_data()
    same(not_modified, inside_304)
    assert not_modified.status_code == 304 and not_modified.get_data() == b""


def test_a_change_is_seen_at_once_and_a_miss_reaches_the_view(app, client, city):
    bd, ids, _ = city
    assert "火锅四人餐" in [d["title"] for d in client.get("/api/v1/deals").get_json()["items"]]
    paused = client.post(
        f"/api/v1/deals/{ids['hotpot_set']}/pause", json={"reason": "停业"}, headers=bd.headers
    )
    assert paused.status_code == 200

    with Reached(app) as reached:
        after = Client(app.wsgi_app).get("/api/v1/deals")
        again = Client(app.wsgi_app).get("/api/v1/deals")
    assert "火锅四人餐" not in [d["title"] for d in after.get_json()["items"]]
    assert reached.count == 1  # the stale entry went to the view, which stored the new one
    assert again.get_data() == after.get_data()


def test_what_the_view_would_refuse_or_ignore_goes_to_it(app, client, city):
    assert client.get("/api/v1/deals").status_code == 200
    for path, status in [
        ("/api/v1/deals?page=abc", 422),
        ("/api/v1/deals?sort=cheapest", 422),
        ("/api/v1/deals/999999", 404),
        ("/api/v1/deals/0", 404),
        ("/api/v1/deals?q=%FF", 200),  # not UTF-8: the view decides
    ]:
        with Reached(app) as reached:
            answer = Client(app.wsgi_app).get(path)
        assert answer.status_code == status, (path, answer.get_json())
        assert reached.count == 1, path
    # a tracking tag the catalog does not read is the same entry, at the door
    with Reached(app) as reached:
        tagged = Client(app.wsgi_app).get("/api/v1/deals?utm_source=wechat")
    assert tagged.status_code == 200 and reached.count == 0


def test_with_the_cache_off_everything_goes_to_the_views(app, client, city):
    app.config["LINLI_CATALOG_CACHE"] = False
    try:
        with Reached(app) as reached:
            for path in PATHS:
                assert Client(app.wsgi_app).get(path).status_code == 200
        assert reached.count == len(PATHS)
    finally:
        app.config["LINLI_CATALOG_CACHE"] = True


def test_a_query_that_is_not_utf8_is_keyed_as_the_view_keys_it(app, client, city):
    """``request.args`` keeps invalid UTF-8 percent-encoded (``q=%FF`` is the text "%FF"),
    so the door must not read it as U+FFFD and send the entry of another query."""
    bd, _, shops = city
    from tests.factories import live_deal

    live_deal(app, client, bd, shops["tea"]["id"], "small_set", title="奶茶%FF特价")
    replaced = client.get("/api/v1/deals?q=%EF%BF%BD")  # U+FFFD itself: its entry is stored
    assert replaced.status_code == 200 and replaced.get_json()["items"] == []

    at_the_door = Client(app.wsgi_app).get("/api/v1/deals?q=%FF", headers={"X-Request-ID": "r"})
    inside = Client(inner(app)).get("/api/v1/deals?q=%FF", headers={"X-Request-ID": "r"})
    assert [d["title"] for d in inside.get_json()["items"]] == ["奶茶%FF特价"]
    assert at_the_door.get_data() == inside.get_data()


def test_behind_a_proxy_the_door_sees_the_client_the_app_sees(app, client, city):
    """ProxyFix goes around the door too: a request answered at the door has its client's
    address where the server's access log reads it (``REMOTE_ADDR``), like one answered
    by the app."""
    from werkzeug.test import EnvironBuilder

    from marketplace import create_app

    proxied = create_app({**app.extensions["linli.settings"], "LINLI_TRUST_PROXY": 1})
    proxied.extensions["linli.clock"] = app.extensions["linli.clock"]
    assert client.get("/api/v1/home").status_code == 200  # the entry is stored
    for path, answered_at_the_door in (("/api/v1/home", True), ("/api/v1/home?x=1", False)):
        environ = EnvironBuilder(
            path,
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        ).get_environ()
        with Reached(proxied) as reached:
            body = b"".join(proxied.wsgi_app(environ, lambda *args: None))
        assert body and reached.count == (0 if answered_at_the_door else 1)
        assert environ["REMOTE_ADDR"] == "203.0.113.7", path
        assert environ["wsgi.url_scheme"] == "https", path
