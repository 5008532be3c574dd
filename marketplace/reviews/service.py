"""Reviews after use, the rules:

- only the shopper of a *redeemed* voucher reviews it, once (``reviews.voucher_id`` is
  unique: a double submit or two tabs leave one review);
- 1–5 stars, at most ``MAX_TEXT`` characters, at most ``MAX_PHOTOS`` photos, each a real
  JPEG/PNG/WebP of at most ``PHOTO_MAX_BYTES`` (stored through ``providers.storage``);
- a review of 1–2 stars opens a complaint ticket for customer service with the order
  attached (``tickets.service.open_ticket``, the one function every ticket goes through);
- the merchant's staff reply once, publicly; staff hide a review with a reason (audited),
  nobody edits one.

The public reads (a deal's or a merchant's average and latest reviews) are two statements
whatever the number of reviews."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db, locked
from marketplace.core.errors import InvalidInput
from marketplace.core.files import image_extension
from marketplace.providers.storage import save_upload
from marketplace.reviews.errors import (
    AlreadyHidden,
    AlreadyReplied,
    AlreadyReviewed,
    NotYourReview,
    ReviewNotFound,
    VoucherNotReviewable,
)
from marketplace.reviews.models import LOW_STARS, MAX_PHOTOS, MAX_REPLY, MAX_TEXT, Review
from marketplace.tickets import service as tickets
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import VoucherStatus
from merchants.service import my_merchant

PHOTO_MAX_BYTES = 2 * 1024 * 1024
LATEST = 5  # reviews shown on a deal's or a merchant's page


def get_review(review_id: int) -> Review:
    review = db.session.get(Review, review_id)
    if review is None:
        raise ReviewNotFound()
    return review


def for_voucher(voucher_id: int) -> Review | None:
    return db.session.scalars(sa.select(Review).where(Review.voucher_id == voucher_id)).first()


def create_review(
    shopper: User, code: str, *, stars: int, text: str = "", photos: list[bytes] | None = None
) -> Review:
    """The shopper rates the visit of their redeemed voucher ``code``; flushes."""
    # another shopper's code is a 404 like an unknown one: a code is what the shop redeems
    voucher = vouchers.shoppers_voucher(code, shopper)
    if voucher.status != VoucherStatus.REDEEMED.value:
        raise VoucherNotReviewable()
    photos = photos or []
    text = (text or "").strip()
    problems: dict[str, list[str]] = {}
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        problems["stars"] = ["From 1 to 5."]
    if len(text) > MAX_TEXT:
        problems["text"] = [f"At most {MAX_TEXT} characters."]
    if len(photos) > MAX_PHOTOS:
        problems["photos"] = [f"At most {MAX_PHOTOS} photos."]
    if problems:
        raise InvalidInput(fields=problems)
    if for_voucher(voucher.id) is not None:
        raise AlreadyReviewed()
    extensions = [image_extension(data, max_bytes=PHOTO_MAX_BYTES) for data in photos]
    review = Review(
        voucher_id=voucher.id,
        order_id=voucher.order_id,
        deal_id=voucher.deal_id,
        merchant_id=voucher.merchant_id,
        shopper_id=shopper.id,
        stars=stars,
        text=text,
        photos=[],
        created_at=now(),
    )
    try:
        with db.session.begin_nested():  # two submits at once: one review
            db.session.add(review)
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise AlreadyReviewed() from exc
    urls = []
    for data, extension in zip(photos, extensions, strict=True):
        key = f"reviews/{review.id}/{uuid.uuid4().hex}.{extension}"
        save_upload(key, data)  # deleted again if the transaction does not commit
        urls.append(f"/media/reviews/{review.id}/{key.rsplit('/', 1)[-1]}")
    review.photos = urls
    if stars <= LOW_STARS:
        ticket = tickets.open_ticket(
            shopper,
            kind="complaint",
            subject=f"Low review ({stars}/5): {voucher.deal.title}"[:120],
            body=text or f"{stars}/5, no text.",
            order_id=voucher.order_id,
        )
        review.ticket_id = ticket.id
    db.session.flush()
    audit.record(
        "review",
        review.id,
        "review.created",
        actor_id=shopper.id,
        data={"voucher": voucher.code, "stars": stars, "ticket_id": review.ticket_id},
    )
    return review


def reply(review_id: int, actor: User, text: str) -> Review:
    """The reviewed shop's staff answer once, publicly."""
    review = _locked(review_id)
    if my_merchant(actor).merchant_id != review.merchant_id:
        raise NotYourReview()
    text = (text or "").strip()
    if not text or len(text) > MAX_REPLY:
        raise InvalidInput(fields={"text": [f"From 1 to {MAX_REPLY} characters."]})
    if review.reply is not None:
        raise AlreadyReplied()
    review.reply, review.replied_at, review.replied_by_id = text, now(), actor.id
    audit.record("review", review.id, "review.replied", actor_id=actor.id)
    return review


