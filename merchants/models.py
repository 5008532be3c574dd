"""Merchants: categories, shops, their grading history, signed documents, BD visits and the
portal accounts of their staff."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import TimestampMixin, db, enum_check


class Stage(enum.StrEnum):
    LEAD = "lead"
    NEGOTIATING = "negotiating"
    CONTRACTED = "contracted"
    LIVE = "live"
    SUSPENDED = "suspended"
    CHURNED = "churned"


class ContractKind(enum.StrEnum):
    ENTRY_AGREEMENT = "entry_agreement"  # 商家入驻协议
    SERVICE_CONTRACT = "service_contract"  # 商户服务合同
    SERVICE_SCHEDULE = "service_schedule"  # 服务合同附表


class StaffRole(enum.StrEnum):
    OWNER = "owner"
    CLERK = "clerk"


class VisitChannel(enum.StrEnum):
    VISIT = "visit"
    CALL = "call"
    WECHAT = "wechat"


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(40))
    name_en: Mapped[str] = mapped_column(sa.String(60))
    sort_order: Mapped[int] = mapped_column(default=0)
    # A retired category keeps its merchants but takes no new ones.
    retired_at: Mapped[datetime | None]

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class Merchant(TimestampMixin, db.Model):
    __tablename__ = "merchants"
    __table_args__ = (
        enum_check("stage", Stage, "known_stage"),
        sa.CheckConstraint("current_grade IS NULL OR current_grade BETWEEN 1 AND 5", name="grade"),
        sa.CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        sa.CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
        sa.Index("ix_merchants_stage_category", "stage", "category_id"),
        sa.Index("ix_merchants_location", "latitude", "longitude"),  # "near me" bounding box
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"), index=True)
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    phone: Mapped[str] = mapped_column(sa.String(20), default="")
    # [{"days": [1..7], "open": "10:00", "close": "02:00"}]; close before open runs past midnight
    business_hours: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    hours_note: Mapped[str] = mapped_column(sa.String(200), default="")
    is_headliner: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    stage: Mapped[str] = mapped_column(sa.String(20), default=Stage.LEAD.value)
    stage_changed_at: Mapped[datetime] = mapped_column(default=now)
    current_grade: Mapped[int | None] = mapped_column(index=True)
    # The follow-up promised at the latest BD visit, if any.
    follow_up_due: Mapped[date | None] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API

    category: Mapped[Category] = relationship(lazy="joined", innerjoin=True)
    # Not loaded with every deal that joins its merchant; the merchant lists and profile,
    # which show it, join it in (``merchants.service.WITH_OWNER``).
    owner: Mapped[User | None] = relationship()

    @property
    def location(self) -> dict[str, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return {"lat": self.latitude, "lng": self.longitude}


class MerchantGrade(db.Model):
    """One grading decision; the merchant's current grade is the latest of these."""

    __tablename__ = "merchant_grades"
    __table_args__ = (
        sa.CheckConstraint("grade BETWEEN 1 AND 5", name="grade"),
        sa.Index("ix_merchant_grades_merchant_graded", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id", ondelete="CASCADE"))
    grade: Mapped[int]
    previous_grade: Mapped[int | None]
    note: Mapped[str] = mapped_column(sa.String(500))
    reference: Mapped[str] = mapped_column(sa.String(200), default="")
    graded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    graded_at: Mapped[datetime] = mapped_column(default=now)

    graded_by: Mapped[User | None] = relationship(lazy="joined")


class MerchantContract(db.Model):
    """A signed document. Signing the same kind again keeps the old record as history."""

    __tablename__ = "merchant_contracts"
    __table_args__ = (
        enum_check("kind", ContractKind, "known_kind"),
        sa.Index("ix_merchant_contracts_merchant_kind", "merchant_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(30))
    signatory: Mapped[str] = mapped_column(sa.String(60))
    signed_on: Mapped[date]
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=now)
    file_key: Mapped[str] = mapped_column(sa.String(200))
    file_name: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(60))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))

    recorded_by: Mapped[User | None] = relationship(lazy="joined")


class MerchantVisit(db.Model):
    """A BD revisit: a visit, a call or a WeChat conversation, and what the merchant said."""

    __tablename__ = "merchant_visits"
    __table_args__ = (
        enum_check("channel", VisitChannel, "known_channel"),
        sa.Index("ix_merchant_visits_merchant_visited", "merchant_id", "visited_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id", ondelete="CASCADE"))
    visited_on: Mapped[date]
    channel: Mapped[str] = mapped_column(sa.String(20))
    notes: Mapped[str] = mapped_column(sa.String(2000))
    follow_up_due: Mapped[date | None]
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(default=now)

    recorded_by: Mapped[User | None] = relationship(lazy="joined")


class MerchantStaff(db.Model):
    """Links a portal account to the one merchant it works for."""

    __tablename__ = "merchant_staff"
    __table_args__ = (enum_check("role", StaffRole, "known_role"),)

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(10))
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=now)

    user: Mapped[User] = relationship(
        foreign_keys=[user_id],
        backref=backref("merchant_membership", uselist=False),
    )
    # Joined: a portal account's shop is read with its link (the portal's "my shop").
    merchant: Mapped[Merchant] = relationship(lazy="joined", innerjoin=True)
