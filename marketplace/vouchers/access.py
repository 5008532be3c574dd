"""Who may see and redeem a voucher. One place for the rules, so the API and the pages ask
the same questions: ``can_…(user, voucher)`` answers yes or no and never raises; the
services decide what a "no" looks like (another shopper's voucher is a 404, another shop's
a 403 ``wrong_merchant``: a clerk holding a real code is told it is not theirs)."""

from __future__ import annotations

from marketplace.accounts.models import User
from marketplace.vouchers.models import Voucher
from merchants.access import works_at


def can_see_voucher(user: User, voucher: Voucher) -> bool:
    """Its code and QR are the shopper's who bought it."""
    return voucher.shopper_id == user.id


def can_redeem(user: User, voucher: Voucher) -> bool:
    """Only the staff (owner or clerk) of the deal's own shop redeem its vouchers."""
    return works_at(user, voucher.merchant_id)
