"""The audit trail: who changed what, when and why.

Every state change of an order, voucher, refund, commission, merchant or account is one
``AuditEvent`` row written in the same transaction as the change, so support can answer
"what happened to my money" from the database alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.clock import now
from marketplace.core.db import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=now)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(60))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    actor = relationship("User", lazy="joined")


def record(
    entity_type: str,
    entity_id: Any,
    action: str,
    *,
    actor_id: int | None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the current session (the caller's transaction commits it)."""
    event = AuditEvent(
        entity_type=entity_type,
        entity_id=str(entity_id),
        action=action,
        actor_id=actor_id,
        reason=reason,
        data=data,
    )
    db.session.add(event)
    return event
