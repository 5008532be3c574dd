"""Reading the bearer token of a request and requiring roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from marketplace.accounts import service
from marketplace.accounts.errors import PasswordChangeRequired
from marketplace.accounts.models import AuthToken, Role, User
from marketplace.core.api import doc, documents_errors
from marketplace.core.errors import AuthenticationRequired, PermissionDenied


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_session() -> AuthToken:
    """The token record of the request (``auth_required`` has checked it)."""
    return g.linli_session


def current_user() -> User:
    return g.linli_session.user


def auth_required(*roles: Role, allow_pending_password: bool = False) -> Callable:
    """Require a valid bearer token and, if ``roles`` are given, one of them.

    401 when the token is missing, unknown, revoked or expired; 403 when the user lacks the
    role. Admin passes any staff-role check. Accounts still on their initial password may
    only reach views that set ``allow_pending_password``."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise AuthenticationRequired("Send 'Authorization: Bearer <token>'.")
            session = service.authenticate(token)
            g.linli_session = session
            user = session.user
            if user.must_change_password and not allow_pending_password:
                raise PasswordChangeRequired()
            if roles and not user.has_role(*roles):
                raise PermissionDenied(
                    f"This needs one of the roles: {', '.join(r.value for r in roles)}."
                )
            return func(*args, **kwargs)

        who = ", ".join(r.value for r in roles) if roles else "any logged-in user"
        wrapper = doc(security=[{"bearerAuth": []}], description=f"Who: {who}.")(wrapper)
        return documents_errors(401, 403)(wrapper)

    return decorator
