"""Vouchers on their own: codes, issuing for a paid order, the checks before redemption and
the voucher's own conditional status changes. What a redemption or a refund means for the
order, the ledger and commission is composed in ``orders.actions``."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.deals.models import Deal
from marketplace.vouchers import access
from marketplace.vouchers.models import Voucher, VoucherStatus

CODE_LENGTH = 12
# What a clerk may type: the 12 digits, spaces allowed (the voucher shows 4-4-4 groups).
CODE_INPUT = r"^ *([0-9] *){12}$"


# The Damm quasigroup (H. M. Damm, 2004): an operation table of order 10 that is weakly
# totally anti-symmetric. A check digit built on it catches every single mistyped digit and
# every swap of two neighbouring digits, which is what a clerk typing a code in gets wrong.
# (Luhn, used before, misses the swap 09 <-> 90.) tests/orders/test_voucher_codes.py checks
# both properties over every case.
DAMM_TABLE = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_interim(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = DAMM_TABLE[interim][int(ch)]
    return interim


def check_digit(digits: str) -> str:
    """The Damm check digit of ``digits``: appended, it brings the whole code to 0."""
    return str(damm_interim(digits))


def new_code() -> str:
    body = f"{secrets.randbelow(10 ** (CODE_LENGTH - 1)):0{CODE_LENGTH - 1}d}"
    return body + check_digit(body)


def well_formed(code: str) -> bool:
    """12 ASCII digits whose Damm check digit holds."""
    return (
        len(code) == CODE_LENGTH and code.isascii() and code.isdigit() and damm_interim(code) == 0
    )


def validity(deal: Deal, purchased_on: date) -> tuple[date, date]:
    if deal.validity_days is not None:
        return purchased_on, purchased_on + timedelta(days=deal.validity_days)
    return deal.valid_from or purchased_on, deal.valid_until


def issue_for(order) -> list[Voucher]:
    """One voucher per unit of a paid order, with unique unguessable codes."""
    valid_from, valid_until = validity(order.deal, local_today())
    codes: set[str] = set()
    while len(codes) < order.quantity:
        codes.add(new_code())
    taken = set(db.session.scalars(sa.select(Voucher.code).where(Voucher.code.in_(codes))))
    while taken:  # 1 in 10^11 per code; redraw any that exist
        codes -= taken
        while len(codes) < order.quantity:
            codes.add(new_code())
        taken = set(db.session.scalars(sa.select(Voucher.code).where(Voucher.code.in_(codes))))
    vouchers = [
        Voucher(
            code=code,
            order_id=order.id,
            deal_id=order.deal_id,
            merchant_id=order.merchant_id,
            shopper_id=order.shopper_id,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        for code in sorted(codes)
    ]
    db.session.add_all(vouchers)
    db.session.flush()
    for voucher in vouchers:
        audit.record(
            "voucher",
            voucher.id,
            "voucher.issued",
            actor_id=None,
            data={"order_id": order.id, "valid_until": valid_until.isoformat()},
        )
    return vouchers


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = "No voucher has that code."


class AlreadyRedeemed(Conflict):
    code = "already_redeemed"
    message = "This voucher was already used."

    def __init__(self, voucher: Voucher | None = None) -> None:
        # when and by whom, for the clerk's page ("used at 12:31 by 小王")
        self.voucher = voucher
        super().__init__()


class WrongMerchant(PermissionDenied):
    code = "wrong_merchant"
    message = "This voucher belongs to another shop."


def find_redeemable(code: str, clerk: User) -> Voucher:
    """The voucher ``clerk`` typed in, if they may redeem it (``access.can_redeem``) and it
    may be redeemed today. Errors: 404 voucher_not_found (or a mistyped code), 403
    wrong_merchant, 409 already_redeemed / voucher_refunded / voucher_expired /
    voucher_not_yet_valid / voucher_not_usable_today. Redeeming it is the order's event
    (``orders.actions.redeem_voucher``): its consequences reach beyond the voucher."""
    malformed = InvalidInput(
        "That is not a voucher code (12 digits; check for a typo).",
        code="malformed_voucher_code",
        fields={"code": ["Check the digits."]},
    )
    if not re.fullmatch(CODE_INPUT, code):
        raise malformed
    code = code.replace(" ", "")
    voucher = db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).first()
    if voucher is None:
        # The check digit tells a typo from a code that does not exist. It is consulted
        # only after the lookup, so codes issued under an earlier check digit (Luhn, before
        # Damm) still redeem.
        raise VoucherNotFound() if well_formed(code) else malformed
    if not access.can_redeem(clerk, voucher):
        raise WrongMerchant()
    today = local_today()
    if voucher.status == VoucherStatus.REDEEMED.value:
        raise AlreadyRedeemed(voucher)
    if voucher.status == VoucherStatus.REFUNDED.value:
        raise Conflict("This voucher was refunded.", code="voucher_refunded")
    if voucher.status == VoucherStatus.REFUNDING.value:
        raise Conflict("A refund of this voucher is being paid.", code="voucher_refund_pending")
    if voucher.status == VoucherStatus.EXPIRED.value or today > voucher.valid_until:
        raise Conflict("This voucher has expired.", code="voucher_expired")
    if today < voucher.valid_from:
        raise Conflict("This voucher is not valid yet.", code="voucher_not_yet_valid")
    deal = voucher.deal
    if today.isoweekday() in (deal.unavailable_weekdays or []) or (
        today.isoformat() in (deal.unavailable_dates or [])
    ):
        raise Conflict("This voucher cannot be used today.", code="voucher_not_usable_today")
    return voucher


def redeemed_by_attempt(code: str, clerk: User, key: str | None) -> Voucher | None:
    """The voucher this clerk's attempt ``key`` already redeemed, or None: a retry of an
    attempt whose answer was lost (a timeout on the shop's network, a double tap, the
    browser sending a form twice) is answered with the first result, success, instead of
    ``already_redeemed``. Only the same clerk's same key counts; a refusal is not kept,
    because asking again gives the same refusal (or a truer one)."""
    if not key or not re.fullmatch(CODE_INPUT, code):
        return None
    return db.session.scalars(
        sa.select(Voucher).where(
            Voucher.code == code.replace(" ", ""),
            Voucher.redemption_key == key,
            Voucher.redeemed_by_id == clerk.id,
            Voucher.redeemed_at.is_not(None),
        )
    ).first()


def mark_redeemed(voucher: Voucher, *, by_id: int | None, key: str | None = None) -> bool:
    """Redeem an active voucher once (a conditional update, so two clerks or a refund racing
    it cannot both win). False if it was no longer active. ``key``: the attempt's
    Idempotency-Key, kept for ``redeemed_by_attempt``. Only the voucher changes here: the
    ledger, commission and order follow in ``orders.actions.voucher_redeemed``."""
    table = Voucher.__table__
    used = db.session.execute(
        sa.update(table)
        .where(table.c.id == voucher.id, table.c.status == VoucherStatus.ACTIVE.value)
        .values(
            status=VoucherStatus.REDEEMED.value,
            redeemed_at=now(),
            redeemed_by_id=by_id,
            redemption_key=key,
        )
    ).rowcount
    if used != 1:
        return False
    db.session.refresh(voucher)
    audit.record(
        "voucher",
        voucher.id,
        "voucher.redeemed",
        actor_id=by_id,
        data={"merchant_id": voucher.merchant_id, "order_id": voucher.order_id},
    )
    return True


def hold_for_refund(voucher: Voucher) -> None:
    """A refund is being paid for this voucher: it cannot be redeemed meanwhile. A used one
    (an override paying for it) stays redeemed. The caller holds the voucher's row lock."""
    if voucher.status != VoucherStatus.REDEEMED.value:
        voucher.status = VoucherStatus.REFUNDING.value


