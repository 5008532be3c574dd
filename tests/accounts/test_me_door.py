"""``GET /api/v1/me`` at the front door (``accounts.door``): a current profile copy is sent
before Flask, exactly as the view sends it; anything else is the view's."""

from __future__ import annotations

from werkzeug.test import Client

from marketplace.accounts import service
from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.core.frontdoor import FrontDoor
from tests.factories import live_merchant, portal_account, quick_shopper, serving, staff
from tests.orders.test_front_door import Reached


def get_me(wsgi, token: str | None, request_id: str = "req-me"):
    headers = {"X-Request-ID": request_id}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Client(wsgi).get("/api/v1/me", headers=headers)


def behind_the_door(app):
    assert isinstance(app.wsgi_app, FrontDoor)
    return app.wsgi_app.inner


def test_a_current_profile_is_sent_at_the_door_as_the_view_sends_it(app, client):
    shopper = quick_shopper(app)
    editor = staff(app, client, Role.EDITOR)
    for who in (shopper, editor):
        first = get_me(app.wsgi_app, who.token)  # the view stores the copy
        assert first.status_code == 200

        with Reached(app) as reached:
            at_the_door = get_me(app.wsgi_app, who.token)
        inside = get_me(behind_the_door(app), who.token)

        assert reached.count == 0
        assert at_the_door.status_code == inside.status_code == 200
        assert at_the_door.get_data() == inside.get_data() == first.get_data()
        names = {n for n, _ in inside.headers} | {n for n, _ in at_the_door.headers}
        for name in names:
            assert at_the_door.headers.get(name) == inside.headers.get(name), name
        assert at_the_door.get_json()["id"] == who.id


def test_changes_revocation_and_shop_staff_go_to_the_view(app, client):
    shopper = quick_shopper(app)
    assert get_me(app.wsgi_app, shopper.token).status_code == 200
    with serving(app):  # a change of name makes the copy stale at once
        db.session.get(User, shopper.id).display_name = "小李"
        db.session.commit()
    with Reached(app) as reached:
        renamed = get_me(app.wsgi_app, shopper.token)
    assert reached.count == 1 and renamed.get_json()["display_name"] == "小李"

    with serving(app):
        assert service.set_active(
            db.session.get(User, shopper.id), False, actor_id=None, reason="刷单"
        )
        db.session.commit()
    assert get_me(app.wsgi_app, shopper.token).get_json()["error"]["code"] == "account_disabled"

    bd = staff(app, client, Role.BD)
    clerk = portal_account(app, client, bd, live_merchant(client, bd)["id"], "clerk")
    for _ in range(2):  # their shop link is read from the database every time
        with Reached(app) as reached:
            assert get_me(app.wsgi_app, clerk.token).status_code == 200
        assert reached.count == 1

    with Reached(app) as reached:
        assert get_me(app.wsgi_app, None).status_code == 401
        assert get_me(app.wsgi_app, "lnl_unknown").status_code == 401
    assert reached.count == 2
