"""Monthly statements: one per party and period, with lines that trace to vouchers, orders
and commission entries."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.clock import now
from marketplace.core.db import db


class Statement(db.Model):
    __tablename__ = "statements"
    __table_args__ = (
        sa.UniqueConstraint("period", "party_type", "party_id", name="uq_statements_party_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7))  # YYYY-MM, Asia/Shanghai
    party_type: Mapped[str] = mapped_column(sa.String(12))  # merchant, distributor
    party_id: Mapped[int]
    total: Mapped[int]  # fen; the sum of the lines
    status: Mapped[str] = mapped_column(sa.String(10), default="issued")  # issued, paid
    created_at: Mapped[datetime] = mapped_column(default=now)
    paid_at: Mapped[datetime | None]
    paid_on: Mapped[date | None]
    payout_reference: Mapped[str | None] = mapped_column(sa.String(100))

    lines: Mapped[list[StatementLine]] = relationship(
        lazy="selectin",
        order_by="StatementLine.id",
        cascade="all, delete-orphan",
        foreign_keys="StatementLine.statement_id",
    )


class StatementLine(db.Model):
    __tablename__ = "statement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(sa.ForeignKey("statements.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # redemption, level1, …, carried_forward
    amount: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    # A voucher is settled to its merchant once; a commission entry once.
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vouchers.id"), unique=True)
    commission_entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("commission_entries.id"), unique=True
    )
    # A negative statement (clawbacks over earnings) is carried into one later statement.
    carried_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("statements.id"), unique=True)
