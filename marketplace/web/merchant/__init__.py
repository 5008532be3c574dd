"""The merchant portal at ``/merchant``: owners and clerks of one shop (role
``merchant_staff``), mobile first for the clerk at the counter, comfortable on a desktop
for the owner. Login and the forced change of an initial password come from
``web.console``; each page calls the merchants', vouchers' and settlement domains for the
caller's own shop only."""

from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.web.console import add_password_login
from marketplace.web.session import page_login_required

ROLES = (Role.MERCHANT_STAFF,)
bp = Blueprint("merchant", __name__, url_prefix="/merchant")
add_password_login(bp, roles=ROLES, home="merchant.home")


@bp.get("/")
@page_login_required(*ROLES)
def home():
    return render_template("merchant/home.html", user=current_user())
