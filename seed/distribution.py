"""Distributors for the demo city: a two-level chain with bound customers and paid orders.

李姐 recruited 王哥, who recruited 小张; each has customers who came through their links and
bought (paid through the seed's offline path, since the seed runs before any payment
server). Orders and commission go through the real domain functions.
"""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.distribution import service as distribution
from marketplace.distribution.models import Distributor, DistributorTier
from marketplace.orders import service as orders
from marketplace.vouchers import service as vouchers
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
    if db.session.scalars(sa.select(Distributor.id)).first() is not None:
        return []
    admin = db.session.scalars(sa.select(User).where(User.username == "admin")).one()
    for slug, name, bonus, order in TIERS:
        distribution.save_tier(
            {"slug": slug, "name": name, "level1_bonus": bonus, "sort_order": order}, admin
        )
    made = {}
    for phone, name, recruiter_phone, tier in CHAIN:
        user = _shopper(phone, f"{name} (分销员)")
        invite = made[recruiter_phone].invite_code if recruiter_phone else None
        made[phone] = distribution.join(user, invite_code=invite, wechat_friends=1200)
        made[phone].tier = db.session.scalars(
            sa.select(DistributorTier).where(DistributorTier.slug == tier)
        ).one()
    created = [d.user.display_name for d in made.values()]
    for index, (phone, distributor_phone, title) in enumerate(CUSTOMERS):
        customer = _shopper(phone, f"顾客{phone[-2:]}")
        deal = db.session.scalars(sa.select(Deal).where(Deal.title == title)).one()
        link = distribution.create_link(made[distributor_phone], deal.id)
        order, _ = orders.place_order(customer, deal.id, 1, ref=link.code)
        order.payment_intent_id = f"pi_seed_{order.id}"  # paid offline for the demo
        db.session.flush()
        orders.mark_paid(
            order.id,
            payment_intent_id=order.payment_intent_id,
            amount=order.amount,
            currency=order.currency,
            source="seed",
        )
        if index % 2 == 0:  # half of them already used their voucher at the shop
            voucher = db.session.scalars(
                sa.select(Voucher).where(Voucher.order_id == order.id)
            ).first()
            vouchers.mark_redeemed(voucher, by_id=None)  # used at the shop
    return created
