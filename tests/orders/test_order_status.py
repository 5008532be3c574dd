"""The one rule of a paid order's status, as a plain function of its vouchers' statuses."""

from __future__ import annotations

import pytest

from marketplace.orders.actions import status_from_vouchers


@pytest.mark.parametrize(
    ("vouchers", "status"),
    [
        (["active", "active"], "paid"),
        (["redeemed", "active"], "paid"),
        (["refunding", "active"], "paid"),  # a refund being paid back is not money back yet
        (["expired", "expired"], "paid"),
        (["redeemed", "redeemed"], "completed"),
        (["redeemed", "refunded"], "completed"),
        (["redeemed", "expired"], "completed"),
        (["redeemed", "refunding"], "paid"),
        (["refunded", "active"], "partially_refunded"),
        (["refunded", "expired"], "partially_refunded"),
        (["refunded", "refunding"], "partially_refunded"),
        (["refunded", "refunded"], "refunded"),
        ([], "refunded"),  # money back for an order that bought nothing
    ],
)
def test_a_paid_orders_status_follows_its_vouchers(vouchers, status):
    assert status_from_vouchers(vouchers) == status
    assert status_from_vouchers(reversed(vouchers)) == status  # in any order
