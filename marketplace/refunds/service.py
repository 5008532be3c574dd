"""Manual refunds, end to end, as a state machine that recovers from a crash at any step.

    pending ──approve──▶ approved_pending_refund ──(provider refund succeeded + voids)──▶ refunded
       │                        │   ▲
       └──reject──▶ rejected    │   └─(provider refund pending: wait for refund.updated / the job)
                                └──(a voucher was used meanwhile, or the provider's refund
                                    failed/was cancelled: vouchers usable again, CS told)──▶ failed

Carrying out an approved refund (``execute``) takes three short transactions:
1. *prepare*: the vouchers go ``active → refunding`` (no longer redeemable) — or, if one was
   redeemed meanwhile, the request fails cleanly and nothing is paid;
2. *pay*: the provider refund, outside any transaction, carrying the request id in its
   metadata (and as Idempotency-Key, which real Stripe honours);
3. *finish*, only once the provider's refund has ``succeeded`` (``pending`` is not money
   back): record the provider refund, void the vouchers, cancel or claw back commission,
   return stock, update the order — all in one transaction.
Recovery (``retry_approved``, a job) re-runs ``execute``: before paying again it asks the
provider for a refund already made for this request, so money is never paid twice even by a
provider that ignores idempotency keys (localstripe does).

Locking follows the rule every money event follows: the order's row first (``_lock_mine``
takes it before the refund request), and the order's other rows only while holding it.
Provider events about the same order (``money_returned_outside``,
``provider_refund_changed``) lock the order first too, so on PostgreSQL they wait for each
other and never deadlock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, lazyload

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db, locked, on_rollback
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.ledger import service as ledger
from marketplace.orders import actions
from marketplace.orders import service as orders
from marketplace.orders.models import PAID_STATUSES, Order
from marketplace.orders.service import OrderNotFound
from marketplace.providers.notifier import tell_customer_service
from marketplace.providers.stripe import (
    ProviderError,
    ProviderUnavailable,
    idempotency_key,
    stripe,
)
from marketplace.refunds.models import (
    OPEN_STATUSES,
    RefundItem,
    RefundReason,
    RefundRequest,
    RefundStatus,
)
from marketplace.vouchers import service as vouchers_service
from marketplace.vouchers.models import Voucher, VoucherStatus

log = logging.getLogger(__name__)
ALERT_AFTER_ATTEMPTS = 5
PAYING_LEASE = timedelta(seconds=60)
# The vouchers a shopper may ask a refund for: unused ones, expired included (a used one
# needs an admin override).
SHOPPER_REFUNDABLE = (VoucherStatus.ACTIVE.value, VoucherStatus.EXPIRED.value)


class RefundNotFound(NotFound):
    code = "refund_request_not_found"
    message = "No such refund request."


def _vouchers(order: Order, codes: list[str] | None, allowed: tuple[str, ...]) -> list[Voucher]:
    if order.amount == 0:
        # a prize (the free-meal giveaway): no money came in, so none can go back
        raise Conflict("A free order has nothing to refund.", code="nothing_to_refund")
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
    order = orders.get_order(order_id, shopper)
    if order.status not in [s.value for s in PAID_STATUSES]:
        raise Conflict(f"A {order.status} order cannot be refunded.", code="order_not_refundable")
    vouchers = _vouchers(order, voucher_codes, SHOPPER_REFUNDABLE)
    return _open_request(
        order, vouchers, reason=reason, reason_text=reason_text, actor_id=shopper.id
    )


def _open_request(
    order: Order,
    vouchers: list[Voucher],
    *,
    reason: str,
    reason_text: str,
    actor_id: int | None,
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


def approve_and_pay(
    request_id: int, actor: User, *, note: str = "", key: str | None = None
) -> RefundRequest:
    """Customer service approves a request and the money goes back at once. Owns its
    transactions: the approval is committed before the provider is asked anything (a crash
    or an outage leaves it ``approved_pending_refund`` for the retry job), then ``execute``
    commits each of its steps."""
    approve(request_id, actor, note=note, key=key)
    db.session.commit()
    return execute(request_id)


def override_and_pay(
    order_id: int, actor: User, *, reason: str, voucher_codes: list[str] | None = None
) -> RefundRequest:
    """An admin refunds vouchers even if used (``admin_override``) and the money goes back
    at once; owns its transactions like ``approve_and_pay``."""
    request = admin_override(order_id, actor, reason=reason, voucher_codes=voucher_codes)
    db.session.commit()
    return execute(request.id)


def _lock(request_id: int) -> RefundRequest:
    """The request, with its order's row lock and then its own (``_lock_mine``)."""
    request = _lock_mine(request_id)
    if request is None:
        raise RefundNotFound()
    return request


