"""The general manager's administration pages (web/staff/admin.py): distribution's
settings and tiers (the API reads what the page saved), staff accounts (created with an
initial password to change, disabled and enabled, roles changed, never one's own), and
the scheduled jobs' health as ``/ops/jobs`` serves it. Each change is audited."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.jobs.schedule import SCHEDULE
from tests.factories import login_password, make_user, staff
from tests.web.test_staff_cs_roles import as_role, page_csrf_token

NEW_PASSWORD = "a-first-password-1"


def manager(app, client) -> int:
    as_role(app, client, "admin")
    with app.app_context():
        return db.session.scalars(sa.select(User.id).where(User.username == "admin-5x")).one()


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": page_csrf_token(client), **data})


def audited(app, action: str) -> list[int | None]:
    with app.app_context():
        return list(
            db.session.scalars(sa.select(AuditEvent.actor_id).where(AuditEvent.action == action))
        )


def test_distribution_settings_and_tiers_are_saved_as_the_api_saves_them(app, client):
    admin = staff(app, client, Role.ADMIN)
    manager_id = manager(app, client)
    page = client.get("/staff/admin/distribution").get_data(as_text=True)
    assert 'value="permanent" selected' in page

    saved = post(
        client,
        "/staff/admin/distribution/settings",
        join_policy="application",
        binding_mode="time_limited",
        rebind_after_days="45",
        self_purchase_commission="true",
    )
    assert saved.status_code == 303
    settings = client.get("/api/v1/distribution/settings", headers=admin.headers).get_json()
    assert settings == {
        "join_policy": "application",
        "binding_mode": "time_limited",
        "rebind_after_days": 45,
        "self_purchase_commission": True,
    }
    bad = post(
        client,
        "/staff/admin/distribution/settings",
        join_policy="anyone",
        binding_mode="permanent",
        rebind_after_days="999",
    )
    assert bad.status_code == 422
    assert "可重新绑定的天数" in bad.get_data(as_text=True)
    assert manager_id in audited(app, "setting.changed")

    tier = post(
        client,
        "/staff/admin/distribution/tiers",
        slug="gold",
        name="金牌",
        level1_bonus="2.5",
        sort_order="10",
    )
    assert tier.status_code == 303
    tiers = client.get("/api/v1/distributor-tiers", headers=admin.headers).get_json()
    assert {"slug": "gold", "name": "金牌", "level1_bonus": 250, "sort_order": 10} in tiers
    assert "¥2.50" in client.get("/staff/admin/distribution").get_data(as_text=True)
    wrong = post(
        client, "/staff/admin/distribution/tiers", slug="Gold!", name="x", level1_bonus="1.234"
    )
    assert wrong.status_code == 422


def test_a_new_colleague_gets_an_account_that_must_change_its_password(app, client):
    manager_id = manager(app, client)
    created = post(
        client,
        "/staff/admin/staff",
        username="xiaoli",
        display_name="小李",
        password=NEW_PASSWORD,
        roles=["cs", "editor"],
    )
    assert created.status_code == 303
    listed = client.get("/staff/admin/staff?role=cs").get_data(as_text=True)
    assert "xiaoli" in listed and "还在用初始密码" in listed
    assert "xiaoli" not in client.get("/staff/admin/staff?role=bd").get_data(as_text=True)
    assert manager_id in audited(app, "user.created")

    taken = post(
        client, "/staff/admin/staff", username="xiaoli", password=NEW_PASSWORD, roles=["cs"]
    )
    assert taken.status_code == 409 and "这个用户名已经有人用了" in taken.get_data(as_text=True)
    no_role = post(client, "/staff/admin/staff", username="xiaowang", password=NEW_PASSWORD)
    assert no_role.status_code == 422 and "角色" in no_role.get_data(as_text=True)
    short = post(client, "/staff/admin/staff", username="xiaowang", password="short", roles=["bd"])
    assert short.status_code == 422

    other = app.test_client()
    token = login_password(other, "xiaoli", NEW_PASSWORD)
    me = other.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert sorted(me["roles"]) == ["cs", "editor"]


def test_disabling_an_account_ends_its_sessions_and_nobody_disables_themselves(app, client):
    user_id = make_user(app, Role.BD, username="leaving")
    other = app.test_client()
    token = login_password(other, "leaving")
    headers = {"Authorization": f"Bearer {token}"}
    manager_id = manager(app, client)

    disabled = post(client, f"/staff/admin/staff/{user_id}/disable", reason="离职")
    assert disabled.status_code == 303
    assert other.get("/api/v1/me", headers=headers).status_code == 401
    assert "已停用" in client.get("/staff/admin/staff?active=disabled").get_data(as_text=True)
    assert manager_id in audited(app, "user.suspended")
    enabled = post(client, f"/staff/admin/staff/{user_id}/enable", reason="回来了")
    assert enabled.status_code == 303
    assert other.get("/api/v1/me", headers=headers).status_code == 200

    roles = post(client, f"/staff/admin/staff/{user_id}/roles", roles=["cs"])
    assert roles.status_code == 303
    assert other.get("/api/v1/me", headers=headers).get_json()["roles"] == ["cs"]

    myself = post(client, f"/staff/admin/staff/{manager_id}/disable", reason="交接")
    assert myself.status_code == 409 and "不能在这里停用自己" in myself.get_data(as_text=True)
    demote = post(client, f"/staff/admin/staff/{manager_id}/roles", roles=["cs"])
    assert demote.status_code == 409
    shopper_id = make_user(app, Role.SHOPPER, username="notstaff")
    assert post(client, f"/staff/admin/staff/{shopper_id}/disable").status_code == 404


def test_the_jobs_page_lists_every_scheduled_job_with_its_health(app, client):
    manager(app, client)
    html = client.get("/staff/admin/jobs").get_data(as_text=True)
    for job in SCHEDULE:
        assert job.name in html
    assert "任务队列里失败的任务：0 个" in html
