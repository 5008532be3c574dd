"""Password login for the people who work in Linli: the merchant portal (``/merchant``,
owners and clerks) and the staff console (``/staff``, BD, CS, editors, the general
manager). Shoppers log in by phone and code (``shop.login``); everyone else has a
username and a password that BD or an admin created.

``add_password_login(bp, roles=..., home=...)`` gives a blueprint its own ``login``,
``log_in``, ``log_out`` and ``password`` views, on the same domain calls as
``POST /api/v1/auth/token`` and ``POST /api/v1/me/password``:

- the token issued is kept in the page session exactly as a shopper's (``web.session``),
  so revoking it anywhere ends the page session too;
- an account without one of the audience's roles is refused on the login form (its new
  token revoked at once): a clerk cannot open the staff console, nor BD the portal;
- an account created with an initial password must change it before anything else:
  ``page_login_required`` sends it to ``<bp>.password`` and back;
- a refusal (wrong password, disabled account, too many attempts) stays on the form with
  the API's status and its sentence.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse

from marketplace.accounts import service as accounts
from marketplace.accounts.auth import current_session, current_user
from marketplace.accounts.models import Role, holds_role
from marketplace.core.db import db
from marketplace.core.errors import DomainError, PermissionDenied, RateLimited
from marketplace.web import session as page_session
from marketplace.web.texts import error_sentence, t

LAYOUT = "console/base.html"


class WrongAudience(PermissionDenied):
    code = "wrong_audience"
    message = "This account cannot log in here."


def add_password_login(bp: Blueprint, *, roles: tuple[Role, ...], home: str) -> None:
    """Register ``/login`` (GET form, POST log in), ``/logout`` (POST) and ``/password``
    (GET form, POST change) on ``bp``; ``home`` is the endpoint a login lands on."""
    audience = bp.name

    @bp.context_processor
    def audience_globals() -> dict[str, str]:
        # for console/base.html: whose frame (texts console.<audience>) and its home page
        return {"audience": audience, "audience_home": home}

    def context(**extra: Any) -> dict[str, Any]:
        return {
            "username": request.form.get("username", "").strip()[:40],
            "next": page_session.safe_next(request.values.get("next"), default=""),
            "problem": None,
            "field_problems": {},
            "min_password_length": accounts.PASSWORD_MIN_LENGTH,
            **extra,
        }

    def refused(template: str, error: DomainError, **extra: Any) -> FlaskResponse:
        if isinstance(error, RateLimited):
            problem = t("console.too_many_attempts", minutes=max(1, -(-error.retry_after // 60)))
        else:
            problem = error_sentence(error.code, error.status)
        fields = {
            name: t("console.password_too_short", length=accounts.PASSWORD_MIN_LENGTH)
            for name in (error.fields or {})
            if name == "new_password"
        }
        html = render_template(
            template, **context(problem=None if fields else problem, field_problems=fields, **extra)
        )
        response = FlaskResponse(html, status=error.status, mimetype="text/html")
        if "Retry-After" in error.headers:
            response.headers["Retry-After"] = error.headers["Retry-After"]
        return response

    def login():
        """The login form, or straight on for someone already logged in here."""
        principal = page_session.signed_in()
        if principal is not None and holds_role(principal.roles, *roles):
            return redirect(page_session.safe_next(request.args.get("next"), url_for(home)))
        return render_template("console/login.html", **context())

    def log_in():
        try:
            issued = accounts.login_with_password(
                request.form.get("username", ""),
                request.form.get("password", ""),
                ip=request.remote_addr,
                user_agent=request.user_agent.string or None,
            )
            if not issued.user.has_role(*roles):
                # the password was right, but this is not their door: no session here
                accounts.revoke_token(
                    issued.record, actor_id=issued.user.id, reason="wrong audience"
                )
                db.session.commit()
                raise WrongAudience()
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            return refused("console/login.html", error)
        page_session.begin(issued)
        target = page_session.safe_next(request.form.get("next"), url_for(home))
        if issued.user.must_change_password:
            return redirect(url_for(f"{audience}.password", next=target), code=303)
        flash(t("console.welcome", name=issued.user.display_name or issued.user.username))
        return redirect(target, code=303)

    def log_out():
        if page_session.end():
            flash(t("login.logged_out"))
        return redirect(url_for(f"{audience}.login"), code=303)

    def password():
        """Change my password (forced after a login with an initial password)."""
        user = current_user()
        if request.method == "GET":
            return render_template(
                "console/password.html", **context(forced=user.must_change_password)
            )
        forced = user.must_change_password
        new = request.form.get("new_password", "")
        if new != request.form.get("repeat_password", ""):
            html = render_template(
                "console/password.html",
                **context(
                    forced=forced,
                    field_problems={"repeat_password": t("console.password_mismatch")},
                ),
            )
            return FlaskResponse(html, status=422, mimetype="text/html")
        try:
            accounts.change_own_password(
                user, request.form.get("current_password", ""), new, session=current_session()
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            return refused("console/password.html", error, forced=forced)
        flash(t("console.password_changed"))
        return redirect(page_session.safe_next(request.form.get("next"), url_for(home)), code=303)

    bp.add_url_rule("/login", "login", login, methods=["GET"])
    bp.add_url_rule("/login", "log_in", log_in, methods=["POST"])
    bp.add_url_rule("/logout", "log_out", log_out, methods=["POST"])
    bp.add_url_rule(
        "/password",
        "password",
        page_session.page_login_required(*roles, allow_pending_password=True)(password),
        methods=["GET", "POST"],
    )
