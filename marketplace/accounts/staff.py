"""The staff accounts the general manager manages in the console: who works in Linli,
with which roles, and whether the account is on. (Creating, disabling and changing roles
are ``accounts.service``'s, as for ``flask users``.)"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from marketplace.accounts.models import STAFF_ROLES, User, UserRole
from marketplace.core.db import db


def staff_accounts(*, role: str | None = None, active: bool | None = None) -> sa.Select:
    """Accounts holding a staff role (or ``role``), by username; the caller paginates."""
    wanted = [role] if role else [r.value for r in STAFF_ROLES]
    query = (
        sa.select(User)
        .where(User.id.in_(sa.select(UserRole.user_id).where(UserRole.role.in_(wanted))))
        .options(selectinload(User.role_rows))
    )
    if active is not None:
        query = query.where(User.is_active.is_(active))
    return query.order_by(User.username, User.id)


def staff_account(user_id: int) -> User | None:
    """One staff account, or None if there is no such staff account."""
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_staff else None
