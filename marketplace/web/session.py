"""Page sessions: the login of the pages, backed by the same token records as the API.

Logging in on a page issues an ordinary bearer token (``accounts.service``: one
``AuthToken`` row, the same lifetime, the same audit) and keeps the token itself in the
signed session cookie (``linli_session``: HttpOnly, SameSite=Lax, Secure in production).
Every page request that needs to know who is asking hands that token to
``accounts.auth.sign_in``, exactly as the API hands it a bearer header: so revocation
(logout on a page or through the API, a password change, ``flask users disable``), expiry,
roles and the Redis-cached principal all work the same for both, and a page session is
ended by anything that ends the token.

- ``page_login_required(*roles)`` guards a page view: a visitor without a live session is
  sent to the login page and brought back (``next``, a path on this site only); a logged-in
  user without the role gets the 403 page.
- ``signed_in()`` (a template global, and for views that only show more to a logged-in
  visitor) is the session's principal or None, resolved once per request.
- ``begin`` and ``end`` start and finish a page session (the login and logout views).

The JSON API never reads this cookie (``security``: its blueprints are exempt from CSRF
because they authenticate only by header).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask import Response as FlaskResponse

from marketplace.accounts import service as accounts
from marketplace.accounts.auth import current_session, current_user, sign_in
from marketplace.accounts.errors import PasswordChangeRequired
from marketplace.accounts.models import Role, User
from marketplace.accounts.principals import Principal
from marketplace.core.db import db
from marketplace.core.errors import AuthenticationRequired
from marketplace.web.routing import is_htmx_request

TOKEN_KEY = "auth"  # noqa: S105 - the session key under which the token is kept
LOGIN_ENDPOINT = "shop.login"
# Flask-WTF keeps its CSRF secret under this session key: a new session gets a new one.
CSRF_KEY = "csrf_token"
_UNRESOLVED = object()


def safe_next(target: str | None, default: str = "/") -> str:
    """A path on this site to go back to, never an open redirect: absolute paths only,
    no scheme-relative ``//host``, no backslashes (browsers read ``/\\host`` as a host),
    no control characters."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 for ch in target)
        or len(target) > 500
    ):
        return default
    return target


def here() -> str:
    """The current page's path and query, as ``next`` carries it."""
    return request.full_path.rstrip("?") if request.query_string else request.path


def _own_endpoint(name: str) -> str | None:
    """``<blueprint>.<name>`` when the current page's blueprint has such a view (the
    merchant portal and the staff console each have their own login and password pages)."""
    endpoint = f"{request.blueprint}.{name}" if request.blueprint else None
    return endpoint if endpoint in current_app.view_functions else None


def login_url(next_path: str | None = None) -> str:
    """The login page of the current audience (the shop's for shoppers), coming back to
    ``next_path``."""
    target = safe_next(next_path, default="")
    query = f"?{urlencode({'next': target})}" if target and target != "/" else ""
    return url_for(_own_endpoint("login") or LOGIN_ENDPOINT) + query


def begin(issued: accounts.IssuedToken) -> None:
    """Start a page session with a freshly issued token (the caller commits). The old
    session's data goes, CSRF secret included, so nothing from before the login carries
    over; the shopper's chosen location stays."""
    kept = {k: session[k] for k in ("location",) if k in session}
    session.clear()
    session.update(kept)
    session[TOKEN_KEY] = issued.token
    session.permanent = True  # lives as long as a shopper's token (PERMANENT_SESSION_LIFETIME)
    g.linli_page_principal = _UNRESOLVED


def end() -> bool:
    """Log out: revoke the session's token (the same record a bearer token is, so the API
    refuses it from the next request too) and forget it. True if a live session ended."""
    token = session.get(TOKEN_KEY)
    ended = False
    if token:
        try:
            sign_in(token, allow_pending_password=True)
        except AuthenticationRequired:
            pass  # already revoked, expired or disabled: nothing left to end
        else:
            record = current_session()
            accounts.revoke_token(record, actor_id=record.user_id)
            db.session.commit()
            ended = True
    kept = {k: session[k] for k in ("location",) if k in session}
    session.clear()
    session.update(kept)
    g.linli_page_principal = None
    return ended


def _forget() -> None:
    session.pop(TOKEN_KEY, None)
    session.pop(CSRF_KEY, None)
    g.linli_page_principal = None


def signed_in() -> Principal | None:
    """The page session's principal, or None for a visitor (a token that no longer works
    is forgotten). Resolved once per request; no database read while the principal's
    Redis copy is current."""
    cached = g.get("linli_page_principal", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached
    token = session.get(TOKEN_KEY)
    principal = None
    if token:
        try:
            principal = sign_in(token, allow_pending_password=True)
        except AuthenticationRequired:
            _forget()
    g.linli_page_principal = principal
    return principal


def signed_in_user() -> User | None:
    """The logged-in ``User`` row (loaded on first use), or None."""
    return current_user() if signed_in() is not None else None


def _redirect(target: str) -> FlaskResponse:
    if is_htmx_request():  # a whole-page move, not a fragment swapped into the page
        response = FlaskResponse(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303 if request.method != "GET" else 302)


def _to_login() -> FlaskResponse:
    if is_htmx_request():  # back to the page the fragment was for, not to the fragment
        return _redirect(login_url(_same_site_path(request.headers.get("HX-Current-URL"))))
    return _redirect(login_url(here() if request.method == "GET" else _referrer_path()))


def page_login_required(*roles: Role, allow_pending_password: bool = False) -> Callable:
    """For page views: a visitor without a live page session is redirected to the login
    page and, once logged in, back here (a GET's own URL; for a form post, the page the
    form was on). With ``roles``, a logged-in user lacking them gets the 403 page
    (``sign_in``'s rule, the API's). A user who must still change an initial password is
    sent to the audience's password page where it has one (the 403 page otherwise)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = session.get(TOKEN_KEY)
            if not token:
                return _to_login()
            try:
                principal = sign_in(token, *roles, allow_pending_password=allow_pending_password)
            except AuthenticationRequired:
                _forget()
                return _to_login()
            except PasswordChangeRequired:
                change = _own_endpoint("password")
                if change is None:
                    raise
                return _redirect(url_for(change, next=here()))
            g.linli_page_principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _referrer_path() -> str | None:
    """The path of the page a form was posted from (same site only), to come back to."""
    return _same_site_path(request.referrer)


def _same_site_path(url: str | None) -> str | None:
    root = request.host_url
    if url and url.startswith(root):
        return safe_next("/" + url[len(root) :])
    return None


def init_app(app: Flask) -> None:
    hours = app.config["LINLI_SHOPPER_TOKEN_TTL_HOURS"]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    app.jinja_env.globals.update(signed_in=signed_in, signed_in_user=signed_in_user)
