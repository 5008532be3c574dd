"""Reviews and customer care for the demo (``make run``): the demo customers whose vouchers
were used rate their visits (one of two stars, which opens a ticket for customer service),
customer service has logged two calls, and one demo deal refunds
its unused vouchers the day after expiry. Made through the domain functions the pages
call; once (a second seed adds nothing)."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.care import service as care
from marketplace.care.models import CareContact
from marketplace.core.db import db
from marketplace.deals.models import Deal, ExpiryPolicy
from marketplace.reviews import service as reviews
from marketplace.vouchers.models import Voucher, VoucherStatus

# customer phone, stars, words (customers whose voucher the seed redeemed)
REVIEWS = [
    ("13600000001", 5, "羊肉很嫩，汤底鲜，老板还送了一盘小菜。"),
    ("13600000003", 4, "包间干净，音响不错，就是周末要排一会儿。"),
    ("13600000005", 2, "船开得太快，讲解几乎没有，和介绍不太一样。"),
]
CONTACTS = [
    ("13600000002", "phone", "will_come", "说周末带朋友来吃甜品。"),
    ("13600000004", "wechat", "no_answer", "微信未回，明天再打电话。"),
]
AUTO_REFUND_DEAL = "亲子三人畅玩卡"


def _user(phone: str) -> User | None:
    return db.session.scalars(sa.select(User).where(User.phone == phone)).first()


def load() -> int:
    """Returns how many reviews and contacts were made."""
    made = 0
    for phone, stars, text in REVIEWS:
        shopper = _user(phone)
        voucher = (
            shopper
            and db.session.scalars(
                sa.select(Voucher).where(
                    Voucher.shopper_id == shopper.id,
                    Voucher.status == VoucherStatus.REDEEMED.value,
                )
            ).first()
        )
        if voucher is None or reviews.for_voucher(voucher.id) is not None:
            continue
        reviews.create_review(shopper, voucher.code, stars=stars, text=text)
        made += 1
    agent = db.session.scalars(sa.select(User).where(User.username == "cs")).first()
    for phone, channel, outcome, note in CONTACTS:
        shopper = _user(phone)
        if agent is None or shopper is None:
            continue
        if db.session.scalars(
            sa.select(CareContact.id).where(CareContact.shopper_id == shopper.id)
        ).first():
            continue
        care.log_contact(agent, shopper.id, channel=channel, outcome=outcome, note=note)
        made += 1
    deal = db.session.scalars(sa.select(Deal).where(Deal.title == AUTO_REFUND_DEAL)).first()
    if deal is not None and deal.expiry_policy != ExpiryPolicy.AUTO_REFUND:
        deal.expiry_policy = ExpiryPolicy.AUTO_REFUND.value
    return made