def _lock_mine(request_id: int) -> RefundRequest | None:
    """Lock the request's order, then the request: the one lock order of every money event
    (order → refund request → vouchers), so a refund being finished and a provider event
    about the same order (which locks the order first) queue up instead of deadlocking on
    PostgreSQL. The request's ``order_id`` never changes, so it is read without a lock.
    The request is read afresh once locked."""
    order_id = db.session.scalar(
        sa.select(RefundRequest.order_id).where(RefundRequest.id == request_id)
    )
    if order_id is None:
        return None
    orders.lock_order(order_id)
    return locked(RefundRequest, request_id)


# -- carrying out an approved refund -------------------------------------------------------


def execute(request_id: int) -> RefundRequest:
    """Carry out an approved refund (see the module docstring). Commits its own steps; safe
    to call again at any point."""
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
        if already:  # made earlier (pending then, or found after a crash): where is it now?
            refund = stripe().retrieve_refund(already)
        else:
            refund = _pay(payment_intent, amount, metadata, key, first_try)
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
            tell_customer_service(
                f"Refund request #{request.id} (order {request.order_id}, "
                f"¥{request.amount / 100:.2f}) failed {request.provider_attempts} times at the "
                f"payment provider ({request.last_error}); please act."
            )
        db.session.commit()
        return request
    request = _lock(request_id)
    _settle(request, refund)
    db.session.commit()
    return request


PAID, WAITING = ("succeeded",), ("pending", "requires_action")


def _settle(request: RefundRequest, refund: dict[str, Any]) -> str:
    """Act on the provider's refund as it stands. Only ``succeeded`` is money back: a
    ``pending`` refund keeps the vouchers unredeemable and the request open (the provider's
    refund.updated event or the retry job finishes it); ``failed``/``canceled`` means no
    money moved."""
    status = refund.get("status") or "succeeded"
    if request.status != RefundStatus.APPROVED_PENDING_REFUND.value:
        return "not_open"
    request.paying_since = None
    if status in PAID:
        _finish(request, refund["id"])
        return "refunded"
    if status in WAITING:
        if request.provider_refund_id != refund["id"]:
            request.provider_refund_id = refund["id"]
            audit.record(
                "refund_request",
                request.id,
                "refund.provider_pending",
                actor_id=None,
                data={"provider_refund": refund["id"], "status": status},
            )
        return "refund_pending"
    _provider_failed(request, refund)
    return "refund_failed"


def _provider_failed(request: RefundRequest, refund: dict[str, Any]) -> None:
    """The provider could not pay the refund back (a closed card, a cancelled refund): the
    vouchers are the shopper's again (nothing was paid for them) and CS must sort it out."""
    vouchers = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_([i.voucher_id for i in request.items]))
        .with_for_update()
    ).all()
    for voucher in vouchers:
        vouchers_service.release_from_refund(voucher)
    request.status, request.open_order_id = RefundStatus.FAILED.value, None
    request.failure_code = "provider_refund_failed"
    request.provider_refund_id = request.provider_refund_id or refund.get("id")
    request.last_error = f"provider refund {refund.get('status')}: {refund.get('failure_reason')}"[
        :200
    ]
    audit.record(
        "refund_request",
        request.id,
        "refund.failed",
        actor_id=None,
        reason="the payment provider could not pay the refund",
        data={"provider_refund": refund.get("id"), "failure_reason": refund.get("failure_reason")},
    )
    tell_customer_service(
        f"Refund request #{request.id} (order {request.order_id}, ¥{request.amount / 100:.2f}): "
        f"the provider's refund {refund.get('id')} {refund.get('status')} "
        f"({refund.get('failure_reason') or 'no reason given'}). Nothing was paid back; "
        "the vouchers are usable again. Please contact the shopper."
    )


