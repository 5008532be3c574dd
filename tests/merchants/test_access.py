"""The merchant access rules as plain functions on built (unsaved) objects."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from merchants import access
from merchants.models import Merchant, StaffRole
from tests.factories import built_user

pytestmark = pytest.mark.usefixtures("app")  # the mapped classes, configured

SHOP, OTHER = Merchant(id=1, name="本店"), Merchant(id=2, name="别家")


@pytest.mark.parametrize("role", [Role.BD, Role.ADMIN])
def test_bd_and_admin_may_do_everything_on_every_merchant(role):
    bd = built_user(role)
    for merchant in (SHOP, OTHER):
        assert access.can_see_merchant(bd, merchant)
        assert access.editable_fields(bd, merchant) == access.BD_EDITABLE
        assert access.can_read_contracts(bd, merchant)
        assert access.can_see_staff(bd, merchant)
    assert access.can_work_pipeline(bd)


def test_an_owner_sees_and_edits_only_their_own_shop():
    owner = built_user(shop=(SHOP.id, StaffRole.OWNER))

    assert access.can_see_merchant(owner, SHOP)
    assert access.editable_fields(owner, SHOP) == access.OWNER_EDITABLE
    assert access.can_read_contracts(owner, SHOP)
    assert access.can_see_staff(owner, SHOP)
    assert not access.can_see_merchant(owner, OTHER)
    assert not access.can_edit_merchant(owner, OTHER)
    assert not access.can_read_contracts(owner, OTHER)
    assert not access.can_see_staff(owner, OTHER)
    assert not access.can_work_pipeline(owner)


def test_a_clerk_sees_their_shop_and_changes_nothing():
    clerk = built_user(shop=(SHOP.id, StaffRole.CLERK))

    assert access.can_see_merchant(clerk, SHOP)
    assert access.works_at(clerk, SHOP.id)
    assert access.editable_fields(clerk, SHOP) == frozenset()
    assert not access.can_edit_merchant(clerk, SHOP)
    assert not access.can_read_contracts(clerk, SHOP)
    assert not access.can_see_staff(clerk, SHOP)


@pytest.mark.parametrize("role", [Role.SHOPPER, Role.CS, Role.EDITOR])
def test_anyone_else_sees_no_merchant(role):
    someone = built_user(role)

    assert access.membership(someone) is None
    assert not access.can_see_merchant(someone, SHOP)
    assert not access.can_edit_merchant(someone, SHOP)
    assert not access.can_read_contracts(someone, SHOP)


def test_who_lists_merchants_and_which():
    """``visible_merchants`` is ``can_see_merchant`` as a condition on the rows."""
    bd, owner, shopper = (
        built_user(Role.BD),
        built_user(shop=(SHOP.id, StaffRole.CLERK)),
        built_user(Role.SHOPPER),
    )

    assert access.can_list_merchants(bd) and access.can_list_merchants(owner)
    assert not access.can_list_merchants(shopper)
    own_shop = access.visible_merchants(owner).compile(compile_kwargs={"literal_binds": True})
    assert str(own_shop) == f"merchants.id = {SHOP.id}"
    assert str(access.visible_merchants(bd)) == "true"
    assert str(access.visible_merchants(shopper)) == "false"
