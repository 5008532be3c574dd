"""The staff console at ``/staff``: business development, customer service, editors and
the general manager (roles ``bd``, ``cs``, ``editor``, ``admin``), desktop first and
usable on a tablet. Login and the forced change of an initial password come from
``web.console``; each page is guarded by the roles its API counterpart needs.

The menu is built from ``MENU``: each page module adds its entries with ``menu_item``
(the endpoint, the text key and the roles that see it), so a person sees only their
role's menu, and a page of another role answers with the 403 page (``page_login_required``
with the same roles). The landing page shows one panel per role the user holds
(``templates/staff/home/_<role>.html``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import STAFF_ROLES, Role, holds_role
from marketplace.web.console import add_password_login
from marketplace.web.session import page_login_required, signed_in

ROLES: tuple[Role, ...] = tuple(sorted(STAFF_ROLES))
bp = Blueprint("staff", __name__, url_prefix="/staff")
add_password_login(bp, roles=ROLES, home="staff.home")


@dataclass(frozen=True)
class MenuItem:
    endpoint: str  # "staff.<view>"
    text: str  # a key of texts/zh-CN.toml
    roles: tuple[Role, ...]  # who sees it (admin sees every staff entry)
    order: int  # place in the bar, left to right


MENU: list[MenuItem] = []


def menu_item(endpoint: str, text: str, *roles: Role, order: int) -> None:
    """Add an entry to the console's menu (page modules call it when imported)."""
    MENU.append(MenuItem(endpoint, text, roles, order))
    MENU.sort(key=lambda item: item.order)


@bp.app_template_global()
def staff_menu() -> list[dict]:
    """The menu entries the logged-in user may open, the current one marked."""
    principal = signed_in()
    if principal is None:
        return []
    return [
        {"endpoint": item.endpoint, "text": item.text, "current": _is_current(item)}
        for item in MENU
        if holds_role(principal.roles, *item.roles)
    ]


def _is_current(item: MenuItem) -> bool:
    return request.endpoint == item.endpoint


menu_item("staff.home", "console.home", *ROLES, order=0)


@bp.get("/")
@page_login_required(*ROLES)
def home():
    """The landing page: one panel per role the user holds (BD's overdue follow-ups,
    customer service's queues, the general manager's month)."""
    user = current_user()
    panels = [role.value for role in ROLES if role in user.roles]
    if Role.ADMIN in user.roles:
        panels = [role.value for role in ROLES]
    return render_template("staff/home.html", user=user, panels=panels)


# The pages (each adds its routes and menu entries to bp when imported): BD's pipeline,
# deals and the publishing calendar; customer service's queues; the general manager's
# money and administration.
from marketplace.web.staff import admin, bd, calendar, cs, deals, money  # noqa: E402, F401

# isort: split
from marketplace.web.staff import giveaway  # noqa: E402, F401 (the free-meal giveaway)

# isort: split
from marketplace.web.staff import care, reviews  # noqa: E402, F401 (reviews and customer care)
