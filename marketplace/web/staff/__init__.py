"""The staff console at ``/staff``: business development, customer service, editors and
the general manager (roles ``bd``, ``cs``, ``editor``, ``admin``), desktop first and
usable on a tablet. Login and the forced change of an initial password come from
``web.console``; each page is guarded by the roles its API counterpart needs."""

from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import STAFF_ROLES, Role
from marketplace.web.console import add_password_login
from marketplace.web.session import page_login_required

ROLES: tuple[Role, ...] = tuple(sorted(STAFF_ROLES))
bp = Blueprint("staff", __name__, url_prefix="/staff")
add_password_login(bp, roles=ROLES, home="staff.home")


@bp.get("/")
@page_login_required(*ROLES)
def home():
    return render_template("staff/home.html", user=current_user())
