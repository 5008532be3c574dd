"""Who may read a statement, as a plain function: admin, or the party it belongs to."""

from __future__ import annotations

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.distribution import distributors
from marketplace.settlement.access import can_read_statement
from marketplace.settlement.models import Statement
from merchants.models import MerchantStaff, StaffRole
from tests.factories import built_user


def statement(party_type: str, party_id: int) -> Statement:
    return Statement(period="2026-11", party_type=party_type, party_id=party_id, total=100)


def test_admin_reads_every_statement(app):
    with app.app_context():
        admin = built_user(Role.ADMIN, save=True)

        assert can_read_statement(admin, statement("merchant", 1))
        assert can_read_statement(admin, statement("distributor", 1))
        db.session.rollback()


def test_merchant_staff_read_their_own_shops_statements_only(app):
    with app.app_context():
        for role in StaffRole:
            clerk = User(display_name="shop")
            clerk.grant(Role.MERCHANT_STAFF)
            clerk.merchant_membership = MerchantStaff(merchant_id=7, role=role.value)

            assert can_read_statement(clerk, statement("merchant", 7))
            assert not can_read_statement(clerk, statement("merchant", 8))
            assert not can_read_statement(clerk, statement("distributor", 7))


def test_a_distributor_reads_their_own_statements_only(app):
    with app.app_context():
        shopper = built_user(Role.SHOPPER, save=True, phone="13800000011")
        other = built_user(Role.SHOPPER, save=True, phone="13800000012")
        mine = distributors.join(shopper)
        distributors.join(other)

        assert can_read_statement(shopper, statement("distributor", mine.id))
        assert not can_read_statement(other, statement("distributor", mine.id))
        assert not can_read_statement(shopper, statement("merchant", mine.id))
        assert not can_read_statement(
            built_user(Role.CS, save=True), statement("distributor", mine.id)
        )
        db.session.rollback()
