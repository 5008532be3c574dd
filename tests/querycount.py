"""Count the SQL statements a block of code sends, to keep queries per request constant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from marketplace.core.db import db


class QueryLog(list):
    @property
    def count(self) -> int:
        return len(self)


@contextmanager
def count_queries(app: Flask) -> Iterator[QueryLog]:
    log = QueryLog()
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA")):
            log.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
