"""A recording proxy in front of the local payment server, for tests of what Linli sends to
the provider (Idempotency-Key, Content-Type) and of how it copes with answers localstripe
never gives (429, 409 with Stripe-Should-Retry, Retry-After, 404, card errors).

Every request is recorded; a request matching a scripted answer gets that answer instead of
being forwarded. The provider is an edge we cannot run with every failure on demand; our own
code is never replaced.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from marketplace.providers.stripe import StripeClient


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Scripted:
    method: str
    path: str  # a prefix
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class StripeProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests: list[Recorded] = []
        self.script: list[Scripted] = []
        self.hooks: list[tuple[str, str, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # shutdown() waits for the loop's next poll: 0.5 s by default, per test
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def answer(
        self,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests ``method path*`` get this answer, not the upstream's."""
        with self._lock:
            self.script.append(Scripted(method, path, status, body, headers or {}, times))

    def before(self, method: str, path: str, hook: Callable[[], None]) -> None:
        """Run ``hook()`` (in the proxy's thread) when ``method path*`` arrives, before it is
        answered: a test looks at the database while Linli waits for the provider."""
        self.hooks.append((method, path, hook))

    def sent(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def close(self) -> None:
        self._server.shutdown()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        record = Recorded(
            request.method, request.path, dict(request.headers), body.decode(), time.monotonic()
        )
        with self._lock:
            self.requests.append(record)
            rule = next(
                (
                    r
                    for r in self.script
                    if r.times > 0
                    and r.method == request.method
                    and request.path.startswith(r.path)
                ),
                None,
            )
            if rule is not None:
                rule.times -= 1
        for method, path, hook in self.hooks:
            if method == request.method and request.path.startswith(path):
                hook()
        if rule is not None:
            response = Response(
                json.dumps(rule.body), rule.status, rule.headers, mimetype="application/json"
            )
            return response(environ, start_response)
        forwarded = requests.request(
            request.method,
            self.upstream + request.full_path.rstrip("?"),
            data=body,
            headers={
                k: v
                for k, v in request.headers.items()
                if k.lower() not in ("host", "content-length")
            },
            timeout=10,
        )
        response = Response(forwarded.content, forwarded.status_code, mimetype="application/json")
        return response(environ, start_response)


@contextmanager
def provider_through(app: Flask, proxy: StripeProxy, **client: Any) -> Iterator[StripeProxy]:
    """Point the app's Stripe client at ``proxy`` for the duration."""
    real = app.extensions["linli.stripe"]
    app.extensions["linli.stripe"] = StripeClient(proxy.url, real.secret_key, **client)
    try:
        yield proxy
    finally:
        app.extensions["linli.stripe"] = real


def order_row_locked(app: Flask, order_id: int) -> bool:
    """Is someone holding the order's row lock (PostgreSQL) or a write transaction (SQLite,
    whose lock is the whole database) right now? Asked from a connection of its own."""
    import sqlite3

    import sqlalchemy as sa

    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            try:
                conn.execute(
                    sa.text("SELECT id FROM orders WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": order_id},
                )
                return False
            except sa.exc.OperationalError:
                return True
            finally:
                conn.rollback()
    finally:
        engine.dispose()
