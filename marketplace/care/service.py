"""Customer care, the rules (docs/domain.md, "Customer care"):

*Bought* means an order paid for money (``amount > 0``: a free giveaway meal is not a
purchase) whose status is one of ``PAID_STATUSES`` (not wholly refunded), counted once per
order, on the Asia/Shanghai date of ``paid_at``.

- Segments over the last 90 days, which are today and the 89 days before it (a purchase
  on today−89 counts, one on today−90 no longer does): **A** 3 or more purchases, **B** 1 or
  2, **C** none (registered or bound and never bought, or not for 90 days).
- The lapsed list: shoppers who bought before and not for 30 days (their last purchase on
  today−30 or earlier); ``due`` ones were not contacted in the last 14 days.
- A contact (phone or WeChat, who, when, note, outcome) *won back* its shopper when they
  bought within 14 days after it (``contacted_at < paid_at ≤ contacted_at + 14 days``).
- Expired unused vouchers: a deal's ``expiry_policy`` says whether customer service calls
  (``cs_call``: listed here from the day after expiry for a week) or the platform refunds
  them the day after expiry (``auto_refund``: ``auto_refund_expired``, a job, through
  ``refunds.service``'s one crash-safe path).

Every list is a constant number of statements whatever the number of shoppers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import Role, User, UserRole
from marketplace.care.models import CareContact, Channel, Outcome
from marketplace.core import audit
from marketplace.core.clock import day_start, local_today, now
from marketplace.core.db import db
from marketplace.core.errors import InvalidInput, NotFound
from marketplace.deals.models import Deal, ExpiryPolicy
from marketplace.distribution.models import CustomerBinding
from marketplace.orders.models import PAID_STATUSES, Order
from marketplace.refunds import service as refunds
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher

SEGMENT_DAYS = 90
A_PURCHASES = 3
LAPSED_DAYS = 30
WON_BACK_DAYS = 14
CS_CALL_DAYS = 7  # expired vouchers stay on customer service's list for a week
SEGMENTS = ("A", "B", "C")


def bought() -> sa.ColumnElement[bool]:
    """The one definition of a purchase (see the module docstring)."""
    return sa.and_(
        Order.status.in_([s.value for s in PAID_STATUSES]),
        Order.paid_at.is_not(None),
        Order.amount > 0,
    )


def window_start(days: int) -> datetime:
    """The start of the last ``days`` local days, today included."""
    return day_start(local_today() - timedelta(days=days - 1))


# -- segments ------------------------------------------------------------------------------


def _segment_rows(distributor_id: int | None, shopper_ids: list[int] | None = None) -> sa.Subquery:
    start = window_start(SEGMENT_DAYS)
    recent = sa.func.count(sa.case((Order.paid_at >= start, Order.id)))
    segment = sa.case((recent >= A_PURCHASES, "A"), (recent >= 1, "B"), else_="C").label("segment")
    query = (
        sa.select(
            User.id.label("shopper_id"),
            recent.label("recent"),
            sa.func.max(Order.paid_at).label("last_paid_at"),
            segment,
        )
        .join(UserRole, sa.and_(UserRole.user_id == User.id, UserRole.role == Role.SHOPPER.value))
        .outerjoin(Order, sa.and_(Order.shopper_id == User.id, bought()))
        .group_by(User.id)
    )
    if shopper_ids is not None:
        query = query.where(User.id.in_(shopper_ids))
    if distributor_id is not None:
        query = query.join(
            CustomerBinding,
            sa.and_(
                CustomerBinding.shopper_id == User.id,
                CustomerBinding.distributor_id == distributor_id,
            ),
        )
    return query.subquery()


def segments(*, distributor_id: int | None = None, segment: str | None = None) -> sa.Select:
    """Shoppers with their segment, purchases in the window and last purchase; most recent
    buyers first. Rows: ``(User, segment, recent, last_paid_at)``."""
    rows = _segment_rows(distributor_id)
    query = sa.select(User, rows.c.segment, rows.c.recent, rows.c.last_paid_at).join(
        rows, rows.c.shopper_id == User.id
    )
    if segment:
        if segment not in SEGMENTS:
            raise InvalidInput(fields={"segment": ["A, B or C."]})
        query = query.where(rows.c.segment == segment)
    return query.order_by(rows.c.recent.desc(), rows.c.last_paid_at.desc().nulls_last(), User.id)


def segments_for(shopper_ids: list[int]) -> dict[int, str]:
    """The segment of each of these shoppers (one statement; a page of customers)."""
    if not shopper_ids:
        return {}
    rows = _segment_rows(None, list(shopper_ids))
    found = dict(db.session.execute(sa.select(rows.c.shopper_id, rows.c.segment)).all())
    return {i: found.get(i, "C") for i in shopper_ids}


def segment_counts(*, distributor_id: int | None = None) -> dict[str, int]:
    """How many shoppers in each segment (one statement)."""
    rows = _segment_rows(distributor_id)
    counted = dict(
        db.session.execute(
            sa.select(rows.c.segment, sa.func.count()).group_by(rows.c.segment)
        ).all()
    )
    return {s: int(counted.get(s, 0)) for s in SEGMENTS}


def page_rows(query: sa.Select, page: int, page_size: int) -> dict[str, Any]:
    """One page of a multi-column query (``paginate`` is for entity queries)."""
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = db.session.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": rows, "page": page, "page_size": page_size, "total": int(total or 0)}


# -- the lapsed list and its contacts ------------------------------------------------------


def lapsed(*, due_only: bool = True) -> sa.Select:
    """Shoppers who bought before and not for ``LAPSED_DAYS`` days, the most recently
    lapsed first. Rows: ``(User, last_paid_at, purchases, last_contact_at)``;
    ``due_only``: not contacted within the last ``WON_BACK_DAYS`` days."""
    cutoff = window_start(LAPSED_DAYS)
    last_contact = (
        sa.select(sa.func.max(CareContact.contacted_at))
        .where(CareContact.shopper_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    last_paid = sa.func.max(Order.paid_at)
    query = (
        sa.select(User, last_paid.label("last_paid_at"), sa.func.count(Order.id), last_contact)
        .join(Order, sa.and_(Order.shopper_id == User.id, bought()))
        .group_by(User.id)
        .having(last_paid < cutoff)
    )
    if due_only:
        recent = now() - timedelta(days=WON_BACK_DAYS)
        query = query.where(
            ~sa.exists().where(CareContact.shopper_id == User.id, CareContact.contacted_at > recent)
        )
    return query.order_by(last_paid.desc(), User.id)


def log_contact(
    agent: User, shopper_id: int, *, channel: str, outcome: str, note: str = ""
) -> CareContact:
    """Customer service records a call or a WeChat message to a customer; flushes."""
    problems = {}
    if channel not in [c.value for c in Channel]:
        problems["channel"] = ["phone or wechat."]
    if outcome not in [o.value for o in Outcome]:
        problems["outcome"] = ["Unknown outcome."]
    if len(note or "") > 500:
        problems["note"] = ["At most 500 characters."]
    if problems:
        raise InvalidInput(fields=problems)
    shopper = db.session.get(User, shopper_id)
    if shopper is None or not shopper.has_role(Role.SHOPPER):
        raise NotFound("No such customer.", code="customer_not_found")
    contact = CareContact(
        shopper_id=shopper.id,
        agent_id=agent.id,
        contacted_at=now(),
        channel=channel,
        outcome=outcome,
        note=(note or "").strip(),
    )
    db.session.add(contact)
    db.session.flush()
    audit.record(
        "care_contact",
        contact.id,
        "care.contacted",
        actor_id=agent.id,
        data={"shopper_id": shopper.id, "channel": channel, "outcome": outcome},
    )
    return contact


def contacts(*, since: datetime | None = None) -> sa.Select:
    """The contact log, newest first (shopper and agent joined in)."""
    query = sa.select(CareContact)
    if since is not None:
        query = query.where(CareContact.contacted_at >= since)
    return query.order_by(CareContact.contacted_at.desc(), CareContact.id.desc())


def won_back(items: list[CareContact]) -> dict[int, int | None]:
    """For each contact, the first order bought within ``WON_BACK_DAYS`` days after it
    (its id), or None: one statement for any number of contacts."""
    if not items:
        return {}
    shoppers = {c.shopper_id for c in items}
    earliest = min(c.contacted_at for c in items)
    orders = db.session.execute(
        sa.select(Order.shopper_id, Order.paid_at, Order.id)
        .where(bought(), Order.shopper_id.in_(shoppers), Order.paid_at > earliest)
        .order_by(Order.paid_at, Order.id)
    ).all()
    found: dict[int, int | None] = {}
    for contact in items:
        until = contact.contacted_at + timedelta(days=WON_BACK_DAYS)
        found[contact.id] = next(
            (
                order_id
                for shopper_id, paid_at, order_id in orders
                if shopper_id == contact.shopper_id and contact.contacted_at < paid_at <= until
            ),
            None,
        )
    return found


def won_back_summary(days: int = 30) -> dict[str, int]:
    """Contacts of the last ``days`` days and how many won their customer back."""
    items = list(db.session.scalars(contacts(since=now() - timedelta(days=days))))
    won = won_back(items)
    return {"contacts": len(items), "won_back": sum(1 for v in won.values() if v)}


# -- expired unused vouchers ---------------------------------------------------------------


def to_call() -> sa.Select:
    """Today's list for customer service: unused vouchers of ``cs_call`` deals that
    expired within the last ``CS_CALL_DAYS`` days, the most recent first (with their deal)."""
    return (
        sa.select(Voucher)
        .join(Deal, Deal.id == Voucher.deal_id)
        .where(
            Deal.expiry_policy == ExpiryPolicy.CS_CALL.value,
            vouchers.unused_at_expiry(),
            Voucher.valid_until >= local_today() - timedelta(days=CS_CALL_DAYS),
        )
        .order_by(Voucher.valid_until.desc(), Voucher.id)
    )


def auto_refund_expired() -> dict[str, int]:
    """Job, the day after expiry: refund the unused vouchers of ``auto_refund`` deals
    through the refunds' one crash-safe path. Owns its transactions (one order at a time);
    running twice, or again after a crash at any step, refunds each voucher exactly once."""
    order_ids = list(
        db.session.scalars(
            sa.select(Voucher.order_id)
            .join(Deal, Deal.id == Voucher.deal_id)
            .join(Order, Order.id == Voucher.order_id)
            .where(
                Deal.expiry_policy == ExpiryPolicy.AUTO_REFUND.value,
                vouchers.unused_at_expiry(),
                Order.status.in_([s.value for s in PAID_STATUSES]),
                Order.amount > 0,  # a giveaway prize: nothing to refund
            )
            .distinct()
            .order_by(Voucher.order_id)
        )
    )
    db.session.commit()
    opened = 0
    for order_id in order_ids:
        if refunds.open_expired_refund(order_id) is not None:
            opened += 1
        db.session.commit()  # approved before any money moves
    # pay this run's, and any a crash left approved but unpaid
    paid = refunds.retry_approved(limit=None, reason_text=refunds.AUTO_EXPIRED)
    return {"opened": opened, **paid}
