"""Who is asking: a request's principal from its bearer token, and requiring roles.

Authenticating reads Redis only while the token's cached principal is current
(``principals``), so a view that needs only who and which roles costs no database
statement for it; ``current_user()`` loads the ``User`` row when a view asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from marketplace.accounts import principals, service
from marketplace.accounts.errors import PasswordChangeRequired
from marketplace.accounts.models import AuthToken, Role, User
from marketplace.accounts.principals import Principal
from marketplace.core.api import doc, documents_errors
from marketplace.core.db import db
from marketplace.core.errors import AuthenticationRequired, PermissionDenied


def bearer_token() -> str | None:
    return bearer_of(request.headers.get("Authorization", ""))


def bearer_of(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def sign_in(
    token: str | None,
    *roles: Role,
    allow_pending_password: bool = False,
    reads: principals.Reads | None = None,
) -> Principal:
    """Make the request ``token``'s (a bearer token, or the token a session cookie holds)
    and check it may go on: 401 when the token is missing, unknown, revoked or expired;
    403 when the account is disabled, still on its initial password (unless
    ``allow_pending_password``) or lacks every one of ``roles`` (admin passes any staff
    role). The one way a request is authenticated.

    ``reads``: what the view will read from Redis, read in the same round trip as the
    principal (``prefetched()`` gives it to the view)."""
    if token is None:
        raise AuthenticationRequired("Send 'Authorization: Bearer <token>'.")
    principal, entries, values = service.authenticate_with(token, reads or principals.Reads())
    g.linli_principal = principal
    g.linli_prefetched = (entries, values)
    if principal.must_change_password and not allow_pending_password:
        raise PasswordChangeRequired()
    if roles and not principal.has_role(*roles):
        raise PermissionDenied(f"This needs one of the roles: {', '.join(r.value for r in roles)}.")
    return principal


def current_principal() -> Principal:
    """Who the request is (``auth_required`` has checked it): user id, roles, flags."""
    return g.linli_principal


def prefetched() -> tuple[list[dict[str, str] | None], list[bytes | None]]:
    """What the view's ``auth_required(reads=...)`` read with the principal: its tagged
    entries and its plain values, in order (None: missing, out of date, or no Redis)."""
    return g.linli_prefetched


def current_user() -> User:
    """The request's ``User`` row, loaded on first use (views that need only the id or
    the roles use ``current_principal()`` and load nothing)."""
    if "linli_user" not in g:
        g.linli_user = principals.user_of(g.linli_principal)
    return g.linli_user


def current_session() -> AuthToken:
    """The token record of the request, loaded on first use (logging out revokes it)."""
    return db.session.get(AuthToken, g.linli_principal.token_id)


def auth_required(
    *roles: Role,
    allow_pending_password: bool = False,
    reads: Callable[[], principals.Reads | None] | None = None,
) -> Callable:
    """Require a valid bearer token and, if ``roles`` are given, one of them (``sign_in``).
    Accounts still on their initial password may only reach views that set
    ``allow_pending_password``. ``reads``: called before signing in, it names what the
    view will read from Redis (``prefetched()``), so that is read in the same round trip
    as the principal."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sign_in(
                bearer_token(),
                *roles,
                allow_pending_password=allow_pending_password,
                reads=reads() if reads else None,
            )
            return func(*args, **kwargs)

        who = ", ".join(r.value for r in roles) if roles else "any logged-in user"
        wrapper = doc(security=[{"bearerAuth": []}], description=f"Who: {who}.")(wrapper)
        return documents_errors(401, 403)(wrapper)

    return decorator
