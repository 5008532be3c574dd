"""Who may see what of an order. One place for the rule, so the API and the pages ask the
same question: ``can_…(user, order)`` answers yes or no and never raises; the services
decide what a "no" looks like (another shopper's order is a 404: its existence is not
revealed)."""

from __future__ import annotations

from marketplace.accounts.models import User
from marketplace.orders.models import Order


def can_see_order(user: User, order: Order) -> bool:
    """A shopper sees their own orders (and pays and asks refunds for them); staff reach
    orders through their own screens (the refund queue, overrides), not this one."""
    return order.shopper_id == user.id
