"""Cookies, CSRF and the security headers of the pages.

- The Flask session cookie (``linli_session``) is HttpOnly, SameSite=Lax and, in
  production, Secure. Today it carries the CSRF secret and a shopper's chosen location;
  the page login will put in it only the id of a session record shared with bearer tokens
  (docs/web.md), so logout and revocation end both.
- CSRF (Flask-WTF): every POST, PUT, PATCH and DELETE to a page needs the token, from the
  form's ``csrf_token`` field or, for htmx, the ``X-CSRFToken`` header that the base
  template sets on ``<body hx-headers>``. The JSON API's blueprints (flask-smorest's) are
  exempt: they authenticate with a bearer token in a header, which a forged cross-site
  request cannot send. They never read the session cookie: machine requests get a null
  session (``PageSessions``), which also spares them verifying and re-signing it.
- Pages get a Content-Security-Policy that allows scripts from our own origin and the
  payment provider's Stripe.js origin only (no inline script or style), no framing, no
  MIME sniffing and a same-origin referrer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import flask_smorest
from flask import Flask, Request, Response, current_app
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from marketplace.web.routing import MACHINE_PREFIXES, is_page_request

csrf = CSRFProtect()
STRIPE_JS = "https://js.stripe.com/v3/"


def stripe_js_url() -> str:
    """Where the checkout page loads Stripe.js from: ``LINLI_STRIPE_JS_URL``, else Stripe's
    own for the real API, else the stand-in that localstripe serves on its own port."""
    configured = current_app.config["LINLI_STRIPE_JS_URL"]
    if configured:
        return configured
    base = current_app.config["LINLI_STRIPE_API_BASE"].rstrip("/")
    if urlsplit(base).hostname == "api.stripe.com":
        return STRIPE_JS
    return f"{base}/js.stripe.com/v3/"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy() -> str:
    stripe_js = _origin(stripe_js_url())
    stripe_api = _origin(current_app.config["LINLI_STRIPE_API_BASE"])
    connect = " ".join(dict.fromkeys(["'self'", stripe_api]))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {stripe_js}",
            "style-src 'self'",
            # WeUI draws its icons as data: SVGs
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            f"frame-src {stripe_js}",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'self'",
            "object-src 'none'",
        ]
    )


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if is_page_request():
        response.headers["Content-Security-Policy"] = content_security_policy()
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "geolocation=(self), camera=(self), microphone=()"
    return response


class PageSessions(SecureCookieSessionInterface):
    """The cookie session is the pages': a machine request (the JSON API, images, the
    probes) gets Flask's null session, so its cookie is never verified nor written back.
    Such a request authenticates by header only; one that tried to write the session would
    fail loudly rather than start reading a cookie (see the module's docstring)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(MACHINE_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = PageSessions()
    app.config["SESSION_COOKIE_NAME"] = "linli_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.config["LINLI_ENV"] == "production"
    # A page left open in WeChat for hours must still submit: the token lives as long as
    # the session that holds its secret.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    for blueprint in app.blueprints.values():
        if isinstance(blueprint, flask_smorest.Blueprint):
            csrf.exempt(blueprint)
    app.after_request(_headers)
