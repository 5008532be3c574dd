"""Whether a block of code touches the database at all: every statement sent (BEGIN and
PRAGMA included, unlike ``querycount``) and every connection taken from the pool, by the
block's own thread (a live server's threads answering an earlier test's webhook are not the
block's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from marketplace.core.db import db


@contextmanager
def database_touches(app: Flask) -> Iterator[list[str]]:
    touches: list[str] = []
    with app.app_context():
        engine = db.engine
    mine = threading.get_ident()

    def statement(conn, cursor, text, parameters, context, executemany) -> None:
        if threading.get_ident() == mine:
            touches.append(" ".join(text.split()))

    def checkout(dbapi_connection, record, proxy) -> None:
        if threading.get_ident() == mine:
            touches.append("(a connection checked out of the pool)")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield touches
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)
