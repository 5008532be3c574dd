"""Orders: a shopper buying N units of a deal, with the prices of that moment."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.db import TimestampMixin, db, enum_check
from marketplace.deals.models import Deal


class OrderStatus(enum.StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    COMPLETED = "completed"  # every voucher redeemed (or the rest refunded)
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    EXPIRED = "expired"  # never paid: timed out, payment failed or cancelled


# Orders the shopper paid for and that were not wholly refunded: they count as sales, their
# vouchers may be refunded. The one definition; use it rather than spelling the statuses out.
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED)
# Orders whose units count against stock and the per-shopper limit.
HOLDING_STATUSES = (OrderStatus.PENDING_PAYMENT, *PAID_STATUSES)


class Order(TimestampMixin, db.Model):
    """Money is integer fen. Prices and commission are snapshots of the deal at purchase:
    later price changes never touch an order."""

    __tablename__ = "orders"
    __table_args__ = (
        enum_check("status", OrderStatus, "known_status"),
        sa.CheckConstraint("quantity >= 1", name="quantity"),
        sa.CheckConstraint("amount = unit_price * quantity", name="amount"),
        sa.UniqueConstraint("shopper_id", "idempotency_key", name="uq_orders_idempotency"),
        sa.Index("ix_orders_shopper_deal", "shopper_id", "deal_id"),
        sa.Index("ix_orders_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    quantity: Mapped[int]
    unit_price: Mapped[int]
    settlement_price: Mapped[int]
    subsidy: Mapped[int]
    commission_l1: Mapped[int]
    commission_l2: Mapped[int]
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(sa.String(3), default="cny")
    status: Mapped[str] = mapped_column(sa.String(24), default=OrderStatus.PENDING_PAYMENT.value)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(sa.String(40))
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    client_secret: Mapped[str | None] = mapped_column(sa.String(200))
    # Distributor attribution, snapshotted at purchase (filled by distribution).
    distributor_l1_id: Mapped[int | None] = mapped_column(sa.ForeignKey("distributors.id"))
    distributor_l2_id: Mapped[int | None] = mapped_column(sa.ForeignKey("distributors.id"))
    share_link_id: Mapped[int | None] = mapped_column(sa.ForeignKey("share_links.id"))
    tier_bonus: Mapped[int] = mapped_column(default=0)  # fen per unit on top of level 1
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(80))
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))

    deal: Mapped[Deal] = relationship(lazy="joined", innerjoin=True)
