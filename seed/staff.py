"""One account per staff role, with dev passwords documented in README.md."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts import service
from marketplace.accounts.models import Role, User
from marketplace.core.db import db

DEV_PASSWORD = "linli-dev-password"

STAFF = (
    ("admin", "李总 (总经理)", [Role.ADMIN]),
    ("bd", "王商务 (商务拓展)", [Role.BD]),
    ("bd2", "赵商务 (商务拓展)", [Role.BD]),
    ("cs", "陈客服 (客服)", [Role.CS]),
    ("editor", "刘编辑 (编辑)", [Role.EDITOR]),
)


def load() -> list[str]:
    created = []
    for username, display_name, roles in STAFF:
        if db.session.scalars(sa.select(User.id).where(User.username == username)).first():
            continue
        service.create_user_with_password(username, DEV_PASSWORD, roles, display_name=display_name)
        created.append(username)
    return created
