"""Support tickets: complaints and questions from shoppers and merchants, with SLA clocks."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.accounts.models import User
from marketplace.core.clock import now
from marketplace.core.db import db, enum_check


class TicketKind(enum.StrEnum):
    COMPLAINT = "complaint"
    QUESTION = "question"


class TicketStatus(enum.StrEnum):
    OPEN = "open"  # waiting for customer service
    ANSWERED = "answered"  # CS replied; waiting for the customer
    CLOSED = "closed"


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        enum_check("kind", TicketKind, "known_kind"),
        enum_check("status", TicketStatus, "known_status"),
        sa.Index("ix_tickets_status_due", "status", "first_response_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    opener_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("merchants.id"))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    urgent: Mapped[bool] = mapped_column(default=False)
    subject: Mapped[str] = mapped_column(sa.String(120))
    status: Mapped[str] = mapped_column(sa.String(12), default=TicketStatus.OPEN.value)
    first_response_due_at: Mapped[datetime]
    first_responded_at: Mapped[datetime | None]
    first_responder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Service seconds from opening to the first CS reply (for agents' response times).
    first_response_seconds: Mapped[int | None]
    breached_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    closed_at: Mapped[datetime | None]

    opener: Mapped[User] = relationship(foreign_keys=[opener_id], lazy="joined", innerjoin=True)
    messages: Mapped[list[TicketMessage]] = relationship(
        lazy="selectin", order_by="TicketMessage.id", cascade="all, delete-orphan"
    )


class TicketMessage(db.Model):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(default=now)