def _held_elsewhere(voucher_ids: list[int], request_id: int | None) -> set[int]:
    """The vouchers among ``voucher_ids`` that another request holds: an approved request
    that has taken its vouchers out of use (prepared: it has asked the provider, or it is
    money that went back outside Linli, recorded with its provider id). A voucher in
    ``refunding`` belongs to exactly one such request."""
    if not voucher_ids:
        return set()
    query = (
        sa.select(RefundItem.voucher_id)
        .join(RefundRequest, RefundRequest.id == RefundItem.request_id)
        .where(
            RefundItem.voucher_id.in_(voucher_ids),
            RefundRequest.status == RefundStatus.APPROVED_PENDING_REFUND.value,
            sa.or_(
                RefundRequest.provider_attempts > 0,
                RefundRequest.provider_refund_id.is_not(None),
            ),
        )
    )
    if request_id is not None:
        query = query.where(RefundRequest.id != request_id)
    return set(db.session.scalars(query))


def _prepare(request: RefundRequest) -> bool:
    """Make the request's vouchers unredeemable; False (and the request failed) if one was
    used meanwhile — unless an admin override covers used vouchers. Vouchers another request
    holds (money that went back outside Linli meanwhile) or that are refunded already are
    not this request's to pay for: it refunds only what is left, or fails if nothing is."""
    vouchers = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_([i.voucher_id for i in request.items]))
        .with_for_update()
    ).all()
    held = _held_elsewhere([v.id for v in vouchers], request.id)
    gone = [v for v in vouchers if v.id in held or v.status == VoucherStatus.REFUNDED.value]
    if gone:
        vouchers = [v for v in vouchers if v not in gone]
        _give_up_vouchers(request, gone, left=vouchers)
        if not vouchers:
            return False
    usable = {
        VoucherStatus.ACTIVE.value,
        VoucherStatus.EXPIRED.value,
        VoucherStatus.REFUNDING.value,  # not held elsewhere: ours, from an earlier attempt
    }
    if request.admin_override:
        usable.add(VoucherStatus.REDEEMED.value)
    spoiled = [v.code for v in vouchers if v.status not in usable]
    if spoiled:
        for voucher in vouchers:
            vouchers_service.release_from_refund(voucher)
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
        vouchers_service.hold_for_refund(voucher)
    return True


def _give_up_vouchers(request: RefundRequest, gone: list[Voucher], *, left: list[Voucher]) -> None:
    """Some of the request's vouchers were paid back another way (outside Linli) before it
    was paid: it keeps only the rest — or, with none left, fails — and CS is told."""
    codes = ", ".join(v.code for v in gone)
    keep = {v.id for v in left}
    request.items = [i for i in request.items if i.voucher_id in keep]
    request.amount = request.order.unit_price * len(left)
    if left:
        audit.record(
            "refund_request",
            request.id,
            "refund.reduced",
            actor_id=None,
            reason="vouchers were paid back outside Linli meanwhile",
            data={"vouchers": [v.code for v in gone], "amount": request.amount},
        )
        tell_customer_service(
            f"Refund request #{request.id} (order {request.order_id}): vouchers {codes} were "
            f"already paid back outside Linli; only ¥{request.amount / 100:.2f} is refunded."
        )
        return
    request.status, request.open_order_id = RefundStatus.FAILED.value, None
    request.failure_code = "refunded_outside"
    audit.record(
        "refund_request",
        request.id,
        "refund.failed",
        actor_id=None,
        reason="every voucher was already paid back outside Linli",
        data={"vouchers": [v.code for v in gone]},
    )
    tell_customer_service(
        f"Refund request #{request.id} (order {request.order_id}): nothing paid — vouchers "
        f"{codes} were already paid back outside Linli (a dashboard refund or a dispute)."
    )


def _pay(
    payment_intent: str, amount: int, metadata: dict, key: str, first_try: bool
) -> dict[str, Any]:
    request_id = metadata["refund_request_id"]
    if not first_try:  # an earlier attempt may have paid before we could record it
        for refund in stripe().list_refunds(payment_intent):
            if str((refund.get("metadata") or {}).get("refund_request_id")) == str(request_id):
                return refund
    return stripe().create_refund(
        payment_intent=payment_intent,
        amount=amount,
        metadata=metadata,
        idempotency_key=key,
    )


