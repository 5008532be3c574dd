"""Role isolation of the staff console's customer-service and general-manager pages
(web/staff/cs.py, money.py, admin.py): each page opens for the roles its API routes take
(``auth_required(Role.CS)`` for CS's, ``Role.ADMIN`` for the money and administration
ones; the general manager holds every staff role) and is the 403 page for anyone else
logged in, a visitor being sent to the console's login. Every menu shows only its
role's entries. (The pages' own behaviour: test_staff_cs.py, test_staff_money.py,
test_staff_admin.py.)"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.web.session import TOKEN_KEY
from tests.factories import login, make_user, quick_shopper

CS_PAGES = [
    "/staff/cs/refunds",
    "/staff/cs/refunds?status=refunded",
    "/staff/cs/tickets",
    "/staff/cs/tickets?view=closed&kind=complaint",
    "/staff/cs/tickets/rows",
    "/staff/cs/vouchers/expired",
    "/staff/cs/moments",
    "/staff/cs/distributors",
]
MONEY_PAGES = [
    "/staff/money",
    "/staff/money?period=2026-10",
    "/staff/money/settlements",
    "/staff/money/reconciliation",
]
ADMIN_PAGES = ["/staff/admin/distribution", "/staff/admin/staff", "/staff/admin/jobs"]
# pages about one thing: the role is checked before the thing is looked for
CS_ITEMS = ["/staff/cs/tickets/1", "/staff/cs/moments/1/screenshot"]
MONEY_ITEMS = ["/staff/money/statements/1", "/staff/money/statements/1.csv"]
CS_ACTIONS = [
    "/staff/cs/refunds/1/approve",
    "/staff/cs/refunds/1/reject",
    "/staff/cs/tickets/1/replies",
    "/staff/cs/tickets/1/close",
    "/staff/cs/moments/1/review",
    "/staff/cs/distributors/1/approve",
    "/staff/cs/distributors/1/reject",
]
MONEY_ACTIONS = ["/staff/money/settlements", "/staff/money/statements/1/payout"]
ADMIN_ACTIONS = [
    "/staff/admin/distribution/settings",
    "/staff/admin/distribution/tiers",
    "/staff/admin/staff",
    "/staff/admin/staff/1/disable",
    "/staff/admin/staff/1/roles",
]


def as_role(app, client, who: str):
    """A page session for ``who``: a staff role, a shop's clerk or a shopper (the token in
    the session cookie, as a login leaves it)."""
    if who == "shopper":
        token = quick_shopper(app).token
    else:
        role = Role.MERCHANT_STAFF if who == "clerk" else Role(who)
        username = f"{who}-{len(who)}x"
        with app.app_context():
            known = db.session.scalars(sa.select(User.id).where(User.username == username)).first()
        if known is None:
            make_user(app, role, username=username)
        token = login(app, username)
    with client.session_transaction() as session:
        session[TOKEN_KEY] = token
    return client


def page_text(client, path: str) -> str:
    """The page at ``path`` as text, once it is known to be the page (200), so what a test
    says is *not* on it cannot pass on an error page or a redirect."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def page_csrf_token(client) -> str:
    """The session's CSRF token, as every page carries it for htmx (``hx-headers``)."""
    html = client.get("/deals").get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def forbidden(client, paths: list[str]) -> None:
    for path in paths:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.content_type, path


def forbidden_posts(client, paths: list[str]) -> None:
    token = page_csrf_token(client)
    for path in paths:
        response = client.post(path, data={"csrf_token": token, "note": "x", "reason": "x"})
        assert response.status_code == 403, path


@pytest.mark.parametrize("who", ["clerk", "shopper", "editor", "bd"])
def test_customer_service_pages_are_the_403_page_for_other_roles(app, client, who):
    as_role(app, client, who)
    forbidden(client, CS_PAGES + CS_ITEMS)
    forbidden_posts(client, CS_ACTIONS)


@pytest.mark.parametrize("who", ["clerk", "shopper", "editor", "bd", "cs"])
def test_money_and_administration_pages_are_the_403_page_for_all_but_the_manager(app, client, who):
    as_role(app, client, who)
    forbidden(client, MONEY_PAGES + MONEY_ITEMS + ADMIN_PAGES)
    forbidden_posts(client, MONEY_ACTIONS + ADMIN_ACTIONS)


def test_customer_service_opens_its_pages_and_sees_only_its_menu(app, client):
    as_role(app, client, "cs")
    for path in CS_PAGES:
        assert client.get(path).status_code == 200, path
    home = client.get("/staff/").get_data(as_text=True)
    for entry in ("退款", "工单", "过期未用", "朋友圈打卡", "分销员申请"):
        assert f">{entry}</a>" in home
    for entry in ("经营概览", "结算", "对账", "分销设置", "员工账号", "定时任务"):
        assert f">{entry}</a>" not in home
    assert "待处理退款" in home  # the landing panel
    assert "经营情况" not in home


def test_the_general_manager_opens_every_page_and_sees_every_menu(app, client, live_server):
    as_role(app, client, "admin")
    for path in CS_PAGES + MONEY_PAGES + ADMIN_PAGES:
        assert client.get(path).status_code == 200, path
    home = client.get("/staff/").get_data(as_text=True)
    for entry in ("退款", "工单", "经营概览", "结算", "对账", "分销设置", "员工账号", "定时任务"):
        assert f">{entry}</a>" in home
    assert "待处理退款" in home and "经营情况" in home  # both landing panels


@pytest.mark.parametrize("path", CS_PAGES[:1] + MONEY_PAGES[:1] + ADMIN_PAGES[:1])
def test_a_visitor_is_sent_to_the_console_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=")