def release_from_refund(voucher: Voucher) -> None:
    """The refund that held this voucher did not happen: it is the shopper's to use again."""
    if voucher.status == VoucherStatus.REFUNDING.value:
        voucher.status = VoucherStatus.ACTIVE.value


def mark_refunded(voucher: Voucher, *, refund_request_id: int) -> None:
    """The voucher's money went back: it is void for good. The caller holds its row lock;
    the ledger, commission, stock and order follow in ``orders.actions.vouchers_refunded``."""
    voucher.status = VoucherStatus.REFUNDED.value
    audit.record(
        "voucher",
        voucher.id,
        "voucher.refunded",
        actor_id=None,
        data={"refund_request_id": refund_request_id},
    )


def my_vouchers(shopper: User, status: str | None, *, order_id: int | None = None) -> sa.Select:
    """The shopper's vouchers, newest first (of one status, of one order)."""
    query = sa.select(Voucher).where(Voucher.shopper_id == shopper.id)
    if status:
        query = query.where(Voucher.status == status)
    if order_id is not None:
        query = query.where(Voucher.order_id == order_id)
    return query.order_by(Voucher.id.desc())


def merchant_vouchers(merchant_id: int, status: str | None) -> sa.Select:
    query = sa.select(Voucher).where(Voucher.merchant_id == merchant_id)
    if status:
        query = query.where(Voucher.status == status)
    return query.order_by(Voucher.id.desc())


