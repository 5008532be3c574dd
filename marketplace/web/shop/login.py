"""The shoppers' login by phone and one-time code, and logout.

The same domain calls as ``POST /api/v1/auth/otp`` and ``POST /api/v1/auth/token`` (the
API's own schemas parse the form): the code is sent and checked by ``accounts.service``,
a shopper who came through a share link is bound at login (``distribution.binding``),
and the token issued is kept in the session cookie (``web.session``). A refusal (a wrong
number, a wrong or expired code, the send limits) is shown on the login form itself,
with the API's status code and its sentence.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request

from marketplace.accounts import service as accounts
from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.accounts.schemas import OtpRequestSchema, TokenRequestSchema
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput, RateLimited
from marketplace.distribution.binding import bind_customer
from marketplace.web import session as page_session
from marketplace.web.shop.views import bp
from marketplace.web.texts import error_sentence, t

REF_COOKIE = "linli_ref"  # set by the share link (/s/{code}), read by the API alike
# The API's answer to a sent code (``resend_after``): one code a minute per number.
RESEND_AFTER_SECONDS = 60
FIELD_TEXTS = {"phone": "login.phone_invalid", "code": "login.code_format"}


def _form_context(**extra: Any) -> dict[str, Any]:
    return {
        "phone": request.form.get("phone", "").strip(),
        "next": page_session.safe_next(request.values.get("next")),
        "ref": (request.values.get("ref") or request.cookies.get(REF_COOKIE) or "")[:16],
        "countdown": 0,
        "problem": None,
        "field_problems": {},
        **extra,
    }


def _refused(error: DomainError, **context: Any) -> FlaskResponse:
    """The login form again, saying what went wrong (the API's status and headers)."""
    fields = {
        name: t(FIELD_TEXTS.get(name, "login.field_invalid"))
        for name in (error.fields or {})
        if not name.startswith("_")
    }
    problem = None if fields else error_sentence(error.code, error.status)
    countdown = 0
    if isinstance(error, RateLimited):
        problem = _wait_sentence(error.retry_after)
        if error.retry_after <= RESEND_AFTER_SECONDS:
            countdown = error.retry_after
    html = render_template(
        "shop/login.html",
        **_form_context(problem=problem, field_problems=fields, countdown=countdown, **context),
    )
    response = FlaskResponse(html, status=error.status, mimetype="text/html")
    for name, value in error.headers.items():
        if name == "Retry-After":
            response.headers[name] = value
    return response


def _wait_sentence(seconds: int) -> str:
    if seconds <= RESEND_AFTER_SECONDS:
        return t("login.wait_seconds", seconds=seconds)
    return t("login.wait_minutes", minutes=-(-seconds // 60))


def _load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


@bp.get("/login")
def login():
    """The login form (phone, then the code), or straight on for a logged-in shopper."""
    if page_session.signed_in() is not None:
        return redirect(page_session.safe_next(request.args.get("next")))
    return render_template("shop/login.html", **_form_context())


@bp.post("/login/code")
def send_code():
    """Send a login code to the number (``accounts.service.request_login_code``)."""
    try:
        body = _load(OtpRequestSchema(), {"phone": request.form.get("phone", "")})
        challenge = accounts.request_login_code(body["phone"], ip=request.remote_addr)
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _refused(error)
    flash(t("login.code_sent", phone=f"{challenge.phone[:3]}****{challenge.phone[-4:]}"))
    return render_template(
        "shop/login.html",
        **_form_context(phone=challenge.phone, countdown=RESEND_AFTER_SECONDS, code_sent=True),
    )


@bp.post("/login")
def log_in():
    """Exchange the code for a session; bound to the distributor whose link brought the
    shopper, as the API does at login."""
    form = {k: request.form.get(k, "").strip() for k in ("phone", "code")}
    ref = request.form.get("ref") or request.cookies.get(REF_COOKIE)
    try:
        body = _load(TokenRequestSchema(), {**form, **({"ref": ref} if ref else {})})
        issued = accounts.login_with_code(
            body["phone"],
            body["code"],
            ip=request.remote_addr,
            user_agent=request.user_agent.string or None,
        )
        bind_customer(issued.user, body.get("ref"), "login")
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _refused(error, code_sent=True)
    page_session.begin(issued)
    flash(t("login.welcome"))
    return redirect(page_session.safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def log_out():
    """End the page session: its token is revoked, for the pages and the API alike."""
    if page_session.end():
        flash(t("login.logged_out"))
    return redirect("/", code=303)


@bp.get("/me")
@page_session.page_login_required(Role.SHOPPER)
def me():
    """The shopper's own corner: orders, vouchers, customer service, logout."""
    return render_template("shop/me.html", user=current_user())