def _outside(request: RefundRequest) -> bool:
    """Money that went back without Linli asking (``money_returned_outside``): nobody
    decided it, and it carries the provider's note as its override reason."""
    return request.decided_by_id is None and request.override_reason is not None


def _finish(request: RefundRequest, refund_id: str) -> None:
    """The provider's refund succeeded: the request is paid, and the vouchers it paid for
    are refunded (``orders.actions.vouchers_refunded`` books what follows from that)."""
    if request.status != RefundStatus.APPROVED_PENDING_REFUND.value:
        return
    order = request.order  # locked by the caller before the request (``_lock_mine``)
    request.provider_refund_id = refund_id
    vouchers = db.session.scalars(
        sa.select(Voucher)
        .where(Voucher.id.in_([i.voucher_id for i in request.items]))
        .with_for_update()
    ).all()
    # Only the vouchers this request took out of use: never one another request holds or
    # one already refunded (money is booked and stock returned once per voucher).
    held = _held_elsewhere([v.id for v in vouchers], request.id)
    movable = {VoucherStatus.REFUNDING.value}
    if request.admin_override:
        movable.add(VoucherStatus.REDEEMED.value)
    vouchers = [v for v in vouchers if v.status in movable and v.id not in held]
    # Money that went back outside Linli beyond the vouchers it voided is booked, once.
    remainder = request.amount - order.unit_price * len(vouchers) if _outside(request) else 0
    actions.vouchers_refunded(
        order,
        vouchers,
        refund_id=refund_id,
        request_id=request.id,
        actor_id=request.decided_by_id,
        remainder=max(remainder, 0),
    )
    request.status, request.open_order_id = RefundStatus.REFUNDED.value, None
    request.refunded_at, request.last_error, request.paying_since = now(), None, None
    audit.record(
        "refund_request",
        request.id,
        "refund.paid",
        actor_id=None,
        data={"provider_refund": refund_id, "amount": request.amount},
    )


# -- money that goes back without a shopper's request ---------------------------------------


def _system_request(order: Order, amount: int, note: str, **fields: Any) -> RefundRequest:
    """A request Linli approves itself (no shopper asked, no CS decided): it is not the
    order's open request, so it never blocks the shopper's own."""
    return RefundRequest(
        order=order,
        shopper_id=order.shopper_id,
        status=RefundStatus.APPROVED_PENDING_REFUND.value,
        reason=RefundReason.OTHER.value,
        reason_text=note[:500],
        amount=amount,
        open_order_id=None,
        decided_at=now(),
        **fields,
    )


def open_system_refund(order: Order, amount: int, *, note: str) -> RefundRequest:
    """Linli itself must give money back that bought nothing (a payment that arrived after
    the order expired and its units were gone, a payment of the wrong amount): an approved
    request without vouchers, carried out by ``execute`` like any other — outside the
    order's lock, crash-safe, retried by the job, and CS is told."""
    request = _system_request(
        order,
        amount,
        note,
        items=[],
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        "refund_request",
        request.id,
        "refund.system",
        actor_id=None,
        reason=note,
        data={"order_id": order.id, "amount": amount},
    )
    tell_customer_service(
        f"Order {order.id}: ¥{amount / 100:.2f} is being refunded automatically — {note}"
    )
    db.session.info.setdefault("linli.refunds_due", []).append(request.id)
    on_rollback(lambda: db.session.info.pop("linli.refunds_due", None))
    return request


def execute_due() -> None:
    """Carry out, after the caller's commit, the refunds its transaction opened."""
    for request_id in db.session.info.pop("linli.refunds_due", []):
        try:
            execute(request_id)
        except RefundNotFound:  # its transaction rolled back
            db.session.rollback()


