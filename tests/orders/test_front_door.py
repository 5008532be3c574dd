"""The checkout's front door (``orders.door``): a final refusal of a flash tap is answered
before Flask, exactly as the app would answer it; everything else reaches the app."""

from __future__ import annotations

import json
import threading

import pytest
from flask import request_started
from werkzeug.test import Client

from marketplace.accounts import service as accounts
from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.core.frontdoor import FrontDoor
from marketplace.orders import actions
from marketplace.orders.models import Order
from tests.dbtouch import database_touches
from tests.factories import buy, quick_shopper
from tests.orders.test_flash_screen import flash_deal, refusal_kind


class Reached:
    """Counts the requests of this thread that reached Flask (its ``request_started``
    signal; werkzeug's test client serves them in the caller's thread). A live server's
    threads — a payment webhook from an earlier test still arriving — are not counted."""

    def __init__(self, app) -> None:
        self.count = 0
        self.app = app
        self.thread = threading.get_ident()

    def __enter__(self) -> Reached:
        request_started.connect(self._seen, self.app)
        return self

    def __exit__(self, *exc: object) -> None:
        request_started.disconnect(self._seen, self.app)

    def _seen(self, sender, **extra) -> None:
        if threading.get_ident() == self.thread:
            self.count += 1


def tap(wsgi, shopper, deal_id, *, key=None, body=None, request_id=None):
    headers = dict(shopper.headers)
    if key:
        headers["Idempotency-Key"] = key
    if request_id:
        headers["X-Request-ID"] = request_id
    return Client(wsgi).post(
        "/api/v1/orders",
        json={"deal_id": deal_id, "quantity": 1} if body is None else body,
        headers=headers,
    )


def the_app_without_its_door(app):
    door = app.wsgi_app
    assert isinstance(door, FrontDoor)
    return door.inner


@pytest.mark.parametrize("kind", ["sold_out", "over_the_limit", "not_open_yet", "ended", "paused"])
def test_the_door_answers_a_final_refusal_as_the_app_would(app, client, bd, merchant, kind):
    deal, shopper, code = refusal_kind(kind, app, client, bd, merchant)
    # The crowd has tapped before (each tap with its own key): the principal, the sale state
    # and the gate are in Redis, each filled from the database once.
    assert buy(client, shopper, deal["id"], key="warm").get_json()["error"]["code"] == code

    with Reached(app) as reached, database_touches(app) as touches:
        at_the_door = tap(app.wsgi_app, shopper, deal["id"], key="door-1", request_id="req-1")
    assert reached.count == 0 and touches == []
    inside = tap(
        the_app_without_its_door(app), shopper, deal["id"], key="door-2", request_id="req-1"
    )

    assert at_the_door.status_code == inside.status_code == 409
    assert at_the_door.get_json() == inside.get_json()
    assert at_the_door.get_json()["error"] == {
        "code": code,
        "message": inside.get_json()["error"]["message"],
        "request_id": "req-1",
    }
    assert at_the_door.get_data() == inside.get_data()  # byte for byte
    for header in ("Content-Type", "X-Request-ID", "X-Content-Type-Options", "Content-Length"):
        assert at_the_door.headers[header] == inside.headers[header], header
    # without a request id of its own, the answer gets a fresh one, like the app's
    fresh = tap(app.wsgi_app, shopper, deal["id"], request_id="no spaces allowed")
    assert len(fresh.headers["X-Request-ID"]) == 32
    assert fresh.get_json()["error"]["request_id"] == fresh.headers["X-Request-ID"]


def test_anything_but_a_plain_final_refusal_reaches_the_app(app, client, bd, merchant):
    deal, shopper, _ = refusal_kind("sold_out", app, client, bd, merchant)
    assert buy(client, shopper, deal["id"]).status_code == 409  # caches warm
    door = app.wsgi_app

    cases = {
        # the app validates what the door does not read
        "a share code": (dict(body={"deal_id": deal["id"], "quantity": 1, "ref": "x" * 17}), 422),
        "too many units": (dict(body={"deal_id": deal["id"], "quantity": 21}), 422),
        "a Linli key": (dict(key="linli:giveaway:1"), 422),
        "a string id": (dict(body={"deal_id": str(deal["id"])}), 422),
        "no such deal": (dict(body={"deal_id": 999_999}), 422),
    }
    for name, (options, status) in cases.items():
        with Reached(app) as reached:
            answer = tap(door, shopper, deal["id"], **options)
        assert answer.status_code == status, (name, answer.get_json())
        assert reached.count == 1, name

    with Reached(app) as reached:
        unknown = Client(door).post(
            "/api/v1/orders",
            json={"deal_id": deal["id"]},
            headers={"Authorization": "Bearer lnl_not-a-token"},
        )
    assert unknown.status_code == 401 and reached.count == 1


