"""Distribution: distributors in a two-level tree, share links, permanent customer
bindings, commission entries and the WeChat Moments streak proofs."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db, enum_check
from marketplace.deals.models import Deal


class DistributorStatus(enum.StrEnum):
    APPLIED = "applied"  # waiting for staff approval (join policy "application")
    ACTIVE = "active"
    SUSPENDED = "suspended"  # no new links, no new commission; bindings stay
    REJECTED = "rejected"


class CommissionKind(enum.StrEnum):
    LEVEL1 = "level1"
    LEVEL2 = "level2"
    STREAK_BONUS = "streak_bonus"
    CLAWBACK = "clawback"


class CommissionState(enum.StrEnum):
    PENDING = "pending"  # the order is paid
    EARNED = "earned"  # the voucher was redeemed (bonuses are earned when computed)
    SETTLED = "settled"  # paid out by a monthly settlement
    CANCELLED = "cancelled"  # refunded before settlement


class ProofStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"


class PlatformSetting(db.Model):
    """Admin settings that change at run time (join policy, binding mode, …)."""

    __tablename__ = "platform_settings"

    key: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=now)


class DistributorTier(db.Model):
    __tablename__ = "distributor_tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(30), unique=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    level1_bonus: Mapped[int] = mapped_column(default=0)  # fen per unit, on top of L1
    sort_order: Mapped[int] = mapped_column(default=0)


class Distributor(db.Model):
    __tablename__ = "distributors"
    __table_args__ = (enum_check("status", DistributorStatus, "known_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    recruiter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("distributors.id"), index=True)
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("distributor_tiers.id"))
    invite_code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    wechat_friends: Mapped[int | None]
    friends_verified_at: Mapped[datetime | None]
    joined_at: Mapped[datetime] = mapped_column(default=now)
    status_reason: Mapped[str | None] = mapped_column(sa.String(500))

    user: Mapped[User] = relationship(
        lazy="joined", innerjoin=True, backref=sa.orm.backref("distributor", uselist=False)
    )
    tier: Mapped[DistributorTier | None] = relationship(lazy="joined")
    recruiter: Mapped[Distributor | None] = relationship(remote_side=[id])


class ShareLink(db.Model):
    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    distributor_id: Mapped[int] = mapped_column(sa.ForeignKey("distributors.id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deals.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    visits: Mapped[int] = mapped_column(default=0)

    distributor: Mapped[Distributor] = relationship(lazy="joined", innerjoin=True)
    deal: Mapped[Deal | None] = relationship(lazy="joined")


class LinkVisit(db.Model):
    __tablename__ = "link_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("share_links.id"), index=True)
    visited_at: Mapped[datetime] = mapped_column(default=now)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))


class CustomerBinding(db.Model):
    """A shopper's distributor: one row per shopper, changed only as the binding mode or an
    admin allows (every change is in the audit trail)."""

    __tablename__ = "customer_bindings"

    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    distributor_id: Mapped[int] = mapped_column(sa.ForeignKey("distributors.id"), index=True)
    link_id: Mapped[int | None] = mapped_column(sa.ForeignKey("share_links.id"))
    channel: Mapped[str] = mapped_column(sa.String(20))  # login, order, admin
    bound_at: Mapped[datetime] = mapped_column(default=now)

    shopper: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class CommissionEntry(db.Model):
    """What a distributor is owed, in fen: per voucher and level for orders, per month for
    streak bonuses, negative for a clawback."""

    __tablename__ = "commission_entries"
    __table_args__ = (
        enum_check("kind", CommissionKind, "known_kind"),
        enum_check("state", CommissionState, "known_state"),
        sa.UniqueConstraint(
            "voucher_id", "kind", "distributor_id", name="uq_commission_entries_voucher_kind"
        ),
        sa.UniqueConstraint(
            "distributor_id", "kind", "month", name="uq_commission_entries_bonus_month"
        ),
        sa.Index("ix_commission_entries_distributor_state", "distributor_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(sa.ForeignKey("distributors.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(12))
    amount: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vouchers.id"))
    month: Mapped[str | None] = mapped_column(sa.String(7))  # YYYY-MM for bonuses
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    earned_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class MomentsProof(db.Model):
    __tablename__ = "moments_proofs"
    __table_args__ = (
        enum_check("status", ProofStatus, "known_status"),
        sa.UniqueConstraint("distributor_id", "day", name="uq_moments_proofs_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    distributor_id: Mapped[int] = mapped_column(sa.ForeignKey("distributors.id"))
    day: Mapped[date]
    file_key: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(12), default=ProofStatus.SUBMITTED.value)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    submitted_at: Mapped[datetime] = mapped_column(default=now)
