"""Deals: what a shopper buys. Three types with different economics, publishing slots,
popup-day bookings, price history and the daily sales that drive popularity."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import TimestampMixin, db, enum_check
from merchants.models import Merchant


class DealType(enum.StrEnum):
    FLASH = "flash"  # 0结算秒杀: zero platform margin, draws traffic
    SMALL_SET = "small_set"  # 小套餐, 3–4 people, settled at the merchant's cost
    LARGE_SET = "large_set"  # 大套餐, 6 people, signature dishes, settled above cost


class DealStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    PAUSED = "paused"
    SOLD_OUT = "sold_out"
    ENDED = "ended"


class ExpiryPolicy(enum.StrEnum):
    """What happens to a deal's vouchers left unused at expiry."""

    CS_CALL = "cs_call"  # customer service calls the shopper (care's list, a week)
    AUTO_REFUND = "auto_refund"  # refunded the day after expiry (过期自动退, a job)


# Statuses a shopper can see (a deal page stays reachable after it sells out or ends).
VISIBLE_STATUSES = (DealStatus.LIVE, DealStatus.PAUSED, DealStatus.SOLD_OUT, DealStatus.ENDED)
PRICE_FIELDS = (
    "list_price", "sale_price", "settlement_price", "subsidy", "commission_l1", "commission_l2",
)  # fmt: skip


class Deal(TimestampMixin, db.Model):
    """Money is integer fen; times are aware UTC."""

    __tablename__ = "deals"
    __table_args__ = (
        enum_check("type", DealType, "known_type"),
        enum_check("status", DealStatus, "known_status"),
        enum_check("expiry_policy", ExpiryPolicy, "known_expiry_policy"),
        sa.CheckConstraint("stock_left >= 0", name="stock_left_not_negative"),
        sa.CheckConstraint("stock_left <= stock", name="stock_left_within_stock"),
        sa.CheckConstraint("sale_price > 0 AND settlement_price >= 0", name="prices"),
        sa.CheckConstraint("subsidy >= 0 AND commission_l1 >= 0 AND commission_l2 >= 0",
                           name="amounts_not_negative"),
        sa.Index("ix_deals_status_published", "status", "published_at"),
        sa.Index("ix_deals_merchant_status", "merchant_id", "status"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    type: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.String(4000), default="")
    images: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    party_size: Mapped[int | None]
    list_price: Mapped[int]
    sale_price: Mapped[int]
    settlement_price: Mapped[int]
    subsidy: Mapped[int] = mapped_column(default=0)
    commission_l1: Mapped[int] = mapped_column(default=0)
    commission_l2: Mapped[int] = mapped_column(default=0)
    stock: Mapped[int]
    stock_left: Mapped[int]
    sold_count: Mapped[int] = mapped_column(default=0)
    per_shopper_limit: Mapped[int | None]
    sale_starts_at: Mapped[datetime | None]
    sale_ends_at: Mapped[datetime | None]
    # Voucher validity: N days after purchase, or fixed dates (Asia/Shanghai).
    validity_days: Mapped[int | None]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    # Usage rules
    reservation_required: Mapped[bool] = mapped_column(default=False)
    unavailable_weekdays: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    unavailable_dates: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    usage_hours: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    usage_notes: Mapped[str] = mapped_column(sa.String(1000), default="")
    street_promotion: Mapped[bool] = mapped_column(default=False)
    # [care] What happens to vouchers left unused at expiry: customer service calls
    # (``cs_call``) or they are refunded the day after (``auto_refund``, 过期自动退).
    expiry_policy: Mapped[str] = mapped_column(
        sa.String(12),
        default=ExpiryPolicy.CS_CALL.value,
        server_default=ExpiryPolicy.CS_CALL.value,
    )
    status: Mapped[str] = mapped_column(sa.String(20), default=DealStatus.DRAFT.value)
    # The publishing slot (10:00 or 15:00 Asia/Shanghai); one deal per slot.
    publish_at: Mapped[datetime | None] = mapped_column(unique=True)
    published_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API

    merchant: Mapped[Merchant] = relationship(lazy="joined", innerjoin=True)

    @property
    def margin(self) -> int:
        """The platform's gross margin per unit, before commission."""
        return self.sale_price - self.settlement_price


class DealPriceChange(db.Model):
    """A money field changed after the deal left draft: who, when, old and new."""

    __tablename__ = "deal_price_changes"
    __table_args__ = (sa.Index("ix_deal_price_changes_deal", "deal_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(sa.String(30))
    old_value: Mapped[int]
    new_value: Mapped[int]
    changed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(default=now)

    changed_by: Mapped[User | None] = relationship(lazy="joined")


class PopupBooking(db.Model):
    """BD promised a merchant's deal the home-page popup on a day (one deal per day)."""

    __tablename__ = "popup_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    booked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    booked_at: Mapped[datetime] = mapped_column(default=now)

    deal: Mapped[Deal] = relationship(lazy="joined", innerjoin=True)
    booked_by: Mapped[User | None] = relationship(lazy="joined")


class DealDailySales(db.Model):
    """Units sold per deal per Shanghai day; popularity is the last seven days' sum."""

    __tablename__ = "deal_daily_sales"

    deal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True, index=True)
    units: Mapped[int] = mapped_column(default=0)
