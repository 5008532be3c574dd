"""HTTP routes of accounts: parse, authorise, call the service, commit, serialise."""

from __future__ import annotations

from flask import Response, current_app, request

from marketplace.accounts import principals, service
from marketplace.accounts.auth import (
    auth_required,
    current_principal,
    current_session,
    current_user,
    prefetched,
)
from marketplace.accounts.models import Role
from marketplace.accounts.schemas import (
    OtpRequestSchema,
    OtpSentSchema,
    PasswordChangeSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.distribution.binding import bind_customer

blp = Blueprint("accounts", __name__, description="Log in, tokens, who am I")


def _client() -> dict[str, str | None]:
    return {"ip": request.remote_addr, "user_agent": request.user_agent.string or None}


@blp.post("/auth/otp")
@blp.arguments(OtpRequestSchema)
@blp.response(202, OtpSentSchema)
@documents_errors(400, 429, 503)
def send_login_code(body: dict) -> dict:
    """Send a one-time login code by SMS

    The code is valid for 5 minutes and dies after 5 wrong tries. Sending is limited per
    number (1 a minute, 5 an hour) and per client IP."""
    challenge = service.request_login_code(body["phone"], ip=request.remote_addr)
    db.session.commit()
    return {
        "phone": challenge.phone,
        "expires_in": service.expires_in_seconds(challenge.expires_at),
        "resend_after": 60,
    }


@blp.post("/auth/token")
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenSchema)
@documents_errors(400, 401, 403, 429)
def create_token(body: dict) -> dict:
    """Log in: exchange phone + code or username + password for a bearer token

    Error codes: otp_invalid, otp_expired, otp_exhausted, invalid_credentials,
    account_disabled, password_login_required, rate_limited."""
    if "phone" in body:
        issued = service.login_with_code(body["phone"], body["code"], **_client())
        # A shopper arriving through a distributor's link is bound at login.
        bind_customer(issued.user, body.get("ref") or request.cookies.get("linli_ref"), "login")
    else:
        issued = service.login_with_password(body["username"], body["password"], **_client())
    db.session.commit()
    return {"token": issued.token, "expires_at": issued.record.expires_at, "user": issued.user}


@blp.delete("/auth/token")
@auth_required(allow_pending_password=True)
@blp.response(204)
def revoke_token() -> None:
    """Log out: revoke the token in use"""
    session = current_session()
    service.revoke_token(session, actor_id=session.user_id)
    db.session.commit()


ME_READS = principals.ME_READS
USER_SCHEMA = UserSchema()


@blp.get("/me")
@auth_required(allow_pending_password=True, reads=lambda: ME_READS)
@blp.response(200, UserSchema)
def me():
    """Who am I: profile and roles"""
    principal = current_principal()
    if principal.has_role(Role.MERCHANT_STAFF):
        # Their shop's link lives in merchants (above accounts), whose changes move no
        # generation here: read it each time.
        return current_user()
    (cached,), _ = prefetched()
    text = principals.profile(
        principal, cached, lambda: current_app.json.dumps(USER_SCHEMA.dump(current_user()))
    )
    return Response(text, mimetype="application/json")


@blp.post("/me/password")
@auth_required(allow_pending_password=True)
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@documents_errors(422)
def change_password(body: dict) -> None:
    """Change my password; every other session of mine is logged out"""
    service.change_own_password(
        current_user(),
        body["current_password"],
        body["new_password"],
        session=current_session(),
    )
    db.session.commit()
