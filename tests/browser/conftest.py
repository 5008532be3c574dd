"""The browser harness: a real server with the demo city, localstripe, and Debian's
chromium driven by Playwright at phone size.

One server per pytest-xdist worker (session-scoped fixtures are per worker): its own
SQLite file in the worker's temporary folder, its own free port, its own localstripe (the
suite's ``stripe_url``), the worker's Redis database. The demo data is ``flask seed``'s,
plus what the tests need that the seed does not have (a sold-out deal, a deal photo),
made through the same domain functions. localstripe also serves the stand-in Stripe.js at
``/js.stripe.com/v3/`` that the checkout page will load.

Every page a test opens is watched: a JavaScript console error, an uncaught exception, a
failed request or an asset answered with an error status fails the test (``page``);
a test that opens an error page on purpose says which URL (``browser_problems.expect``).
Chromium may reach 127.0.0.1 only: any other host is unresolvable, so a page that tried
to load something from the internet would fail its test.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import png
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from redis import Redis
from werkzeug.serving import make_server

from marketplace.core.db import db
from tests.conftest import build_app, unavailable
from tests.factories import Account, make_deal, put_live, quick_shopper

CHROMIUM = os.environ.get("LINLI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 375, "height": 812}
LARGE_PHONE = {"width": 414, "height": 896}
SOLD_OUT_TITLE = "浏览器测试 售罄双人餐"


@dataclass
class World:
    """The running server and what the tests look for in it."""

    url: str
    app: Flask
    popup_deal_id: int
    photo_deal_id: int
    sold_out_deal_id: int


def _photo() -> bytes:
    """A 640×480 PNG (a warm gradient), standing in for a shop's photo."""
    width, height = 640, 480
    rows = [
        [c for x in range(width) for c in (250, 120 + (x * 80) // width, 40 + (y * 60) // height)]
        for y in range(height)
    ]
    buffer = io.BytesIO()
    png.Writer(width, height, greyscale=False).write(buffer, rows)
    return buffer.getvalue()


def _furnish(app: Flask) -> dict[str, int]:
    """What the tests need beyond the seed: a photo on today's popup deal, and a deal whose
    only unit is held by a pending order (sold out, as checkout leaves it)."""
    from marketplace.accounts.models import User
    from marketplace.deals import catalog
    from marketplace.deals import service as deals
    from merchants.models import Merchant

    with app.test_request_context():
        popup = catalog.home()["popup"].deal
        editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
        deals.add_image(popup, _photo(), editor)
        db.session.commit()
        popup_id = popup.id
        shop = db.session.scalars(sa.select(Merchant).where(Merchant.name == "小肠旺老店")).one()
        shop_id = shop.id
        account = Account(editor.id, editor.username, None, "")
    client = app.test_client()
    sold_out = make_deal(client, account, shop_id, "small_set", title=SOLD_OUT_TITLE, stock=1)
    put_live(app, sold_out["id"])
    buyer = quick_shopper(app)
    order = client.post(
        "/api/v1/orders", json={"deal_id": sold_out["id"], "quantity": 1}, headers=buyer.headers
    )
    assert order.status_code == 201, order.get_json()
    return {"popup": popup_id, "sold_out": sold_out["id"]}


@pytest.fixture(scope="session")
def world(redis_url: str, stripe_url: str, tmp_path_factory) -> Iterator[World]:
    instance = tmp_path_factory.mktemp("browser-instance")
    app = build_app(
        f"sqlite:///{instance / 'browser.sqlite3'}",
        redis_url,
        str(instance),
        LINLI_STRIPE_API_BASE=stripe_url,
        LINLI_LOG_LEVEL="WARNING",
    )
    Redis.from_url(redis_url).flushdb()
    with app.app_context():
        upgrade()
    seeded = app.test_cli_runner().invoke(args=["seed"])
    assert seeded.exit_code == 0 and "seeded demo orders: 6" in seeded.output, seeded.output
    made = _furnish(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield World(
        url=f"http://127.0.0.1:{server.server_port}",
        app=app,
        popup_deal_id=made["popup"],
        photo_deal_id=made["popup"],
        sold_out_deal_id=made["sold_out"],
    )
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency
        unavailable("playwright", exc)
    if not os.path.exists(CHROMIUM):
        unavailable("chromium", "not installed: apt-get install chromium fonts-noto-cjk")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                ],
            )
        except Error as exc:
            unavailable("chromium", exc)
        yield launched
        launched.close()


@dataclass
class Problems:
    """What went wrong in the browser while a test ran; expected error pages excepted."""

    found: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def expect(self, url_part: str) -> None:
        """This test opens ``url_part`` knowing it answers an error status."""
        self.expected.append(url_part)

    def _is_expected(self, text: str) -> bool:
        return any(part in text for part in self.expected)

    def console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        # Chromium reports an error status of the page itself as a console error too.
        if "Failed to load resource" in message.text and self._is_expected(where):
            return
        self.found.append(f"console error: {message.text} ({where})")

    def failed(self, request: Any) -> None:
        # A navigation the page itself replaced (a second tap while the first form post is
        # under way) is aborted by the browser: expected when the test says so.
        if request.failure == "net::ERR_ABORTED" and self._is_expected(request.url):
            return
        # Anything a page was still loading when the test went on to the next page (the
        # tab's icon after the load event, a deferred script, a deal's photo further down,
        # the part htmx was fetching, like the deal page's reviews) is cancelled by the
        # browser on leaving: ERR_ABORTED, not a broken part. A missing or failing part
        # answers 4xx/5xx, which ``response`` below reports, and a refused connection is
        # not ERR_ABORTED. Only a page itself (a document) cut off is reported.
        if request.failure == "net::ERR_ABORTED" and request.resource_type != "document":
            return
        self.found.append(f"failed: {request.url} ({request.failure})")

    def response(self, response: Any) -> None:
        if response.status >= 400 and not self._is_expected(response.url):
            self.found.append(f"HTTP {response.status}: {response.url}")


def loaded_size(image: Any) -> list[int]:
    """An <img>'s natural [width, height] once the browser has loaded it (a test reads
    the page as soon as its text is there; an image can still be on its way)."""
    image.scroll_into_view_if_needed()
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    return image.evaluate("img => [img.naturalWidth, img.naturalHeight]")


@pytest.fixture
def browser_problems() -> Problems:
    return Problems()


def new_context(browser: Any, viewport: dict[str, int] = PHONE, **options: Any) -> Any:
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=options.pop("device_scale_factor", 1),
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **options,
    )
    context.set_default_timeout(10_000)  # a page of ours answers in milliseconds
    return context


