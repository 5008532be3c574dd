"""Temporary, for the merge of issue 15 only: the four names that orders, vouchers and
refunds still import from here. They live in ``distribution.commission`` now; the merge
points those callers there and deletes this module. Add nothing to it."""

from marketplace.distribution.commission import (
    on_order_paid,
    on_voucher_redeemed,
    on_voucher_refunded,
    snapshot_attribution,
)

__all__ = ["on_order_paid", "on_voucher_redeemed", "on_voucher_refunded", "snapshot_attribution"]
