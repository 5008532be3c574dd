"""The distribution access rules as plain functions on a distributor made through the
domain functions."""

from __future__ import annotations

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.distribution import access, distributors
from marketplace.distribution.models import ShareLink
from tests.factories import built_user


def test_a_distributor_sees_their_own_dashboard_and_links_only(app):
    with app.app_context():
        alice = built_user(Role.SHOPPER, save=True, phone="13800000001")
        bob = built_user(Role.SHOPPER, save=True, phone="13800000002")
        mine = distributors.join(alice)
        theirs = distributors.join(bob)
        link = ShareLink(code="abc12345", distributor_id=mine.id)

        assert access.can_see_dashboard(alice, mine)
        assert not access.can_see_dashboard(alice, theirs)
        assert access.owns_link(alice, link)
        assert not access.owns_link(bob, link)
        assert not access.owns_link(alice, None)
        assert access.is_distributor(alice, mine.id)
        assert not access.is_distributor(alice, theirs.id)
        db.session.rollback()


def test_customer_service_and_admin_see_every_dashboard_but_own_no_link(app):
    with app.app_context():
        shopper = built_user(Role.SHOPPER, save=True, phone="13800000003")
        distributor = distributors.join(shopper)
        link = ShareLink(code="abc12346", distributor_id=distributor.id)
        for role in (Role.CS, Role.ADMIN):
            agent = built_user(role, save=True)

            assert access.can_see_dashboard(agent, distributor)
            assert not access.owns_link(agent, link)
        db.session.rollback()
