"""Customer service's contacts with lapsed customers (like BD's revisit log)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db, enum_check


class Channel(enum.StrEnum):
    PHONE = "phone"
    WECHAT = "wechat"


class Outcome(enum.StrEnum):
    REACHED = "reached"  # talked; no promise
    WILL_COME = "will_come"  # said they would come back
    NO_ANSWER = "no_answer"
    DECLINED = "declined"  # not interested / asked not to be contacted


class CareContact(db.Model):
    __tablename__ = "care_contacts"
    __table_args__ = (
        enum_check("channel", Channel, "known_channel"),
        enum_check("outcome", Outcome, "known_outcome"),
        sa.Index("ix_care_contacts_shopper_at", "shopper_id", "contacted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shopper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    contacted_at: Mapped[datetime] = mapped_column(default=now, index=True)
    channel: Mapped[str] = mapped_column(sa.String(10))
    outcome: Mapped[str] = mapped_column(sa.String(12))
    note: Mapped[str] = mapped_column(sa.String(500), default="")

    shopper: Mapped[User] = relationship(foreign_keys=[shopper_id], lazy="joined", innerjoin=True)
    agent: Mapped[User] = relationship(foreign_keys=[agent_id], lazy="joined", innerjoin=True)
