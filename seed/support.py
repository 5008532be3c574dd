"""Customer service's demo queue: two refund requests from the demo customers whose
vouchers are still unused, a shopper's complaint and a merchant's question, so the staff
console's CS pages (``/staff/cs/...``) have something to work on after ``make run``.
Made through the domain functions the shoppers' pages call; once (a second seed adds
nothing)."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.orders.models import Order
from marketplace.refunds import service as refunds
from marketplace.refunds.models import RefundRequest
from marketplace.tickets import service as tickets
from marketplace.tickets.models import Ticket

# customer phone, reason, words (the later demo customers, whose vouchers are unused:
# the first unused one stays free for whoever tries a refund by hand)
REFUNDS = [
    ("13600000004", "cannot_book", "周末都约满了，工作日去不了"),
    ("13600000006", "changed_mind", "孩子生病了，这个月去不了"),
]
TICKETS = [
    ("13600000002", None, "complaint", "店里说券要提前一天预约", "到店才说要预约，白跑一趟。"),
    (None, "laozhaotong-clerk", "question", "核销时扫码失败怎么办", "券码扫不出来，能手输吗？"),
]


def _user(phone: str | None, username: str | None) -> User | None:
    column, value = (User.phone, phone) if phone else (User.username, username)
    return db.session.scalars(sa.select(User).where(column == value)).first()


def load() -> int:
    """The demo refund requests and tickets (none if the demo orders are not paid yet, or
    if they were made before). Returns how many were made."""
    made = 0
    for phone, reason, words in REFUNDS:
        shopper = _user(phone, None)
        order = (
            shopper
            and db.session.scalars(
                sa.select(Order).where(Order.shopper_id == shopper.id, Order.status == "paid")
            ).first()
        )
        if (
            order is None
            or db.session.scalars(
                sa.select(RefundRequest.id).where(RefundRequest.order_id == order.id)
            ).first()
        ):
            continue
        refunds.request_refund(shopper, order.id, reason=reason, reason_text=words)
        made += 1
    for phone, username, kind, subject, body in TICKETS:
        opener = _user(phone, username)
        if (
            opener is None
            or db.session.scalars(sa.select(Ticket.id).where(Ticket.subject == subject)).first()
        ):
            continue
        tickets.open_ticket(opener, kind=kind, subject=subject, body=body)
        made += 1
    return made
