"""Database types and base model shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from marketplace.core.clock import now

T = TypeVar("T")

# Deterministic constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.TypeDecorator):
    """An aware UTC datetime on both databases.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC and made aware again on the way out. Naive datetimes are refused: they are
    the bug this type exists to prevent.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = sa.orm.registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


db = SQLAlchemy(model_class=Base)


def enum_check(column: str, values: Any, name: str) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of an enum's values (same on both databases)."""
    return sa.CheckConstraint(sa.column(column).in_([v.value for v in values]), name=name)


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (with ``escape="\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite behave like a database: enforce foreign keys, wait on locks, and let
    SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions break SAVEPOINT and
    read-then-write atomicity)."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite":
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead
        # of one failing with "database is locked" when it upgrades a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def locked(model: type[T], row_id: Any) -> T | None:
    """The row ``row_id`` of ``model``, locked until the transaction ends (``FOR UPDATE``
    on PostgreSQL; SQLite's writer lock is taken at BEGIN), read afresh rather than from the
    session, so what another transaction committed meanwhile is seen. None if absent."""
    return db.session.scalars(
        sa.select(model)
        .where(model.id == row_id)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    ).first()


def on_commit(callback: Any, session: sa.orm.Session | None = None) -> None:
    """Run ``callback()`` after the current transaction commits; drop it on rollback.

    Side effects that must not happen for rolled-back work (sending an SMS, enqueueing a
    job that reloads a row) go through here instead of running inline. ``session``: the
    one a session event handler was given (default: the request's)."""
    (session or db.session).info.setdefault("linli.on_commit", []).append(callback)


def on_rollback(callback: Any, session: sa.orm.Session | None = None) -> None:
    """Run ``callback()`` if the current transaction ends without committing: undo a side
    effect already made for it (a stored file) so a failed request leaves nothing behind."""
    (session or db.session).info.setdefault("linli.on_rollback", []).append(callback)


@event.listens_for(sa.orm.Session, "after_commit")
def _run_on_commit(session: sa.orm.Session) -> None:
    if session.in_nested_transaction():
        # SQLAlchemy says "after_commit" when a SAVEPOINT is released too: nothing is
        # committed yet, and the transaction may still roll back.
        return
    session.info.pop("linli.on_rollback", None)
    for callback in session.info.pop("linli.on_commit", []):
        callback()


@event.listens_for(sa.orm.Session, "after_transaction_end")
def _end_without_commit(session: sa.orm.Session, transaction: Any) -> None:
    # after_commit has already consumed the lists of a committed transaction; whatever is
    # left belongs to one that rolled back or was closed.
    if transaction.parent is None:
        session.info.pop("linli.on_commit", None)
        for callback in session.info.pop("linli.on_rollback", []):
            callback()