def test_a_revoked_token_and_a_disabled_account_are_refused_at_once(app, client, bd, merchant):
    deal, shopper, _ = refusal_kind("sold_out", app, client, bd, merchant)
    other = quick_shopper(app)
    for who in (shopper, other):
        assert tap(app.wsgi_app, who, deal["id"]).status_code == 409  # cached, at the door

    assert client.delete("/api/v1/auth/token", headers=shopper.headers).status_code == 204
    assert tap(app.wsgi_app, shopper, deal["id"]).get_json()["error"]["code"] == "invalid_token"

    with app.app_context():  # customer service suspends the account (``flask users disable``)
        assert accounts.set_active(
            db.session.get(User, other.id), False, actor_id=None, reason="刷单"
        )
        db.session.commit()
    refused = tap(app.wsgi_app, other, deal["id"])
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "account_disabled"


def test_units_given_back_are_sold_through_the_door_at_once(app, client, bd, merchant):
    """A sold-out flash deal whose unit comes back (an unpaid order expires): the next tap
    is let through to the app and buys it."""
    deal = flash_deal(app, client, bd, merchant, stock=1)
    first = buy(client, quick_shopper(app), deal["id"])
    assert first.status_code == 201
    late = quick_shopper(app)
    assert tap(app.wsgi_app, late, deal["id"]).get_json()["error"]["code"] == "sold_out"

    with app.app_context():  # unpaid past its deadline (the expiry job's event)
        closed = actions.close_unpaid(
            db.session.get(Order, first.get_json()["order"]["id"]), "expired_unpaid"
        )
        assert closed
        db.session.commit()

    with Reached(app) as reached:
        bought = tap(app.wsgi_app, late, deal["id"])
    assert bought.status_code == 201 and reached.count == 1


def _raw_tap(wsgi, shopper, body: bytes, content_type: str):
    return Client(wsgi).post(
        "/api/v1/orders",
        data=body,
        headers={**shopper.headers, "Content-Type": content_type, "X-Request-ID": "req-r"},
    )


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        # not JSON to the app (``core.api._is_json``): a 415, never "sold out"
        ("application/jsonx", lambda text: text.encode()),
        ("application/json-patch", lambda text: text.encode()),
        # JSON the app's parser (webargs: strict UTF-8) cannot read: a 400
        ("application/json", lambda text: b"\xef\xbb\xbf" + text.encode()),
        ("application/json", lambda text: text.encode("utf-16")),
    ],
)
def test_the_door_refuses_only_a_body_the_app_would_read(
    app, client, bd, merchant, content_type, encode
):
    deal, shopper, _ = refusal_kind("sold_out", app, client, bd, merchant)
    assert buy(client, shopper, deal["id"]).status_code == 409  # caches warm
    body = encode(json.dumps({"deal_id": deal["id"], "quantity": 1}))

    inside = _raw_tap(the_app_without_its_door(app), shopper, body, content_type)
    assert inside.status_code in (400, 415), inside.get_json()
    with Reached(app) as reached:
        at_the_door = _raw_tap(app.wsgi_app, shopper, body, content_type)
    assert at_the_door.status_code == inside.status_code, at_the_door.get_json()
    assert at_the_door.get_json() == inside.get_json()
    assert reached.count == 1


def test_a_chunked_body_is_read_by_the_app_only(app, client, bd, merchant):
    """With Transfer-Encoding the app (werkzeug) reads the whole stream, whatever a
    Content-Length beside it says: the door reads nothing, and the app answers."""
    deal, shopper, _ = refusal_kind("sold_out", app, client, bd, merchant)
    assert buy(client, shopper, deal["id"]).status_code == 409  # caches warm
    head = b'{"deal_id": %d, "quantity": 1}' % deal["id"]
    for body, status in ((head, 409), (head + b" trailing", 400)):
        with Reached(app) as reached:
            answer = Client(app.wsgi_app).post(
                "/api/v1/orders",
                data=body,
                headers={**shopper.headers, "Content-Type": "application/json"},
                environ_overrides={
                    "CONTENT_LENGTH": str(len(head)),
                    "HTTP_TRANSFER_ENCODING": "chunked",
                    "wsgi.input_terminated": True,
                },
            )
        assert answer.status_code == status, answer.get_json()
        assert reached.count == 1


@pytest.mark.parametrize("key", ["tap-{user_id}", "tap-{token_id}", "tap-{nothing}"])
def test_a_repeat_is_its_order_whatever_its_key_spells(app, client, bd, merchant, key):
    """An Idempotency-Key is the client's text: braces in it are not placeholders of the
    screen's Redis read, so the repeat of a purchase made with it still finds its order
    after the sell-out (at the door and inside)."""
    deal = flash_deal(app, client, bd, merchant, stock=1)
    shopper = quick_shopper(app)
    first = buy(client, shopper, deal["id"], key=key)
    assert first.status_code == 201, first.get_json()

    for wsgi in (the_app_without_its_door(app), app.wsgi_app):
        again = tap(wsgi, shopper, deal["id"], key=key)
        assert again.status_code == 200, (wsgi, again.get_json())
        assert again.get_json()["order"]["id"] == first.get_json()["order"]["id"]
