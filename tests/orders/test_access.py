"""The order and voucher access rules as plain functions on built (unsaved) objects."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from marketplace.orders import access as orders
from marketplace.orders.models import Order
from marketplace.vouchers import access as vouchers
from marketplace.vouchers.models import Voucher
from merchants.models import StaffRole
from tests.factories import built_user

pytestmark = pytest.mark.usefixtures("app")  # the mapped classes, configured


def test_a_shopper_sees_only_their_own_orders_and_vouchers():
    shopper, other = built_user(Role.SHOPPER, user_id=1), built_user(Role.SHOPPER, user_id=2)
    order = Order(id=10, shopper_id=1)
    voucher = Voucher(id=20, shopper_id=1, merchant_id=5)

    assert orders.can_see_order(shopper, order) and vouchers.can_see_voucher(shopper, voucher)
    assert not orders.can_see_order(other, order)
    assert not vouchers.can_see_voucher(other, voucher)


@pytest.mark.parametrize("role", [StaffRole.OWNER, StaffRole.CLERK])
def test_only_the_deals_own_shop_redeems(role):
    voucher = Voucher(id=20, shopper_id=1, merchant_id=5)

    assert vouchers.can_redeem(built_user(user_id=3, shop=(5, role)), voucher)
    assert not vouchers.can_redeem(built_user(user_id=4, shop=(6, role)), voucher)


@pytest.mark.parametrize("role", [Role.SHOPPER, Role.BD, Role.CS, Role.ADMIN])
def test_nobody_else_redeems_not_even_staff(role):
    voucher = Voucher(id=20, shopper_id=1, merchant_id=5)

    assert not vouchers.can_redeem(built_user(role, user_id=1), voucher)
