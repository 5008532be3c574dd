"""Giveaway campaigns and their entries."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db, enum_check
from marketplace.deals.models import Deal

MIN_MEALS, MAX_MEALS = 5, 10


class Payer(enum.StrEnum):
    """Who pays the merchant for a free meal."""

    MERCHANT = "merchant"  # the shop's own promotion: nothing is owed for the meal
    PLATFORM = "platform"  # the platform pays the deal's settlement price on redemption


class CampaignStatus(enum.StrEnum):
    OPEN = "open"  # taking entries until closes_at (and then waiting for the job)
    CLOSING = "closing"  # winners decided; prizes and messages being sent
    CLOSED = "closed"  # every prize issued and every message sent


class EntryStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # waiting for customer service
    VERIFIED = "verified"
    REJECTED = "rejected"


class Outcome(enum.StrEnum):
    WON = "won"
    THANKED = "thanked"


class Campaign(db.Model):
    __tablename__ = "giveaway_campaigns"
    __table_args__ = (
        enum_check("payer", Payer, "known_payer"),
        enum_check("status", CampaignStatus, "known_status"),
        sa.CheckConstraint(f"meals BETWEEN {MIN_MEALS} AND {MAX_MEALS}", name="meals"),
        sa.CheckConstraint("closes_at > opens_at", name="window"),
        sa.Index("ix_giveaway_campaigns_status_closes", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    meals: Mapped[int]
    payer: Mapped[str] = mapped_column(sa.String(10))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(10), default=CampaignStatus.OPEN.value)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    decided_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    deal: Mapped[Deal] = relationship(lazy="joined", innerjoin=True)


class Entry(db.Model):
    __tablename__ = "giveaway_entries"
    __table_args__ = (
        enum_check("status", EntryStatus, "known_status"),
        enum_check("outcome", Outcome, "known_outcome"),
        # One entry per shopper per campaign, and the same screenshot only once.
        sa.UniqueConstraint("campaign_id", "shopper_id", name="uq_giveaway_entries_shopper"),
        sa.UniqueConstraint("campaign_id", "image_sha256", name="uq_giveaway_entries_image"),
        sa.CheckConstraint("claimed_likes >= 0", name="claimed_likes"),
        sa.CheckConstraint("verified_likes IS NULL OR verified_likes >= 0", name="verified_likes"),
        sa.Index("ix_giveaway_entries_ranking", "campaign_id", "status", "verified_likes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("giveaway_campaigns.id"))
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    file_key: Mapped[str] = mapped_column(sa.String(200))
    image_sha256: Mapped[str] = mapped_column(sa.String(64))
    claimed_likes: Mapped[int]
    verified_likes: Mapped[int | None]
    status: Mapped[str] = mapped_column(sa.String(10), default=EntryStatus.SUBMITTED.value)
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    submitted_at: Mapped[datetime] = mapped_column(default=now)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(10))
    rank: Mapped[int | None]
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    notified_at: Mapped[datetime | None]

    shopper: Mapped[User] = relationship(foreign_keys=[shopper_id], lazy="joined", innerjoin=True)
