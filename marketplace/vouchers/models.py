"""Vouchers: one per unit bought, shown at the shop as a 12-digit code (and QR)."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db, enum_check
from marketplace.deals.models import Deal


class VoucherStatus(enum.StrEnum):
    ACTIVE = "active"
    REFUNDING = "refunding"  # an approved refund is being paid back: not redeemable
    REDEEMED = "redeemed"
    REFUNDED = "refunded"
    EXPIRED = "expired"


class Voucher(db.Model):
    __tablename__ = "vouchers"
    __table_args__ = (
        enum_check("status", VoucherStatus, "known_status"),
        sa.Index("ix_vouchers_merchant_status", "merchant_id", "status"),
        sa.Index("ix_vouchers_shopper_status", "shopper_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id"))
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(12), default=VoucherStatus.ACTIVE.value)
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    issued_at: Mapped[datetime] = mapped_column(default=now)
    redeemed_at: Mapped[datetime | None]
    redeemed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The Idempotency-Key of the attempt that redeemed it: a retry of that attempt (its
    # answer lost on a poor network) is told it succeeded, not that the voucher was used.
    redemption_key: Mapped[str | None] = mapped_column(sa.String(80))

    deal: Mapped[Deal] = relationship(lazy="joined", innerjoin=True)
    redeemed_by: Mapped[User | None] = relationship(foreign_keys=[redeemed_by_id])
