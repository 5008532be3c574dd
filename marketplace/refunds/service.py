"""Manual refunds, end to end, as a state machine that recovers from a crash at any step.

    pending ──approve──▶ approved_pending_refund ──(provider refund + voids)──▶ refunded
       │                        │
       └──reject──▶ rejected    └──(a voucher was used meanwhile)──▶ failed

Carrying out an approved refund (``execute``) takes three short transactions:
1. *prepare*: the vouchers go ``active → refunding`` (no longer redeemable) — or, if one was
   redeemed meanwhile, the request fails cleanly and nothing is paid;
2. *pay*: the provider refund, outside any transaction, carrying the request id in its
   metadata (and as Idempotency-Key, which real Stripe honours);
3. *finish*: record the provider refund, void the vouchers, cancel or claw back commission,
   return stock, update the order — all in one transaction.
Recovery (``retry_approved``, a job) re-runs ``execute``: before paying again it asks the
provider for a refund already made for this request, so money is never paid twice even by a
provider that ignores idempotency keys (localstripe does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.distribution.service import on_voucher_refunded
from marketplace.ledger import service as ledger
from marketplace.orders import stock
from marketplace.orders.models import Order, OrderStatus
from marketplace.payments.stripe import (
    ProviderError,
    ProviderUnavailable,
    idempotency_key,
    stripe,
)
from marketplace.refunds.models import OPEN_STATUSES, RefundItem, RefundRequest, RefundStatus
from marketplace.vouchers.models import Voucher, VoucherStatus

log = logging.getLogger(__name__)
ALERT_AFTER_ATTEMPTS = 5
PAYING_LEASE = timedelta(seconds=60)
REFUNDABLE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED,
                             OrderStatus.COMPLETED)  # fmt: skip


class RefundNotFound(NotFound):
    code = "refund_request_not_found"
    message = "No such refund request."


def _own_order(order_id: int, shopper: User) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.shopper_id != shopper.id:
        from marketplace.orders.service import OrderNotFound

        raise OrderNotFound()
    return order


def _vouchers(order: Order, codes: list[str] | None, allowed: tuple[str, ...]) -> list[Voucher]:
    vouchers = db.session.scalars(
        sa.select(Voucher).where(Voucher.order_id == order.id).order_by(Voucher.id)
    ).all()
    if codes:
        unknown = sorted(set(codes) - {v.code for v in vouchers})
        if unknown:
            raise InvalidInput(
                fields={"voucher_codes": [f"Not in this order: {', '.join(unknown)}"]}
            )
        vouchers = [v for v in vouchers if v.code in set(codes)]
    else:
        vouchers = [v for v in vouchers if v.status in allowed]
    if not vouchers:
        raise Conflict("Nothing in this order can be refunded.", code="nothing_to_refund")
    used = [v.code for v in vouchers if v.status == VoucherStatus.REDEEMED.value]
    if used and VoucherStatus.REDEEMED.value not in allowed:
        raise Conflict(
            "Used vouchers cannot be refunded: " + ", ".join(used) + ".", code="voucher_redeemed"
        )
    blocked = [v.code for v in vouchers if v.status not in allowed]
    if blocked:
        raise Conflict(
            "Already refunded or being refunded: " + ", ".join(blocked) + ".",
            code="voucher_not_refundable",
        )
    return vouchers


def request_refund(
    shopper: User,
    order_id: int,
    *,
    reason: str,
    reason_text: str = "",
    voucher_codes: list[str] | None = None,
) -> RefundRequest:
    """A shopper asks for a refund of some or all unused vouchers of a paid order."""
    order = _own_order(order_id, shopper)
    if order.status not in [s.value for s in REFUNDABLE_ORDER_STATUSES]:
        raise Conflict(f"A {order.status} order cannot be refunded.", code="order_not_refundable")
    vouchers = _vouchers(
        order, voucher_codes, (VoucherStatus.ACTIVE.value, VoucherStatus.EXPIRED.value)
    )
    return _open_request(
        order, vouchers, reason=reason, reason_text=reason_text, actor_id=shopper.id
    )


def _open_request(
    order: Order,
    vouchers: list[Voucher],
    *,
    reason: str,
    reason_text: str,
    actor_id: int,
    status: RefundStatus = RefundStatus.PENDING,
    **extra: Any,
) -> RefundRequest:
    if db.session.scalars(
        sa.select(RefundRequest.id).where(RefundRequest.open_order_id == order.id)
    ).first():
        raise Conflict(
            "This order already has a refund request in progress.", code="refund_already_requested"
        )
    request = RefundRequest(
        order=order,
        shopper_id=order.shopper_id,
        status=status.value,
        reason=reason,
        reason_text=reason_text,
        amount=order.unit_price * len(vouchers),
        open_order_id=order.id,
        items=[RefundItem(voucher_id=v.id) for v in vouchers],
        **extra,
    )
    db.session.add(request)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent request for the same order won
        raise Conflict(
            "This order already has a refund request in progress.", code="refund_already_requested"
        ) from exc
    audit.record(
        "refund_request",
        request.id,
        "refund.requested",
        actor_id=actor_id,
        reason=reason_text or reason,
        data={
            "order_id": order.id,
            "vouchers": [v.code for v in vouchers],
            "amount": request.amount,
            "status": request.status,
        },
    )
    return request


def get_request(request_id: int) -> RefundRequest:
    request = db.session.get(RefundRequest, request_id)
    if request is None:
        raise RefundNotFound()
    return request


def approve(
    request_id: int, actor: User, *, note: str = "", key: str | None = None
) -> RefundRequest:
    """Customer service approves. Approving twice (a double click, a retried request) is
    harmless: only one approval happens and only one refund is ever paid."""
    request = _lock(request_id)
    if request.status == RefundStatus.PENDING.value:
        request.status = RefundStatus.APPROVED_PENDING_REFUND.value
        request.decided_by_id, request.decided_at = actor.id, now()
        request.cs_note, request.approve_key = note, key
        audit.record(
            "refund_request",
            request.id,
            "refund.approved",
            actor_id=actor.id,
            reason=note or None,
            data={"amount": request.amount},
        )
        return request
    if request.status in (RefundStatus.APPROVED_PENDING_REFUND.value, RefundStatus.REFUNDED.value):
        return request  # already approved: the same answer again
    raise Conflict(f"A {request.status} request cannot be approved.", code="refund_already_decided")


def reject(request_id: int, actor: User, *, note: str) -> RefundRequest:
    request = _lock(request_id)
    if request.status != RefundStatus.PENDING.value:
        raise Conflict(
            f"A {request.status} request cannot be rejected.", code="refund_already_decided"
        )
    if not note.strip():
        raise InvalidInput(fields={"note": ["Tell the shopper why."]})
    request.status, request.open_order_id = RefundStatus.REJECTED.value, None
    request.decided_by_id, request.decided_at, request.cs_note = actor.id, now(), note
    audit.record("refund_request", request.id, "refund.rejected", actor_id=actor.id, reason=note)
    return request


def admin_override(
    order_id: int, actor: User, *, reason: str, voucher_codes: list[str] | None = None
) -> RefundRequest:
    """Admin refunds vouchers even if they were used, with a required reason."""
    if not reason.strip():
        raise InvalidInput(fields={"reason": ["An override needs a reason."]})
    order = db.session.get(Order, order_id)
    if order is None:
        from marketplace.orders.service import OrderNotFound

        raise OrderNotFound()
    vouchers = _vouchers(
        order,
        voucher_codes,
        (VoucherStatus.ACTIVE.value, VoucherStatus.EXPIRED.value, VoucherStatus.REDEEMED.value),
    )
    return _open_request(
        order,
        vouchers,
        reason="other",
        reason_text=reason,
        actor_id=actor.id,
        status=RefundStatus.APPROVED_PENDING_REFUND,
        admin_override=True,
        override_reason=reason,
        decided_by_id=actor.id,
        decided_at=now(),
    )


def _lock(request_id: int) -> RefundRequest:
    request = db.session.scalars(
        sa.select(RefundRequest)
        .where(RefundRequest.id == request_id)
        .with_for_update(of=RefundRequest)
    ).first()
    if request is None:
        raise RefundNotFound()
    return request


# -- carrying out an approved refund -------------------------------------------------------


def execute(request_id: int, *, _after_payment: Callable[[], None] | None = None) -> RefundRequest:
    """Carry out an approved refund (see the module docstring). Commits its own steps; safe
    to call again at any point. ``_after_payment`` lets tests simulate a crash."""
    request = _lock(request_id)
    if request.status != RefundStatus.APPROVED_PENDING_REFUND.value or (
        request.paying_since is not None and now() - request.paying_since < PAYING_LEASE
    ):
        db.session.commit()
        return request
    if request.provider_refund_id is None and not _prepare(request):
        db.session.commit()
        return request
    request.paying_since = now()
    request.provider_attempts += 1
    payment_intent, amount = request.order.payment_intent_id, request.amount
    metadata = {"refund_request_id": request.id, "order_id": request.order_id}
    key = idempotency_key("refund", request.id, request.created_at)
    already = request.provider_refund_id
    first_try = request.provider_attempts == 1
    db.session.commit()  # step 1 is durable before any money moves

    try:
        refund_id = already or _pay(payment_intent, amount, metadata, key, first_try)
    except (ProviderUnavailable, ProviderError) as exc:
        request = _lock(request_id)
        request.paying_since = None
        request.last_error = exc.describe()[:200]
        if request.provider_attempts >= ALERT_AFTER_ATTEMPTS and request.alerted_at is None:
            request.alerted_at = now()
            log.error(
                "refund request %s: %s failed attempts; customer service must act",
                request.id,
                request.provider_attempts,
            )
            audit.record(
                "refund_request",
                request.id,
                "refund.alerted",
                actor_id=None,
                data={"attempts": request.provider_attempts},
            )
        db.session.commit()
        return request
    if _after_payment is not None:
        _after_payment()
    request = _lock(request_id)
    _finish(request, refund_id)
    db.session.commit()
    return request


def _prepare(request: RefundRequest) -> bool:
    """Make the request's vouchers unredeemable; False (and the request failed) if one was
    used meanwhile — unless an admin override covers used vouchers."""
    vouchers = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_([i.voucher_id for i in request.items]))
        .with_for_update()
    ).all()
    usable = {
        VoucherStatus.ACTIVE.value,
        VoucherStatus.EXPIRED.value,
        VoucherStatus.REFUNDING.value,
    }
    if request.admin_override:
        usable.add(VoucherStatus.REDEEMED.value)
    spoiled = [v.code for v in vouchers if v.status not in usable]
    if spoiled:
        for voucher in vouchers:
            if voucher.status == VoucherStatus.REFUNDING.value:
                voucher.status = VoucherStatus.ACTIVE.value
        request.status, request.open_order_id = RefundStatus.FAILED.value, None
        request.failure_code = "voucher_redeemed"
        audit.record(
            "refund_request",
            request.id,
            "refund.failed",
            actor_id=None,
            reason="a voucher was used before the refund was paid",
            data={"vouchers": spoiled},
        )
        return False
    for voucher in vouchers:
        if voucher.status != VoucherStatus.REDEEMED.value:
            voucher.status = VoucherStatus.REFUNDING.value
    return True


def _pay(payment_intent: str, amount: int, metadata: dict, key: str, first_try: bool) -> str:
    request_id = metadata["refund_request_id"]
    if not first_try:  # an earlier attempt may have paid before we could record it
        for refund in stripe().list_refunds(payment_intent):
            if str((refund.get("metadata") or {}).get("refund_request_id")) == str(request_id):
                return refund["id"]
    refund = stripe().create_refund(
        payment_intent=payment_intent,
        amount=amount,
        metadata=metadata,
        idempotency_key=key,
    )
    return refund["id"]


def _finish(request: RefundRequest, refund_id: str) -> None:
    if request.status != RefundStatus.APPROVED_PENDING_REFUND.value:
        return
    request.provider_refund_id = refund_id
    vouchers = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_([i.voucher_id for i in request.items]))
        .with_for_update()
    ).all()
    for voucher in vouchers:
        was_redeemed = voucher.redeemed_at is not None
        voucher.status = VoucherStatus.REFUNDED.value
        ledger.voucher_refunded(request.order, voucher.id, was_redeemed=was_redeemed)
        audit.record(
            "voucher",
            voucher.id,
            "voucher.refunded",
            actor_id=None,
            data={"refund_request_id": request.id},
        )
        on_voucher_refunded(voucher, actor_id=request.decided_by_id)
    order = request.order
    deal = order.deal
    if deal.status in ("live", "sold_out") and (
        deal.sale_ends_at is None or deal.sale_ends_at > now()
    ):
        stock.release(deal, order.shopper_id, len(vouchers))
    remaining = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Voucher)
        .where(Voucher.order_id == order.id, Voucher.status != VoucherStatus.REFUNDED.value)
    )
    order.status = (
        OrderStatus.REFUNDED if remaining == 0 else OrderStatus.PARTIALLY_REFUNDED
    ).value
    request.status, request.open_order_id = RefundStatus.REFUNDED.value, None
    request.refunded_at, request.last_error, request.paying_since = now(), None, None
    audit.record(
        "refund_request",
        request.id,
        "refund.paid",
        actor_id=None,
        data={"provider_refund": refund_id, "amount": request.amount},
    )
    audit.record(
        "order",
        order.id,
        f"order.{order.status}",
        actor_id=None,
        data={"refund_request_id": request.id},
    )


def retry_approved(*, limit: int = 100) -> dict[str, int]:
    """Job: carry out every approved refund not yet paid (provider down, a crash)."""
    ids = db.session.scalars(
        sa.select(RefundRequest.id)
        .where(RefundRequest.status == RefundStatus.APPROVED_PENDING_REFUND.value)
        .order_by(RefundRequest.id)
        .limit(limit)
    ).all()
    db.session.commit()
    outcomes: dict[str, int] = {}
    for request_id in ids:
        status = execute(request_id).status
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


# -- lists ---------------------------------------------------------------------------------


def queue(status: str | None) -> sa.Select:
    query = sa.select(RefundRequest)
    if status:
        query = query.where(RefundRequest.status == status)
    else:
        query = query.where(RefundRequest.status.in_([s.value for s in OPEN_STATUSES]))
    return query.order_by(RefundRequest.created_at, RefundRequest.id)


def for_order(order_id: int, shopper: User) -> list[RefundRequest]:
    _own_order(order_id, shopper)
    return list(
        db.session.scalars(
            sa.select(RefundRequest)
            .where(RefundRequest.order_id == order_id)
            .order_by(RefundRequest.id.desc())
        )
    )


def expired_unused() -> sa.Select:
    """Vouchers never used before they expired: customer service calls the shopper."""
    return (
        sa.select(Voucher)
        .where(
            sa.or_(
                Voucher.status == VoucherStatus.EXPIRED.value,
                sa.and_(
                    Voucher.status == VoucherStatus.ACTIVE.value,
                    Voucher.valid_until < local_today(),
                ),
            )
        )
        .order_by(Voucher.valid_until, Voucher.id)
    )