def watch(page: Any, problems: Problems) -> Any:
    page.on("console", problems.console)
    page.on("pageerror", lambda error: problems.found.append(f"uncaught: {error}"))
    page.on("requestfailed", problems.failed)
    page.on("response", problems.response)
    return page


@pytest.fixture
def page(browser: Any, world: World, browser_problems: Problems, redis_url: str) -> Iterator[Any]:
    """A fresh phone-sized browser tab (375×812); the test fails on any browser problem."""
    context = new_context(browser, base_url=world.url)
    tab = watch(context.new_page(), browser_problems)
    yield tab
    context.close()
    # Like the app fixture's reset: the next test of this worker starts with empty Redis.
    Redis.from_url(redis_url).flushdb()
    assert browser_problems.found == []


# -- shoppers in the browser -------------------------------------------------------------------


def log_in_with_code(page: Any, world: World, phone: str) -> None:
    """On the login page: ask for a code, read it from the SMS outbox (the memory backend,
    as a shopper reads their phone), type it and log in."""
    from tests.factories import last_code

    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_text("验证码已发送到").wait_for()
    page.get_by_label("验证码").fill(last_code(world.app.extensions["linli.sms"], phone))
    # until the page it leads to has loaded: a test reads it at once (is_visible does not
    # wait), and on a busy machine the new page's URL can be there before its content
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()


def sign_in_as(context: Any, world: World, account: Any) -> None:
    """Give the browser a page session holding ``account``'s token, as the login page
    would leave it (a test about something else need not type a code again)."""
    from marketplace.web.session import TOKEN_KEY

    app = world.app
    value = app.session_interface.get_signing_serializer(app).dumps({TOKEN_KEY: account.token})
    context.add_cookies(
        [{"name": app.config["SESSION_COOKIE_NAME"], "value": value, "url": world.url}]
    )


def share_link(world: World, deal_id: int | None) -> tuple[int, str]:
    """A share link of one of the seed's distributors (王哥) to ``deal_id``: its
    distributor's id and its code."""
    from marketplace.accounts.models import User
    from marketplace.distribution import links
    from marketplace.distribution.distributors import distributor_of

    with world.app.test_request_context():
        user = db.session.scalars(sa.select(User).where(User.phone == "13700000002")).one()
        distributor = distributor_of(user)
        link = links.create_link(distributor, deal_id)
        db.session.commit()
        return distributor.id, link.code


def paid_order(world: World, account: Any, deal_id: int) -> dict[str, Any]:
    """``account`` bought one unit of ``deal_id`` and paid it (through the API and the
    payment server, as the pages do); the checkout as the API answered it, with the
    voucher codes."""
    from tests.factories import pay

    client = world.app.test_client()
    placed = client.post(
        "/api/v1/orders", json={"deal_id": deal_id, "quantity": 1}, headers=account.headers
    )
    assert placed.status_code == 201, placed.get_json()
    checkout = placed.get_json()
    pay(world.app, checkout, via="reconcile")
    vouchers = client.get("/api/v1/vouchers", headers=account.headers).get_json()["items"]
    checkout["codes"] = [v["code"] for v in vouchers if v["order_id"] == checkout["order"]["id"]]
    return checkout
