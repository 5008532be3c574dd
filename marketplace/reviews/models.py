"""A review of one redeemed voucher: stars, a short text, up to three photos."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db

MAX_TEXT = 300
MAX_REPLY = 300
MAX_PHOTOS = 3
LOW_STARS = 2  # a review of 1–2 stars opens a ticket for customer service


class Review(db.Model):
    __tablename__ = "reviews"
    __table_args__ = (
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
        sa.Index("ix_reviews_deal_created", "deal_id", "created_at"),
        sa.Index("ix_reviews_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One review per voucher, held by the database.
    voucher_id: Mapped[int] = mapped_column(sa.ForeignKey("vouchers.id"), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"))
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id"))
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    stars: Mapped[int]
    text: Mapped[str] = mapped_column(sa.String(MAX_TEXT), default="")
    photos: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # /media/reviews/... URLs
    created_at: Mapped[datetime] = mapped_column(default=now)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    reply: Mapped[str | None] = mapped_column(sa.String(MAX_REPLY))
    replied_at: Mapped[datetime | None]
    replied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    hidden_at: Mapped[datetime | None]
    hidden_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    hidden_reason: Mapped[str | None] = mapped_column(sa.String(200))

    shopper: Mapped[User] = relationship(foreign_keys=[shopper_id], lazy="joined", innerjoin=True)