def hide(review_id: int, actor: User, reason: str) -> Review:
    """Staff take a review off the public pages, with a reason kept in the audit trail;
    its text is never changed."""
    review = _locked(review_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(fields={"reason": ["Say why the review is hidden."]})
    if review.hidden_at is not None:
        raise AlreadyHidden()
    review.hidden_at, review.hidden_by_id, review.hidden_reason = now(), actor.id, reason[:200]
    audit.record("review", review.id, "review.hidden", actor_id=actor.id, reason=reason)
    return review


def _locked(review_id: int) -> Review:
    review = locked(Review, review_id)
    if review is None:
        raise ReviewNotFound()
    return review


# -- reads ---------------------------------------------------------------------------------


def _visible(deal_id: int | None, merchant_id: int | None) -> list[Any]:
    where = [Review.hidden_at.is_(None)]
    if deal_id is not None:
        where.append(Review.deal_id == deal_id)
    if merchant_id is not None:
        where.append(Review.merchant_id == merchant_id)
    return where


def summary(*, deal_id: int | None = None, merchant_id: int | None = None) -> dict[str, Any]:
    """The average (one decimal, None without reviews) and count of visible reviews."""
    average, count = db.session.execute(
        sa.select(sa.func.avg(Review.stars), sa.func.count(Review.id)).where(
            *_visible(deal_id, merchant_id)
        )
    ).one()
    return {
        "average": round(float(average), 1) if average is not None else None,
        "count": int(count),
    }


def public(*, deal_id: int | None = None, merchant_id: int | None = None) -> sa.Select:
    """Visible reviews, newest first (the shopper joined in: one statement a page)."""
    return (
        sa.select(Review)
        .where(*_visible(deal_id, merchant_id))
        .order_by(Review.created_at.desc(), Review.id.desc())
    )


def latest(*, deal_id: int | None = None, merchant_id: int | None = None) -> dict[str, Any]:
    """What a deal's or merchant's page shows: the summary and the latest reviews."""
    items = db.session.scalars(public(deal_id=deal_id, merchant_id=merchant_id).limit(LATEST))
    return {**summary(deal_id=deal_id, merchant_id=merchant_id), "items": list(items)}


def merchant_average(merchant_id: int) -> dict[str, Any]:
    """BD's line beside the grade they set: the shoppers' average for the shop."""
    return summary(merchant_id=merchant_id)


def staff_list(*, low: bool = False, hidden: bool | None = None) -> sa.Select:
    """Every review for staff, newest first; ``low``: 1–2 stars only."""
    query = sa.select(Review)
    if low:
        query = query.where(Review.stars <= LOW_STARS)
    if hidden is True:
        query = query.where(Review.hidden_at.is_not(None))
    elif hidden is False:
        query = query.where(Review.hidden_at.is_(None))
    return query.order_by(Review.created_at.desc(), Review.id.desc())


def my_shop_id(actor: User) -> int:
    return my_merchant(actor).merchant_id


def for_my_shop(actor: User) -> sa.Select:
    """Reviews of the merchant staff's own shop, hidden ones included (they may reply)."""
    merchant_id = my_merchant(actor).merchant_id
    return (
        sa.select(Review)
        .where(Review.merchant_id == merchant_id)
        .order_by(Review.created_at.desc(), Review.id.desc())
    )
