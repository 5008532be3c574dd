"""The pages' foundation over HTTP: headers, CSRF, error pages in HTML beside the API's
JSON, the assets."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import flask_smorest
import pytest

from marketplace.core.errors import PermissionDenied, RateLimited
from marketplace.web import security
from marketplace.web.assets import STATIC_DIR
from tests.conftest import build_app

TEMPLATES = Path(security.__file__).resolve().parent / "templates"


def csrf_token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_pages_carry_the_security_headers_and_the_api_does_not_need_them(app, client):
    page = client.get("/deals")
    api = client.get("/api/v1/deals")

    csp = page.headers["Content-Security-Policy"]
    stripe = app.config["LINLI_STRIPE_API_BASE"]  # the suite's localstripe
    assert f"script-src 'self' {stripe};" in csp
    assert f"frame-src {stripe};" in csp and f"connect-src 'self' {stripe};" in csp
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in api.headers  # Swagger UI and JSON: not pages
    assert api.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("api_base", "configured", "expected"),
    [
        ("https://api.stripe.com", "", "https://js.stripe.com/v3/"),
        ("http://127.0.0.1:8420", "", "http://127.0.0.1:8420/js.stripe.com/v3/"),
        ("http://127.0.0.1:8420", "https://cdn.example/v3/", "https://cdn.example/v3/"),
    ],
)
def test_the_payment_script_comes_from_stripe_or_the_local_stand_in(
    app, api_base, configured, expected
):
    original = app.config["LINLI_STRIPE_API_BASE"]
    app.config.update(LINLI_STRIPE_API_BASE=api_base, LINLI_STRIPE_JS_URL=configured)
    try:
        with app.test_request_context():
            url, csp = security.stripe_js_url(), security.content_security_policy()
    finally:
        app.config.update(LINLI_STRIPE_API_BASE=original, LINLI_STRIPE_JS_URL="")

    origin = "/".join(expected.split("/")[:3])
    assert url == expected
    assert f"script-src 'self' {origin};" in csp and f"frame-src {origin};" in csp


def test_the_session_cookie_is_httponly_and_lax(client):
    client.get("/")

    cookie = client.get_cookie("linli_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_a_page_form_without_its_token_is_refused(client):
    refused = client.post("/location", data={"use": "centre"})
    wrong = client.post("/location", data={"use": "centre", "csrf_token": "forged"})

    for response in (refused, wrong):
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        assert 'data-code="csrf_failed"' in response.get_data(as_text=True)
    token = csrf_token_of(client.get("/").get_data(as_text=True))
    accepted = client.post("/location", data={"use": "centre", "csrf_token": token})
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/"
    header = client.post("/location", data={"use": "centre"}, headers={"X-CSRFToken": token})
    assert header.status_code == 303  # how htmx sends it


def test_the_json_api_is_exempt_and_the_pages_are_not(app, client, sms):
    client.get("/")  # a session cookie is there; the API ignores it
    sent = client.post("/api/v1/auth/otp", json={"phone": "13812345678"})

    assert sent.status_code == 202
    exempt = app.extensions["csrf"]._exempt_blueprints
    for name, blueprint in app.blueprints.items():
        assert (blueprint in exempt) == isinstance(blueprint, flask_smorest.Blueprint), name
    assert app.blueprints["shop"] not in exempt


def test_the_location_form(app, client):
    token = csrf_token_of(client.get("/").get_data(as_text=True))

    def choose(**form):
        return client.post("/location", data={"csrf_token": token, **form})

    assert (
        choose(use="device", lat="27.3583", lng="103.7172", next="/deals").headers["Location"]
        == "/deals"
    )
    assert "按你的位置计算距离" in client.get("/").get_data(as_text=True)
    assert choose(use="device", lat="39.9", lng="116.4").status_code == 303  # Beijing
    home = client.get("/").get_data(as_text=True)
    assert "你的位置不在昭通附近" in home and "按市中心计算距离" in home
    assert choose(use="centre", next="//evil.example/").headers["Location"] == "/"
    assert choose(use="device", lat="91", lng="0").status_code == 422
    assert choose(use="device").status_code == 422


def test_error_pages_are_html_for_pages_and_json_for_the_api(client):
    page = client.get("/no-such-page")
    api = client.get("/api/v1/no-such-thing")
    image = client.get("/media/deals/1/none.png")

    assert page.status_code == 404 and page.mimetype == "text/html"
    body = page.get_data(as_text=True)
    assert "页面不存在" in body and "你要找的页面不存在或已经删除。" in body
    assert page.headers["X-Request-ID"] in body
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    assert image.status_code == 404 and image.is_json


def test_refusals_and_crashes_as_pages(redis_url, tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'x.sqlite3'}", redis_url, str(tmp_path))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/test-only/limited")
    def limited():
        raise RateLimited(retry_after=42)

    @app.get("/test-only/forbidden")
    def forbidden():
        raise PermissionDenied()

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    client = app.test_client()
    slow_down = client.get("/test-only/limited")
    no = client.get("/test-only/forbidden")
    crash = client.get("/test-only/boom")

    assert slow_down.status_code == 429 and slow_down.headers["Retry-After"] == "42"
    assert "操作太频繁了，请稍后再试。" in slow_down.get_data(as_text=True)
    assert "请 42 秒后再试。" in slow_down.get_data(as_text=True)
    assert no.status_code == 403 and "没有权限" in no.get_data(as_text=True)
    assert crash.status_code == 500 and crash.mimetype == "text/html"
    assert "服务器开小差了" in crash.get_data(as_text=True)
    assert "hunter2" not in crash.get_data(as_text=True)


def test_bad_list_arguments_are_pages_too(client):
    bad_sort = client.get("/deals?sort=cheapest")
    no_category = client.get("/deals?category=no-such")

    assert bad_sort.status_code == 422 and "有些内容填写得不对" in bad_sort.get_data(as_text=True)
    assert no_category.status_code == 404 and "没有这个分类。" in no_category.get_data(as_text=True)


def test_assets_are_versioned_cached_and_gzipped(client):
    html = client.get("/").get_data(as_text=True)
    url = re.search(r'href="(/assets/vendor/weui/weui\.min\.css\?v=\w+)"', html).group(1)
    source = (STATIC_DIR / "vendor/weui/weui.min.css").read_bytes()

    zipped = client.get(url, headers={"Accept-Encoding": "gzip, br"})
    plain = client.get(url)
    again = client.get(url, headers={"If-None-Match": plain.headers["ETag"].strip('"')})

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == source and len(zipped.data) < len(source) / 5
    assert plain.data == source and "Content-Encoding" not in plain.headers
    assert "immutable" in plain.headers["Cache-Control"] and "Accept-Encoding" in plain.vary
    assert plain.mimetype == "text/css"
    assert client.get(url, headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    assert again.status_code in (200, 304)
    assert client.get("/assets/../texts/zh-CN.toml").status_code == 404
    assert client.get("/assets/vendor/nothing.js").status_code == 404


def test_vendored_files_match_their_manifest():
    manifest = (STATIC_DIR / "vendor" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"`([\w/.-]+\.(?:css|js))` \(.*?\| `([0-9a-f]{64})`", manifest)

    assert len(rows) == 3
    for path, digest in rows:
        assert hashlib.sha256((STATIC_DIR / "vendor" / path).read_bytes()).hexdigest() == digest
    for licence in ("weui/LICENSE.txt", "htmx/LICENSE", "jsqr/LICENSE"):
        assert (STATIC_DIR / "vendor" / licence).stat().st_size > 100


def test_templates_hold_no_inline_script_style_or_handler():
    """The CSP forbids them; a template that had one would break in the browser."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html):
            offenders.append((path.name, "inline <script>"))
        if re.search(r"<style\b|\sstyle=", html):
            offenders.append((path.name, "inline style"))
        if re.search(r"\son[a-z]+=", html):
            offenders.append((path.name, "on* handler"))
    assert offenders == []