def order_units(voucher: Voucher) -> dict[str, int]:
    """How many vouchers the voucher's order holds and how many of them are still usable:
    what the clerk confirms before redeeming ("第 1 张，共 3 张，可用 2 张")."""
    rows = db.session.execute(
        sa.select(Voucher.status, sa.func.count())
        .where(Voucher.order_id == voucher.order_id)
        .group_by(Voucher.status)
    ).all()
    counts = {status: int(n) for status, n in rows}
    return {"quantity": sum(counts.values()), "active": counts.get(VoucherStatus.ACTIVE.value, 0)}


def redemptions_between(merchant_id: int, start: datetime, end: datetime) -> sa.Select:
    """The shop's redemptions in [start, end), newest first, with the clerk who made each."""
    return (
        sa.select(Voucher)
        .where(
            Voucher.merchant_id == merchant_id,
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
        )
        .options(joinedload(Voucher.redeemed_by))
        .order_by(Voucher.redeemed_at.desc(), Voucher.id.desc())
    )


def counts_for_merchant(merchant_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """The shop's vouchers redeemed in [start, end) and those sold and still usable now."""
    redeemed = db.session.scalar(
        sa.select(sa.func.count()).where(
            Voucher.merchant_id == merchant_id,
            Voucher.redeemed_at >= start,
            Voucher.redeemed_at < end,
        )
    )
    unused = db.session.scalar(
        sa.select(sa.func.count()).where(
            Voucher.merchant_id == merchant_id, Voucher.status == VoucherStatus.ACTIVE.value
        )
    )
    return {"redeemed": int(redeemed or 0), "unused": int(unused or 0)}


def shoppers_voucher(code: str, shopper: User) -> Voucher:
    """The shopper's voucher by its code; anyone else's is a 404 like one that does not
    exist."""
    voucher = db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).first()
    if voucher is None or not access.can_see_voucher(shopper, voucher):
        raise VoucherNotFound()
    return voucher


# -- validity ---------------------------------------------------------------------------------
# The one statement of "past validity" and "unused at expiry": the expiry job, customer
# service's lists (care, refunds) and the automatic expiry refund all use these.


def past_validity() -> sa.ColumnElement[bool]:
    """Still active on a day after its last valid day (Asia/Shanghai): due to expire."""
    return sa.and_(
        Voucher.status == VoucherStatus.ACTIVE.value, Voucher.valid_until < local_today()
    )


def unused_at_expiry() -> sa.ColumnElement[bool]:
    """Never used before its validity ran out: expired already, or still active past its
    last day because the expiry job has not reached it yet."""
    return sa.or_(Voucher.status == VoucherStatus.EXPIRED.value, past_validity())


def orders_with_vouchers_past_validity() -> list[int]:
    """The orders that still have an active voucher past its last valid day (Asia/Shanghai),
    oldest first: what the expiry job visits, one order at a time."""
    return list(
        db.session.scalars(
            sa.select(Voucher.order_id).where(past_validity()).distinct().order_by(Voucher.order_id)
        )
    )


def expire_past_validity(order_id: int) -> list[Voucher]:
    """The order's active vouchers past their last valid day become ``expired`` (a
    conditional update per voucher: one redeemed or refunded meanwhile is left alone). Only
    the vouchers change here; the order's status follows in
    ``orders.actions.vouchers_expired``, which holds the order's lock."""
    table = Voucher.__table__
    due = db.session.scalars(
        sa.select(Voucher).where(Voucher.order_id == order_id, past_validity()).order_by(Voucher.id)
    ).all()
    expired = []
    for voucher in due:
        changed = db.session.execute(
            sa.update(table)
            .where(table.c.id == voucher.id, table.c.status == VoucherStatus.ACTIVE.value)
            .values(status=VoucherStatus.EXPIRED.value)
        ).rowcount
        if changed:
            db.session.refresh(voucher)
            audit.record(
                "voucher",
                voucher.id,
                "voucher.expired",
                actor_id=None,
                data={"order_id": order_id, "valid_until": voucher.valid_until.isoformat()},
            )
            expired.append(voucher)
    return expired
