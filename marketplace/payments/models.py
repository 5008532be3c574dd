"""Provider events received, so a webhook delivered twice is handled once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.clock import now
from marketplace.core.db import db


class PaymentEvent(db.Model):
    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(sa.String(80), unique=True)
    type: Mapped[str] = mapped_column(sa.String(60))
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    received_at: Mapped[datetime] = mapped_column(default=now)
    outcome: Mapped[str] = mapped_column(sa.String(60))
