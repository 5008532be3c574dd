"""gunicorn hooks for the replay (``gunicorn -c bench/replay_server_hooks.py``): count the
SQL statements each request sends, by route, in every worker, and leave the counts in
``$BENCH_STATEMENTS_DIR/statements-<pid>.json`` when the worker exits.

This is the statement-count half of "why is this route slow" measured under the real load,
without touching the application: the hooks attach an SQLAlchemy listener and two Flask
request hooks to the app gunicorn loaded, before its first request. The other half, where
the time goes inside one request, is the replay's ``--profile`` (cProfile, in process).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter, defaultdict

_counts: defaultdict[str, Counter] = defaultdict(Counter)
_local = threading.local()
_SKIP = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")


def _template(method: str, rule: str) -> str:
    return f"{method} " + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def post_worker_init(worker) -> None:
    if not os.environ.get("BENCH_STATEMENTS_DIR"):
        return
    from flask import request
    from sqlalchemy import event

    from marketplace.core.db import db

    app = worker.wsgi
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if hasattr(_local, "n") and not statement.lstrip().upper().startswith(_SKIP):
            _local.n += 1

    event.listen(engine, "before_cursor_execute", count)

    @app.before_request
    def start() -> None:
        _local.n = 0

    @app.teardown_request
    def done(exc: BaseException | None) -> None:
        n = getattr(_local, "n", None)
        if n is None:
            return
        del _local.n
        rule = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        _counts[_template(request.method, rule)][n] += 1


def worker_exit(server, worker) -> None:
    where = os.environ.get("BENCH_STATEMENTS_DIR")
    if not where or not _counts:
        return
    path = os.path.join(where, f"statements-{os.getpid()}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({route: dict(hist) for route, hist in _counts.items()}, f)
