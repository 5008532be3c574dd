"""Nobody suspends or restores their own account, and an admin cannot take the admin role
from themselves: a rule of the accounts service, whoever calls it (the console's admin
pages, the CLI with no actor)."""

from __future__ import annotations

import pytest

from marketplace.accounts import service
from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from tests.factories import make_user, serving


def test_ones_own_account_is_left_as_it_is(app):
    admin_id = make_user(app, Role.ADMIN, username="selfadmin")
    other_id = make_user(app, Role.CS, username="othercs")
    with serving(app):
        admin = db.session.get(User, admin_id)
        with pytest.raises(service.OwnAccountUnchanged):
            service.set_active(admin, False, actor_id=admin_id, reason="交接")
        with pytest.raises(service.OwnAccountUnchanged):
            service.set_roles(admin, [Role.CS], actor_id=admin_id)
        service.set_roles(admin, [Role.ADMIN, Role.CS], actor_id=admin_id)  # kept: allowed
        assert admin.is_active and admin.has_role(Role.ADMIN)

        other = db.session.get(User, other_id)
        assert service.set_active(other, False, actor_id=admin_id, reason="离职")
        assert service.set_active(admin, False, actor_id=None, reason="CLI")  # no actor
        db.session.commit()
        assert not db.session.get(User, admin_id).is_active
