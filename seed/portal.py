"""Vouchers for the merchant portal's demo: a shopper bought three units of a 老昭通炭火烧烤
set and paid with the test card, so ``laozhaotong-clerk`` has codes to redeem at
``/merchant/redeem`` (``flask seed`` prints them). Like the distributors' demo orders it
needs the payment server; without one nothing is written and the next seed adds it."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.orders import actions
from marketplace.orders.models import Order, OrderStatus
from marketplace.payments import sync
from marketplace.providers.stripe import stripe
from marketplace.vouchers.models import Voucher, VoucherStatus
from seed.distribution import provider_answers

SHOP = "老昭通炭火烧烤"
DEAL = "烧烤四人畅享套餐"
SHOPPER = ("13600000011", "顾客11")
UNITS = 3


def _shopper() -> User:
    phone, name = SHOPPER
    user = db.session.scalars(sa.select(User).where(User.phone == phone)).first()
    if user is None:
        user = User(phone=phone, display_name=name)
        user.grant(Role.SHOPPER)
        db.session.add(user)
        db.session.flush()
    return user


def load_orders() -> int | None:
    """The portal demo's paid order (once): 1 when made now, 0 when there already, None
    when no payment server answers."""
    deal = db.session.scalars(sa.select(Deal).where(Deal.title == DEAL)).one()
    customer = _shopper()
    order = db.session.scalars(
        sa.select(Order).where(Order.shopper_id == customer.id, Order.deal_id == deal.id)
    ).first()
    if order is not None and order.status != OrderStatus.PENDING_PAYMENT.value:
        return 0
    if not provider_answers():
        db.session.rollback()
        return None
    db.session.commit()  # no transaction is held across a provider call
    if order is None:
        order, _ = actions.place_order(customer, deal.id, UNITS)
    else:
        order = actions.start_payment(order.id, customer)
    stripe().pay_with_test_card(order.payment_intent_id)
    outcome = sync.sync_payment(order)
    if outcome != "paid":
        raise RuntimeError(f"seed order {order.id}: the payment server says {outcome}")
    db.session.commit()
    return 1


def codes_to_redeem() -> list[str]:
    """The demo shopper's vouchers at the shop that can still be redeemed."""
    phone, _ = SHOPPER
    return list(
        db.session.scalars(
            sa.select(Voucher.code)
            .join(User, Voucher.shopper_id == User.id)
            .join(Deal, Voucher.deal_id == Deal.id)
            .where(
                User.phone == phone,
                Deal.title == DEAL,
                Voucher.status == VoucherStatus.ACTIVE.value,
            )
            .order_by(Voucher.id)
        )
    )