def provider_refund_changed(refund: dict[str, Any]) -> str:
    """A refund's state changed at the provider (refund.updated / refund.failed). One of
    ours finishes or fails by the same rules as ``execute``; one made outside Linli (the
    dashboard) is recorded like ``charge.refunded``."""
    request = _request_for(refund)
    if request is None:
        return "not_ours"
    status = refund.get("status")
    if request.status == RefundStatus.APPROVED_PENDING_REFUND.value:
        return _settle(request, refund)
    if request.status == RefundStatus.REFUNDED.value and status in ("failed", "canceled"):
        # Recorded as paid, and the provider now says the money never arrived (a refund can
        # fail days later). The vouchers stay void — the shopper was promised the money —
        # and CS must pay it another way; the reconciliation shows the gap until then.
        if request.failure_code != "provider_refund_failed":
            request.failure_code = "provider_refund_failed"
            request.last_error = f"provider refund {status}: {refund.get('failure_reason')}"[:200]
            audit.record(
                "refund_request",
                request.id,
                "refund.failed_after_paid",
                actor_id=None,
                data={"provider_refund": refund.get("id"), "status": status},
            )
            tell_customer_service(
                f"Refund request #{request.id} (order {request.order_id}, "
                f"¥{request.amount / 100:.2f}) was paid, but the provider's refund "
                f"{refund.get('id')} has now {status} ({refund.get('failure_reason') or '-'}): "
                "the shopper has not got the money. Please pay it back another way."
            )
        return "refund_failed_after_paid"
    return "already_recorded"  # nothing new about a refund we know


def _request_for(refund: dict[str, Any]) -> RefundRequest | None:
    request_id = db.session.scalar(
        sa.select(RefundRequest.id).where(RefundRequest.provider_refund_id == refund.get("id"))
    )
    if request_id is None:
        ours = str((refund.get("metadata") or {}).get("refund_request_id") or "")
        request_id = int(ours) if ours.isascii() and ours.isdigit() and len(ours) < 12 else None
    if request_id is None:
        return None
    request = _lock_mine(request_id)
    if request is None or request.order.payment_intent_id != refund.get("payment_intent"):
        return None
    return request


