"""The money ledger: immutable, balanced journal entries in integer fen.

Accounts are strings: ``provider`` (cash held by the payment provider), ``unearned`` (what
shoppers paid for vouchers not yet used), ``platform`` (the platform's margin and costs),
``merchant:<id>`` and ``distributor:<id>`` (what they are owed; a payout brings it to zero).
Every business event that moves money posts one transaction whose entries sum to zero, once
(a unique key per event). Balances are sums of entries, never stored."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.clock import now
from marketplace.core.db import db


class LedgerTxn(db.Model):
    __tablename__ = "ledger_txns"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "order_paid:17", "voucher_redeemed:42": an event posts once, whatever retries.
    event_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vouchers.id"))
    occurred_at: Mapped[datetime] = mapped_column(default=now, index=True)
    note: Mapped[str] = mapped_column(sa.String(200), default="")

    entries: Mapped[list[LedgerEntry]] = relationship(lazy="selectin")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_entries_account", "account", "txn_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    txn_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_txns.id"), index=True)
    account: Mapped[str] = mapped_column(sa.String(40))
    amount: Mapped[int]  # fen; the entries of a transaction sum to zero
