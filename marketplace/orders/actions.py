"""The money events of an order, each composed in exactly one function (after Saleor's
``order/actions.py``): what placing, paying, expiring, redeeming, refunding and vouchers
running out mean for stock, the vouchers, the ledger, distributors' commission, the audit
trail and the order's status. An event about an existing order locks the order's row first
(``service.lock_order``, by the event or its caller), before anything else of the order's (a
refund request, its vouchers, their commission), so two events about one order queue up
instead of deadlocking.

Callers (views, jobs, the refund state machine, payment syncing, the seed, tests) call these
and never compose the consequences themselves. They flush and leave the commit to the caller,
except ``place_order`` and ``start_payment``, which own their transactions because the order
must be committed before the payment provider is asked anything.

The order's status after payment is never set by hand: ``follow_vouchers`` derives it from
the vouchers, and every event that changes a voucher calls it.

The ledger: these events post the order's and its vouchers' money; a commission entry's own
posting (earned, reversed, clawed back) is made by ``distribution.commission`` with the
entry's change, inside the same event and transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.accounts.principals import Principal, user_of
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.core.errors import InvalidInput
from marketplace.deals import service as deals
from marketplace.deals.availability import on_sale, still_selling
from marketplace.deals.errors import SoldOut
from marketplace.deals.models import Deal, DealStatus
from marketplace.distribution import commission
from marketplace.ledger import service as ledger
from marketplace.orders import service, stock
from marketplace.orders.models import Order, OrderStatus
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher, VoucherStatus
from merchants.models import Merchant

# -- order placed ----------------------------------------------------------------------------


def place_order(
    shopper: User | Principal,
    deal_id: int,
    quantity: int,
    *,
    idempotency_key: str | None = None,
    ref: str | None = None,
    screen: stock.Screen | None = None,
) -> tuple[Order, bool]:
    """Buy: reserve ``quantity`` units, create a pending order with today's prices, and
    start its payment. Owns its transactions: the order is committed *before* the provider
    is asked for a PaymentIntent, so a provider failure can never lose it
    (ProviderUnavailable then leaves it pending; a retry with the same key completes it).

    With an ``idempotency_key`` a repeat of the same request returns the first order
    (``created`` False); the same key with another body is a 409. ``shopper``: the user, or
    the request's principal (only an admitted buyer's ``User`` row is loaded); ``screen``:
    what the request already read from Redis for the screen (``stock.screen_reads``)."""
    session = db.session()
    keep = session.expire_on_commit
    # What is answered is the order just placed, as placed: its commits need not make the
    # session read it back (a flash winner's statements are the opening's cost).
    session.expire_on_commit = False
    try:
        order, created = _place(
            shopper, deal_id, quantity, idempotency_key=idempotency_key, ref=ref, screen=screen
        )
        session.commit()  # the order exists before the provider is asked anything
        order = service.attach_payment(order)
        session.commit()
    finally:
        session.expire_on_commit = keep
    return order, created


def start_payment(order_id: int, shopper: User) -> Order:
    """Start (or show) the payment of the shopper's pending order, e.g. after the provider
    was down or a card was declined. Owns its transaction, like ``place_order``."""
    order = service.attach_payment(service.payable_order(order_id, shopper))
    db.session.commit()
    return order


def _place(
    shopper: User | Principal,
    deal_id: int,
    quantity: int,
    *,
    idempotency_key: str | None = None,
    ref: str | None = None,
    screen: stock.Screen | None = None,
) -> tuple[Order, bool]:
    """Reserve the units and create the pending order with today's prices (flushed, not
    committed): the screen, the reservation, the distributor attribution, the audit.

    The screen (``stock.admit``: the deal's cached sale state and the flash gate, in Redis)
    answers a refused attempt — sold out, over the limit, not on sale, not open yet, closed
    — without a database statement, so a flash crowd turned away never reaches the
    database. Only a refused shopper who bought this deal before and sent an
    Idempotency-Key is looked up: their request may repeat a purchase that went through,
    whose order is the answer (200) even though the deal is now sold out; a refused twin
    of an attempt still in flight (a double tap) waits for that attempt's order.
    ``screen``: what the request read for the screen with its principal."""
    body_hash = service.request_hash({"deal_id": deal_id, "quantity": quantity})
    if not 1 <= quantity <= service.MAX_QUANTITY:
        raise InvalidInput(fields={"quantity": [f"Buy 1 to {service.MAX_QUANTITY} at a time."]})
    moment = now()
    try:
        admission = stock.admit(
            deal_id, shopper.id, quantity, moment, key=idempotency_key, screen=screen
        )
    except stock.Refused as refused:
        if idempotency_key and refused.may_repeat:
            existing = service.by_key(shopper, idempotency_key)
            if existing is None and refused.in_flight:
                # a double tap: its twin was admitted with this key and is still buying
                existing = stock.await_twin(
                    deal_id,
                    shopper.id,
                    idempotency_key,
                    lambda: service.by_key(shopper, idempotency_key),
                )
            if existing is not None:
                return service.repeat(existing, body_hash), False
        raise refused.error from None
    # Admitted: from here on the database, the record, decides. One purchase of a shopper
    # at a time, so a repeat of this request that finished meanwhile is seen (the locked
    # row is the buyer's User, loaded by the same statement).
    buyer = stock.lock_shopper(shopper.id) or user_of(shopper)
    # A key the flash gate had never recorded for this deal (it was just claimed) has no
    # order of this deal; one of another deal is caught by the unique key at the INSERT.
    if idempotency_key and not admission.claimed:
        existing = service.by_key(shopper, idempotency_key)
        if existing is not None:
            admission.give_back()
            return service.repeat(existing, body_hash), False
    deal = db.session.scalars(
        sa.select(Deal)
        .join(Deal.merchant)
        .where(Deal.id == deal_id, *on_sale(moment))
        # the merchant's BD owner (and their roles) are not part of a purchase
        .options(sa.orm.joinedload(Deal.merchant).lazyload(Merchant.owner))
    ).first()
    if deal is None:  # the screen's copy was a moment old; the admission goes back
        existing_deal = db.session.get(Deal, deal_id)
        if existing_deal is None:
            raise InvalidInput(fields={"deal_id": ["No such deal."]}, code="deal_not_found")
        if existing_deal.status == DealStatus.SOLD_OUT.value:
            raise SoldOut()
        raise service.DealNotOnSale()
    stock.check_limit(deal, buyer, quantity)
    order = Order(
        shopper_id=buyer.id,
        deal=deal,
        merchant_id=deal.merchant_id,
        quantity=quantity,
        unit_price=deal.sale_price,
        settlement_price=deal.settlement_price,
        subsidy=deal.subsidy,
        commission_l1=deal.commission_l1,
        commission_l2=deal.commission_l2,
        amount=deal.sale_price * quantity,
        status=OrderStatus.PENDING_PAYMENT.value,
        expires_at=moment + timedelta(minutes=current_app.config["LINLI_ORDER_PAYMENT_MINUTES"]),
        idempotency_key=idempotency_key,
        request_hash=body_hash,
    )
    commission.snapshot_attribution(order, buyer, ref)
    db.session.add(order)
    try:
        db.session.flush()  # no SAVEPOINT: a clash rolls the whole attempt back anyway
    except IntegrityError:
        # The same key raced us and won: its order is the answer (our reservation is
        # rolled back with this request).
        db.session.rollback()
        winner = service.by_key(shopper, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        if winner.request_hash != body_hash:
            raise service.IdempotencyKeyReused() from None
        return winner, False
    audit.record(
        "order",
        order.id,
        "order.placed",
        actor_id=buyer.id,
        data={"deal_id": deal.id, "quantity": quantity, "amount": order.amount},
    )
    stock.take(deal, quantity)  # last: the deal's row stays locked only until the commit
    return order, True


# -- free order (a giveaway prize) ---------------------------------------------------------


def place_free_order(
    shopper_id: int, deal: Deal, *, settlement_price: int, key: str, source: str
) -> tuple[Order, bool]:
    """One free unit of ``deal`` for the shopper (a prize of the free-meal giveaway): an
    order of amount 0, paid at once, its voucher issued and its (empty) payment posted by
    the same functions as a purchase's (``ledger.order_paid``, ``vouchers.issue_for``,
    ``follow_vouchers``). ``settlement_price`` is what the merchant is owed when the voucher
    is redeemed, posted by ``ledger.voucher_redeemed`` like any redemption: 0 when the
    merchant gives the meal as a promotion, the deal's settlement price when the platform
    pays for it (the platform's account then carries it).

    No distributor attribution, so no commission; the deal's stock and sold count are not
    touched (the meals are agreed on top of the paid sale, so they cannot oversell it); the
    paid order holds its unit like any other, so it counts against the winner's
    per-shopper limit (``stock.held_units``). Idempotent by ``key`` (the orders' unique
    shopper + Idempotency-Key): a repeat returns the first order (``created`` False).
    Flushes; the caller commits."""
    shopper = db.session.get(User, shopper_id)
    existing = service.by_key(shopper, key)
    if existing is not None:
        return existing, False
    moment = now()
    order = Order(
        shopper_id=shopper_id,
        deal=deal,
        merchant_id=deal.merchant_id,
        quantity=1,
        unit_price=0,
        settlement_price=settlement_price,
        subsidy=0,
        commission_l1=0,
        commission_l2=0,
        amount=0,
        status=OrderStatus.PENDING_PAYMENT.value,
        expires_at=moment,
        idempotency_key=key,
        request_hash=service.request_hash({"deal_id": deal.id, "quantity": 1, "free": source}),
    )
    db.session.add(order)
    db.session.flush()
    audit.record(
        "order",
        order.id,
        "order.placed",
        actor_id=None,
        data={"deal_id": deal.id, "quantity": 1, "amount": 0, "source": source},
    )
    order.status, order.paid_at = OrderStatus.PAID.value, moment
    audit.record(
        "order",
        order.id,
        "order.paid",
        actor_id=None,
        data={"source": source, "settlement_price": settlement_price},
    )
    ledger.order_paid(order)
    vouchers.issue_for(order)
    follow_vouchers(order)
    return order, True


# -- order paid ------------------------------------------------------------------------------


def order_paid(order: Order, *, source: str) -> None:
    """The provider took the order's money (the caller holds the order's lock and checked
    the sum): the order is paid, the cash is booked, one voucher is issued per unit, the
    distributors' commission is pending and the sale is counted.

    An order that had expired meanwhile (its money arrived late) takes its units again
    first; if they are gone this raises the deal's ``SoldOut`` / ``LimitReached`` and
    nothing has changed (the caller refunds the money)."""
    if order.status == OrderStatus.EXPIRED.value:
        with db.session.begin_nested():
            stock.reserve(order.deal, db.session.get(User, order.shopper_id), order.quantity)
    order.status = OrderStatus.PAID.value
    order.paid_at = now()
    audit.record(
        "order",
        order.id,
        "order.paid",
        actor_id=None,
        data={"payment_intent": order.payment_intent_id, "source": source},
    )
    ledger.order_paid(order)
    issued = vouchers.issue_for(order)
    commission.on_order_paid(order, issued)
    follow_vouchers(order)
    # Last: the sale counters are the deal's hot rows (every payment of an opening updates
    # them), locked from here to the commit, so payments queue on them for as short as can be.
    deals.record_sale(order.deal, order.quantity)


# -- order expired ---------------------------------------------------------------------------


def close_unpaid(order: Order, reason: str) -> bool:
    """A pending order is given up (unpaid past its deadline, its payment cancelled or
    refused): it expires and its units go back. False if it was not pending."""
    table = Order.__table__
    closed = db.session.execute(
        sa.update(table)
        .where(table.c.id == order.id, table.c.status == OrderStatus.PENDING_PAYMENT.value)
        .values(status=OrderStatus.EXPIRED.value, closed_reason=reason, updated_at=now())
    ).rowcount
    if not closed:
        return False
    db.session.expire(order, ["status", "closed_reason"])
    stock.release(order.deal, order.shopper_id, order.quantity)
    audit.record("order", order.id, "order.expired", actor_id=None, reason=reason)
    return True


# -- voucher redeemed ------------------------------------------------------------------------


def redeem_voucher(code: str, clerk: User, *, idempotency_key: str | None = None) -> Voucher:
    """A clerk redeems a voucher by its code at the shop, once (the checks and their errors:
    ``vouchers.find_redeemable``, also when the voucher changed during the request). A
    repeat of the same attempt (``idempotency_key``) gets the first result:
    ``vouchers.redeemed_by_attempt``."""
    first = vouchers.redeemed_by_attempt(code, clerk, idempotency_key)
    if first is not None:
        return first
    voucher = vouchers.find_redeemable(code, clerk)
    if not voucher_redeemed(voucher, by_id=clerk.id, key=idempotency_key):
        # Something changed it since the checks (redeemed at another till or by this
        # attempt's twin, refunded, or expired by the job): check again, so the clerk reads
        # what actually happened.
        db.session.refresh(voucher)
        first = vouchers.redeemed_by_attempt(code, clerk, idempotency_key)
        if first is not None:
            return first
        vouchers.find_redeemable(code, clerk)
        raise vouchers.AlreadyRedeemed(voucher)
    return voucher


def voucher_redeemed(voucher: Voucher, *, by_id: int | None, key: str | None = None) -> bool:
    """Redeem an active voucher and book what follows: the merchant is owed the settlement
    price (ledger), its distributors' commission becomes earned, the order's status follows
    its vouchers. False (nothing changed) if the voucher was no longer active."""
    order = service.lock_order(voucher.order_id)  # its status is derived one event at a time
    if not vouchers.mark_redeemed(voucher, by_id=by_id, key=key):
        return False
    ledger.voucher_redeemed(order, voucher.id)
    commission.on_voucher_redeemed(voucher)
    if follow_vouchers(order):
        audit.record("order", order.id, f"order.{order.status}", actor_id=None)
    return True


# -- vouchers refunded -----------------------------------------------------------------------


def vouchers_refunded(
    order: Order,
    refunded: list[Voucher],
    *,
    refund_id: str,
    request_id: int,
    actor_id: int | None,
    remainder: int = 0,
) -> None:
    """A refund's money went back (the refund state machine decided which vouchers it paid
    for and holds their row locks and the order's): each voucher is void, booked back in the
    ledger, its commission cancelled (or clawed back once settled); the units go back on
    sale while the deal still sells; the order's status follows its vouchers.

    ``remainder``: money that went back beyond those vouchers without Linli asking (a
    dashboard refund or a dispute), booked as the platform's cost. Such money that voided no
    voucher leaves the order's status as it was (refunded, expired, or its vouchers
    belonged to another refund)."""
    for voucher in refunded:
        was_redeemed = voucher.redeemed_at is not None
        vouchers.mark_refunded(voucher, refund_request_id=request_id)
        ledger.voucher_refunded(order, voucher.id, was_redeemed=was_redeemed)
        commission.on_voucher_refunded(voucher, actor_id=actor_id)
    if remainder > 0:
        ledger.refund_remainder(order, refund_id, remainder)
    deal = order.deal
    if refunded and still_selling(deal, now()):
        stock.release(deal, order.shopper_id, len(refunded))
    if refunded or not remainder:
        follow_vouchers(order)
    audit.record(
        "order",
        order.id,
        f"order.{order.status}",
        actor_id=None,
        data={"refund_request_id": request_id},
    )


# -- vouchers expired ------------------------------------------------------------------------


def vouchers_expired(order_id: int) -> int:
    """The order's vouchers past their last valid day expire, and the order follows its
    vouchers (one whose other vouchers were used is now completed). The order's row is
    locked before its vouchers, like every money event; flushes. Returns how many expired
    (none when they were redeemed or refunded meanwhile)."""
    order = service.lock_order(order_id)
    changed = vouchers.expire_past_validity(order_id)
    if changed and follow_vouchers(order):
        audit.record(
            "order", order.id, f"order.{order.status}", actor_id=None, reason="vouchers expired"
        )
    return len(changed)


def expire_vouchers() -> int:
    """Job: ``vouchers_expired`` for each order with vouchers past validity. Owns its
    transactions: one commit per order, so no order stays locked for the whole run and one
    failure loses nothing already done (a rerun carries on). Returns how many expired."""
    expired = 0
    for order_id in vouchers.orders_with_vouchers_past_validity():
        expired += vouchers_expired(order_id)
        db.session.commit()
    return expired


# -- the order's status ----------------------------------------------------------------------


def status_from_vouchers(statuses: Iterable[str]) -> OrderStatus:
    """A paid order's status, from its vouchers' statuses (the one rule):

    - every voucher refunded (or none issued: money back for an order that bought nothing)
      → refunded;
    - none still open (active, or held by a refund being paid) and at least one redeemed
      → completed, whatever else was refunded or expired;
    - some refunded → partially refunded;
    - otherwise → paid."""
    statuses = list(statuses)
    if all(s == VoucherStatus.REFUNDED.value for s in statuses):
        return OrderStatus.REFUNDED
    still_open = {VoucherStatus.ACTIVE.value, VoucherStatus.REFUNDING.value}
    if VoucherStatus.REDEEMED.value in statuses and not still_open.intersection(statuses):
        return OrderStatus.COMPLETED
    if VoucherStatus.REFUNDED.value in statuses:
        return OrderStatus.PARTIALLY_REFUNDED
    return OrderStatus.PAID


def follow_vouchers(order: Order) -> bool:
    """Set the order's status from its vouchers (``status_from_vouchers``); True if it
    changed. Called by every event that changes a voucher, with the order's row locked."""
    statuses = db.session.scalars(sa.select(Voucher.status).where(Voucher.order_id == order.id))
    status = status_from_vouchers(statuses).value
    if order.status == status:
        return False
    order.status = status
    return True