def money_returned_outside(
    order_id: int, *, provider_id: str, amount: int, status: str, note: str
) -> str:
    """Money went back to the shopper without Linli asking: a refund made in the provider's
    dashboard (``re_…``) or a dispute (``dp_…``, its amount withdrawn at once). The vouchers
    that money paid for stop being redeemable and the order, ledger and commission follow,
    through the same request and ``_finish`` as every refund; CS is told.

    The vouchers: as many whole units as the amount covers (unused ones first, then used
    ones, which cost the platform as an override would), never one another request holds
    (it is being paid back already). The money beyond the vouchers voided (a goodwill
    gesture short of a unit, vouchers already being refunded, an order already refunded,
    expired or refused) is booked as the platform's cost when the money has left (``_finish``).
    Recorded once per provider id; CS is told every time."""
    if status not in PAID + WAITING:
        return "ignored"  # nothing left the account
    order = orders.lock_order(order_id)  # one piece of news per order at a time
    if db.session.scalar(
        sa.select(RefundRequest.id).where(RefundRequest.provider_refund_id == provider_id)
    ):
        return "already_recorded"
    if order is None:
        return "ignored"
    # An order refunded, expired or refused already: no voucher is left to void, but the
    # money left all the same — booked as the platform's cost when it succeeds, CS told.
    settled = order.status not in [s.value for s in PAID_STATUSES]
    # Never a voucher another request holds (``refunding``, or a used one an override is
    # paying for): that one is paid back already; this money beyond it is a remainder.
    rank = {
        VoucherStatus.ACTIVE.value: 0,
        VoucherStatus.EXPIRED.value: 0,
        VoucherStatus.REDEEMED.value: 2,
    }
    mine = db.session.scalars(
        sa.select(Voucher).where(Voucher.order_id == order.id).with_for_update()
    ).all()
    held = _held_elsewhere([v.id for v in mine], None)
    candidates = sorted(
        (v for v in mine if v.status in rank and v.id not in held and not settled),
        key=lambda v: (rank[v.status], v.id),
    )
    units = min(amount // order.unit_price, len(candidates))
    chosen = candidates[:units]
    request = _system_request(
        order,
        amount,
        note,
        items=[RefundItem(voucher_id=v.id) for v in chosen],
        admin_override=any(v.status == VoucherStatus.REDEEMED.value for v in chosen),
        override_reason=note[:500],
        provider_refund_id=provider_id,
    )
    try:
        with db.session.begin_nested():  # the same news twice at once: one record
            db.session.add(request)
            db.session.flush()
    except sa.exc.IntegrityError:
        return "already_recorded"
    for voucher in chosen:
        vouchers_service.hold_for_refund(voucher)  # not redeemable from now on
    audit.record(
        "refund_request",
        request.id,
        "refund.outside_linli",
        actor_id=None,
        reason=note,
        data={
            "order_id": order.id,
            "provider_id": provider_id,
            "amount": amount,
            "status": status,
            "vouchers": [v.code for v in chosen],
        },
    )
    remainder = amount - units * order.unit_price
    if status in PAID:
        _finish(request, provider_id)  # books the remainder too
    tell_customer_service(
        f"Order {order.id}: ¥{amount / 100:.2f} went back to the shopper outside Linli "
        f"({note}; {status}). Vouchers no longer redeemable: "
        f"{', '.join(v.code for v in chosen) or 'none'}"
        + (f"; ¥{remainder / 100:.2f} covers no whole unit" if remainder else "")
        + (f" (the order was already {order.status})" if settled else "")
        + ("; booked as the platform's cost." if remainder else ".")
    )
    return "recorded_outside_refund"


def dispute_closed(order_id: int, dispute: dict[str, Any]) -> str:
    """A dispute ended (``charge.dispute.closed``). Lost: the money stays with the card
    holder, as booked when it opened. Won: the provider gives the amount back — booked once
    per dispute as the platform's (the vouchers it voided stay void) and CS is told, to
    decide whether the shopper gets anything back."""
    dispute_id, status, amount = str(dispute["id"]), dispute.get("status"), int(dispute["amount"])
    if status != "won":
        return "ignored"  # lost: already booked when the dispute opened; others not final
    order = orders.lock_order(order_id)
    recorded = db.session.scalars(
        sa.select(RefundRequest).where(RefundRequest.provider_refund_id == dispute_id)
    ).first()
    if order is None or recorded is None or recorded.status != RefundStatus.REFUNDED.value:
        tell_customer_service(
            f"Order {order_id}: dispute {dispute_id} was won (¥{amount / 100:.2f} back from "
            "the provider), but Linli never booked it as withdrawn; please check the payment."
        )
        return "dispute_won_unknown"
    # The whole of this event is one posting: the vouchers it voided stay void and the
    # order keeps its status, so there is nothing for ``orders.actions`` to compose.
    if ledger.dispute_won(order, dispute_id, amount) is None:
        return "already_recorded"
    audit.record(
        "refund_request",
        recorded.id,
        "refund.dispute_won",
        actor_id=None,
        data={"order_id": order.id, "dispute": dispute_id, "amount": amount},
    )
    tell_customer_service(
        f"Order {order.id}: dispute {dispute_id} was won — ¥{amount / 100:.2f} came back from "
        f"the provider (withdrawn ¥{recorded.amount / 100:.2f} when it opened) and is booked as "
        "the platform's. The vouchers it voided stay void: decide whether the shopper gets "
        "anything back."
    )
    return "dispute_won"


def retry_approved(*, limit: int | None = 100, reason_text: str | None = None) -> dict[str, int]:
    """Job: carry out every approved refund not yet paid (provider down, a crash), oldest
    first, ``limit`` a run (None: all); ``reason_text``: only those opened with it (the
    automatic expiry refunds, ``AUTO_EXPIRED``). Returns how many ended in each status."""
    query = (
        sa.select(RefundRequest.id)
        .where(RefundRequest.status == RefundStatus.APPROVED_PENDING_REFUND.value)
        .order_by(RefundRequest.id)
        .limit(limit)
    )
    if reason_text is not None:
        query = query.where(RefundRequest.reason_text == reason_text)
    ids = db.session.scalars(query).all()
    db.session.commit()
    outcomes: dict[str, int] = {}
    for request_id in ids:
        status = execute(request_id).status
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


# -- [care] the automatic refund of expired unused vouchers (过期自动退) -------------------
# The deal's operator chose ``auto_refund``: the day after expiry the platform opens the
# request already approved (no agent decides) and ``execute`` pays it like any other, so
# the crash-safety above holds: the one open request per order makes a second run (or two
# runs at once) a no-op, and a run that died before paying is finished by the next one.
AUTO_EXPIRED = "auto_refund_expired"  # the request's reason_text: how the job finds its own


def open_expired_refund(order_id: int) -> RefundRequest | None:
    """Open the approved request for the order's vouchers left unused past validity
    (``None``: nothing to refund, or a request is open already). Flushes; the caller
    commits, then ``execute``s."""
    order = orders.lock_order(order_id)
    if order is None or order.status not in [s.value for s in PAID_STATUSES]:
        return None
    if order.amount == 0:
        return None  # a giveaway prize: no money came in, none goes back
    vouchers = list(
        db.session.scalars(
            sa.select(Voucher)
            .where(Voucher.order_id == order.id, vouchers_service.unused_at_expiry())
            .order_by(Voucher.id)
        )
    )
    if not vouchers:
        return None
    try:
        return _open_request(
            order,
            vouchers,
            reason=RefundReason.OTHER.value,
            reason_text=AUTO_EXPIRED,
            actor_id=None,  # the platform, by the deal's rule
            status=RefundStatus.APPROVED_PENDING_REFUND,
            decided_at=now(),
        )
    except Conflict:
        return None  # an open request (ours from an earlier run, or the shopper's) pays it


# -- [/care] ----------------------------------------------------------------------------------


# -- lists ---------------------------------------------------------------------------------


def queue(status: str | None) -> sa.Select:
    """Refund requests for customer service, oldest first, with the shopper who asked (the
    queue shows the phone; it does not show the vouchers, so they are not loaded)."""
    query = sa.select(RefundRequest).options(
        joinedload(RefundRequest.shopper), lazyload(RefundRequest.items)
    )
    if status:
        query = query.where(RefundRequest.status == status)
    else:
        query = query.where(RefundRequest.status.in_([s.value for s in OPEN_STATUSES]))
    return query.order_by(RefundRequest.created_at, RefundRequest.id)


def stuck_after_provider_failure() -> sa.ColumnElement[bool]:
    """An approved refund the provider has failed to pay at least once (down, an error):
    the retry job keeps trying, but customer service should look at it first."""
    return sa.and_(
        RefundRequest.status == RefundStatus.APPROVED_PENDING_REFUND.value,
        RefundRequest.last_error.is_not(None),
    )


def cs_queue(status: str | None) -> sa.Select:
    """Customer service's queue as the console shows it: ``queue``'s requests, those stuck
    after provider failures first, then oldest first."""
    stuck = sa.case((stuck_after_provider_failure(), 0), else_=1)
    return queue(status).order_by(None).order_by(stuck, RefundRequest.created_at, RefundRequest.id)


def queue_summary() -> dict[str, Any]:
    """The queue in three figures for customer service's landing panel: open requests,
    those stuck after provider failures, and when the oldest pending one was asked."""
    open_count, oldest = db.session.execute(
        sa.select(sa.func.count(RefundRequest.id), sa.func.min(RefundRequest.created_at)).where(
            RefundRequest.status == RefundStatus.PENDING.value
        )
    ).one()
    stuck = db.session.scalar(
        sa.select(sa.func.count(RefundRequest.id)).where(stuck_after_provider_failure())
    )
    return {"pending": int(open_count), "oldest_at": oldest, "stuck": int(stuck)}


def for_order(order_id: int, shopper: User) -> list[RefundRequest]:
    orders.get_order(order_id, shopper)  # the shopper's own, else 404
    return list(
        db.session.scalars(
            sa.select(RefundRequest)
            .where(RefundRequest.order_id == order_id)
            .options(lazyload(RefundRequest.items))  # not shown
            .order_by(RefundRequest.id.desc())
        )
    )


def expired_unused() -> sa.Select:
    """Vouchers never used before they expired: customer service calls the shopper."""
    return (
        sa.select(Voucher)
        .where(vouchers_service.unused_at_expiry())
        .order_by(Voucher.valid_until, Voucher.id)
    )


def shopper_phones(vouchers: list[Voucher]) -> dict[int, str | None]:
    """The phone of each voucher's shopper (customer service calls about expired-unused
    vouchers), read in one query."""
    ids = {v.shopper_id for v in vouchers}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.phone).where(User.id.in_(ids))).all())
