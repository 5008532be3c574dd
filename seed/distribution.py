"""Distributors for the demo city: a two-level chain with bound customers and paid orders.

李姐 recruited 王哥, who recruited 小张; each has customers who came through their links and
bought. Orders and commission go through the real domain functions, and the orders are paid
with the test card through the configured payment server (``make run`` starts localstripe
before seeding), so the provider knows every seeded payment and a refund of a seeded order
completes like any other. When no payment server answers, the demo orders are left out
(``load_orders`` says so) and the next ``flask seed`` with one running adds them.
"""

from __future__ import annotations

import requests
import sqlalchemy as sa
from flask import current_app

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.distribution import distributors, links
from marketplace.distribution.models import Distributor
from marketplace.orders import actions
from marketplace.orders.models import Order, OrderStatus
from marketplace.payments import sync
from marketplace.providers.stripe import stripe
from marketplace.vouchers.models import Voucher

TIERS = [("standard", "普通", 0, 0), ("gold", "金牌", 200, 10), ("platinum", "铂金", 400, 20),
         ("diamond", "钻石", 600, 30)]  # fmt: skip
CHAIN = [("13700000001", "李姐", None, "gold"), ("13700000002", "王哥", "13700000001", "standard"),
         ("13700000003", "小张", "13700000002", "standard")]  # fmt: skip
# customer phone, distributor phone, deal title
CUSTOMERS = [
    ("13600000001", "13700000001", "羊肉火锅三人餐"),
    ("13600000002", "13700000001", "甜品三人下午茶"),
    ("13600000003", "13700000002", "KTV 小包四人欢唱 3 小时"),
    ("13600000004", "13700000002", "小肠旺四人餐"),
    ("13600000005", "13700000003", "游船三人票"),
    ("13600000006", "13700000003", "亲子三人畅玩卡"),
]


def _shopper(phone: str, name: str) -> User:
    user = db.session.scalars(sa.select(User).where(User.phone == phone)).first()
    if user is None:
        user = User(phone=phone, display_name=name)
        user.grant(Role.SHOPPER)
        db.session.add(user)
        db.session.flush()
    return user


def load() -> list[str]:
    """The tiers and the chain of three distributors (once)."""
    if db.session.scalars(sa.select(Distributor.id)).first() is not None:
        return []
    admin = db.session.scalars(sa.select(User).where(User.username == "admin")).one()
    for slug, name, bonus, order in TIERS:
        distributors.save_tier(
            {"slug": slug, "name": name, "level1_bonus": bonus, "sort_order": order}, admin
        )
    made = {}
    for phone, name, recruiter_phone, tier in CHAIN:
        user = _shopper(phone, f"{name} (分销员)")
        invite = made[recruiter_phone].invite_code if recruiter_phone else None
        made[phone] = distributors.join(user, invite_code=invite, wechat_friends=1200)
        distributors.update_distributor(made[phone], {"tier": tier}, admin)
    db.session.flush()
    return [d.user.display_name for d in made.values()]


def provider_answers() -> bool:
    """Whether the configured payment server answers at all (any HTTP answer counts)."""
    try:
        requests.get(current_app.config["LINLI_STRIPE_API_BASE"], timeout=3)
    except requests.RequestException:
        return False
    return True


def load_orders() -> int | None:
    """Each demo customer buys one unit through their distributor's link and pays with the
    test card; half of them have used their voucher. Returns the orders paid now, or None
    when the payment server does not answer (nothing is written then)."""
    missing = [c for c in CUSTOMERS if not _done(c)]
    if not missing:
        return 0
    if not provider_answers():
        return None
    db.session.commit()  # no transaction is held across a provider call
    for phone, distributor_phone, title in missing:
        customer = _shopper(phone, f"顾客{phone[-2:]}")
        deal = db.session.scalars(sa.select(Deal).where(Deal.title == title)).one()
        order = _order_of(customer, deal)
        if order is None:
            owner = db.session.scalars(
                sa.select(Distributor).join(User, Distributor.user_id == User.id)
                .where(User.phone == distributor_phone)
            ).one()  # fmt: skip
            link = links.create_link(owner, deal.id)
            order, _ = actions.place_order(customer, deal.id, 1, ref=link.code)
        else:  # placed by an earlier seed that could not pay it
            order = actions.start_payment(order.id, customer)
        stripe().pay_with_test_card(order.payment_intent_id)
        outcome = sync.sync_payment(order)
        if outcome != "paid":
            raise RuntimeError(f"seed order {order.id}: the payment server says {outcome}")
        if CUSTOMERS.index((phone, distributor_phone, title)) % 2 == 0:
            voucher = db.session.scalars(
                sa.select(Voucher).where(Voucher.order_id == order.id)
            ).first()
            actions.voucher_redeemed(voucher, by_id=None)  # used at the shop
        db.session.commit()
    return len(missing)


def _order_of(customer: User, deal: Deal) -> Order | None:
    return db.session.scalars(
        sa.select(Order)
        .where(Order.shopper_id == customer.id, Order.deal_id == deal.id)
        .order_by(Order.id)
    ).first()


def _done(entry: tuple[str, str, str]) -> bool:
    phone, _, title = entry
    order = db.session.scalars(
        sa.select(Order)
        .join(User, Order.shopper_id == User.id)
        .join(Deal, Order.deal_id == Deal.id)
        .where(User.phone == phone, Deal.title == title)
    ).first()
    return order is not None and order.status != OrderStatus.PENDING_PAYMENT.value
