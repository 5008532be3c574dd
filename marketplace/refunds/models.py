"""Refund requests: a shopper asks, customer service decides, the provider pays back."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.db import TimestampMixin, db, enum_check
from marketplace.orders.models import Order


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for customer service
    APPROVED_PENDING_REFUND = "approved_pending_refund"  # decided; money on its way
    REFUNDED = "refunded"
    REJECTED = "rejected"
    FAILED = "failed"  # could not be carried out (a voucher was used meanwhile)


class RefundReason(enum.StrEnum):
    CHANGED_MIND = "changed_mind"
    BOUGHT_BY_MISTAKE = "bought_by_mistake"
    MERCHANT_CLOSED = "merchant_closed"
    POOR_SERVICE = "poor_service"
    CANNOT_BOOK = "cannot_book"
    OTHER = "other"


OPEN_STATUSES = (RefundStatus.PENDING, RefundStatus.APPROVED_PENDING_REFUND)


class RefundRequest(TimestampMixin, db.Model):
    __tablename__ = "refund_requests"
    __table_args__ = (
        enum_check("status", RefundStatus, "known_status"),
        enum_check("reason", RefundReason, "known_reason"),
        sa.Index("ix_refund_requests_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(30))
    reason: Mapped[str] = mapped_column(sa.String(30))
    reason_text: Mapped[str] = mapped_column(sa.String(500), default="")
    amount: Mapped[int]  # fen: unit price × vouchers
    # Set to the order id while the request is open: one open request per order.
    open_order_id: Mapped[int | None] = mapped_column(unique=True)
    cs_note: Mapped[str] = mapped_column(sa.String(500), default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    approve_key: Mapped[str | None] = mapped_column(sa.String(80))
    admin_override: Mapped[bool] = mapped_column(default=False)
    override_reason: Mapped[str | None] = mapped_column(sa.String(500))
    provider_refund_id: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    provider_attempts: Mapped[int] = mapped_column(default=0)
    # A lease on paying: set while one process talks to the provider, so a concurrent
    # execution (a double click, the retry job) waits instead of paying again.
    paying_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    alerted_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    failure_code: Mapped[str | None] = mapped_column(sa.String(40))

    order: Mapped[Order] = relationship(lazy="joined", innerjoin=True)
    # Shown in customer service's queue, which joins it in (``refunds.service.queue``).
    shopper: Mapped[User] = relationship(foreign_keys=[shopper_id])
    items: Mapped[list[RefundItem]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class RefundItem(db.Model):
    __tablename__ = "refund_items"

    request_id: Mapped[int] = mapped_column(sa.ForeignKey("refund_requests.id"), primary_key=True)
    voucher_id: Mapped[int] = mapped_column(sa.ForeignKey("vouchers.id"), primary_key=True)
