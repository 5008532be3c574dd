"""Provider events received, so a webhook delivered twice is handled once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.clock import now
from marketplace.core.db import db

EVENT_ID_LENGTH, EVENT_TYPE_LENGTH, OBJECT_ID_LENGTH = 80, 100, 80


class PaymentEvent(db.Model):
    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_event_id: Mapped[str] = mapped_column(sa.String(EVENT_ID_LENGTH), unique=True)
    type: Mapped[str] = mapped_column(sa.String(EVENT_TYPE_LENGTH))
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(OBJECT_ID_LENGTH), index=True)
    received_at: Mapped[datetime] = mapped_column(default=now)
    outcome: Mapped[str] = mapped_column(sa.String(60))
