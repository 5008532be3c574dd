"""Count the SQL statements a block of code sends, to keep queries per request constant.

Only the block's own thread is counted (the test client runs the app in it): a statement
of another thread at the same moment — a payment webhook from an earlier test still being
delivered to a live server of this process, a job — is not the block's cost."""

from __future__ import annotations

import threading
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
    mine = threading.get_ident()

    def before(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() != mine:
            return
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA")):
            log.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
