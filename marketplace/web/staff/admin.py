"""The general manager's administration pages (role ``admin``): distribution's settings and
tiers (``PATCH /distribution/settings`` and ``PUT /distributor-tiers`` are admin's),
the staff accounts (what ``flask users`` does: ``accounts.service``), and the scheduled
jobs' health (what ``GET /ops/jobs`` serves: ``marketplace.jobs.health.status``).

Each action is the domain call the API (or the CLI) makes, audited there:
``distribution.settings.update_settings``, ``distributors.save_tier``,
``accounts.service.create_user_with_password`` (an initial password the new colleague must
change at first login), ``set_active``, ``set_roles``.
"""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, request, url_for

from marketplace.accounts import service as accounts
from marketplace.accounts import staff as staff_accounts
from marketplace.accounts.auth import current_user
from marketplace.accounts.models import STAFF_ROLES, Role
from marketplace.core.errors import InvalidInput, NotFound
from marketplace.core.fields import ReasonSchema
from marketplace.distribution import distributors, settings
from marketplace.distribution.schemas import SettingsSchema, TierSchema
from marketplace.jobs.health import status as jobs_status
from marketplace.web.routing import is_number, query_args
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import act, choice, load, page_of, render
from marketplace.web.texts import t

ADMIN = Role.ADMIN
ROLE_NAMES = sorted(r.value for r in STAFF_ROLES)

menu_item("staff.distribution_settings", "staff_admin.menu_distribution", ADMIN, order=70)
menu_item("staff.staff_accounts_page", "staff_admin.menu_accounts", ADMIN, order=71)
menu_item("staff.jobs", "staff_admin.menu_jobs", ADMIN, order=72)


# -- distribution settings and tiers -------------------------------------------------------


def _distribution_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    return render(
        "staff/admin/distribution.html",
        status=status,
        problem=problem,
        settings=settings.all_settings(),
        tiers=distributors.list_tiers(),
        form=request.form,
    )


@bp.get("/admin/distribution")
@page_login_required(ADMIN)
def distribution_settings():
    """The join policy, the binding mode and its rebinding window, self-purchase
    commission; the tiers with their level-1 bonus."""
    return _distribution_page()


@bp.post("/admin/distribution/settings")
@page_login_required(ADMIN)
def save_distribution_settings():
    def save() -> Any:
        form = request.form
        body = {
            "join_policy": form.get("join_policy", ""),
            "binding_mode": form.get("binding_mode", ""),
            "rebind_after_days": _integer(form.get("rebind_after_days", ""), "rebind_after_days"),
            "self_purchase_commission": form.get("self_purchase_commission") == "true",
        }
        return settings.update_settings(load(SettingsSchema(), body), current_user())

    act(save, _distribution_page)
    flash(t("staff_admin.settings_saved"))
    return redirect(url_for("staff.distribution_settings"), code=303)


@bp.post("/admin/distribution/tiers")
@page_login_required(ADMIN)
def save_tier():
    def save() -> Any:
        form = request.form
        body = {
            "slug": form.get("slug", "").strip(),
            "name": form.get("name", "").strip(),
            "level1_bonus": _fen(form.get("level1_bonus", ""), "level1_bonus"),
            "sort_order": _integer(form.get("sort_order", "0") or "0", "sort_order"),
        }
        return distributors.save_tier(load(TierSchema(), body), current_user())

    tier = act(save, _distribution_page)
    flash(t("staff_admin.tier_saved", name=tier.name))
    return redirect(url_for("staff.distribution_settings"), code=303)


def _integer(raw: str, field: str) -> int:
    raw = raw.strip()
    if not is_number(raw) or len(raw) > 9:
        raise InvalidInput(fields={field: ["Not a whole number."]})
    return int(raw)


def _fen(raw: str, field: str) -> int:
    """Yuan as typed ("2", "2.5", "2.50") to integer fen, exactly (no floats)."""
    raw = raw.strip() or "0"
    whole, _, cents = raw.partition(".")
    if not is_number(whole) or len(whole) > 7 or (cents and not is_number(cents)) or len(cents) > 2:
        raise InvalidInput(fields={field: ["Not an amount in yuan."]})
    return int(whole) * 100 + int(cents.ljust(2, "0") or 0)


# -- staff accounts ------------------------------------------------------------------------


def _accounts_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    role = choice("role", ROLE_NAMES)
    active = {"active": True, "disabled": False}.get(request.args.get("active", ""))
    return render(
        "staff/admin/accounts.html",
        status=status,
        problem=problem,
        result=page_of(staff_accounts.staff_accounts(role=role, active=active)),
        role=role,
        active=request.args.get("active", ""),
        roles=ROLE_NAMES,
        form=request.form,
        me=current_user(),
    )


@bp.get("/admin/staff")
@page_login_required(ADMIN)
def staff_accounts_page():
    """Who works in Linli: username, name, roles, last login, on or off; a new account."""
    return _accounts_page()


@bp.post("/admin/staff")
@page_login_required(ADMIN)
def create_staff_account():
    """A new colleague's account with an initial password they must change at first login
    (``create_user_with_password``, as ``flask users create``; audited)."""

    def create() -> Any:
        form = request.form
        roles = [r for r in form.getlist("roles") if r in ROLE_NAMES]
        return accounts.create_user_with_password(
            form.get("username", ""),
            form.get("password", ""),
            [Role(r) for r in roles],
            display_name=form.get("display_name", "").strip()[:60],
            actor_id=current_user().id,
            must_change_password=True,
        )

    user = act(create, _accounts_page)
    flash(t("staff_admin.account_created", username=user.username))
    return redirect(url_for("staff.staff_accounts_page"), code=303)


def _account(user_id: int):
    user = staff_accounts.staff_account(user_id)
    if user is None:
        raise NotFound("No such staff account.")
    return user


@bp.post("/admin/staff/<int:user_id>/<any(disable, enable):change>")
@page_login_required(ADMIN)
def set_staff_account_active(user_id: int, change: str):
    """Disable an account (every session of it refused from its next request) or enable
    it again, with a reason for the audit trail. Nobody disables themselves here."""

    def apply() -> Any:
        user = _account(user_id)
        reason = load(ReasonSchema(), {"reason": request.form.get("reason", "").strip()})
        return accounts.set_active(
            user, change == "enable", actor_id=current_user().id, reason=reason["reason"]
        )

    act(apply, _accounts_page)
    flash(t(f"staff_admin.account_{change}d"))
    return redirect(url_for("staff.staff_accounts_page", **query_args()), code=303)


@bp.post("/admin/staff/<int:user_id>/roles")
@page_login_required(ADMIN)
def set_staff_roles(user_id: int):
    def apply() -> Any:
        user = _account(user_id)
        roles = [Role(r) for r in request.form.getlist("roles") if r in ROLE_NAMES]
        accounts.set_roles(user, roles, actor_id=current_user().id)
        return user

    user = act(apply, _accounts_page)
    flash(t("staff_admin.roles_saved", username=user.username))
    return redirect(url_for("staff.staff_accounts_page"), code=303)


# -- scheduled jobs ------------------------------------------------------------------------


@bp.get("/admin/jobs")
@page_login_required(ADMIN)
def jobs():
    """Each scheduled job: schedule, next and last run, result, duration, recent failures,
    and the jobs in RQ's failed registry (what ``GET /api/v1/ops/jobs`` answers)."""
    return render("staff/admin/jobs.html", report=jobs_status())
