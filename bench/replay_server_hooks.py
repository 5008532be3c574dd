"""gunicorn hooks for the replay (``gunicorn -c bench/replay_server_hooks.py``): count the
SQL statements each request sends, by route, in every worker, and leave the counts in
``$BENCH_STATEMENTS_DIR/statements-<pid>.json`` when the worker exits.

This is the statement-count half of "why is this route slow" measured under the real load,
without touching the application: the hooks attach an SQLAlchemy listener and two Flask
request hooks to the app gunicorn loaded, before its first request, and wrap its WSGI app
so that a request answered at the front door (``core.frontdoor``: refused flash taps,
catalog hits), which never reaches Flask, is counted too, under its route. The other half,
where the time goes inside one request, is the replay's ``--profile`` (cProfile, in
process).
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
        _local.flask = True

    @app.teardown_request
    def done(exc: BaseException | None) -> None:
        n = getattr(_local, "n", None)
        if n is None:
            return
        del _local.n
        rule = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        _counts[_template(request.method, rule)][n] += 1

    routes = app.url_map.bind("")
    inner = app.wsgi_app

    def counted(environ, start_response):
        _local.n, _local.flask = 0, False
        try:
            return inner(environ, start_response)
        finally:
            if not _local.flask and hasattr(_local, "n"):  # answered at the front door
                method = environ.get("REQUEST_METHOD", "")
                try:
                    rule, _ = routes.match(environ.get("PATH_INFO", ""), method, return_rule=True)
                    template = _template(method, rule.rule)
                except Exception:
                    template = "(unmatched)"
                _counts[template][_local.n] += 1
            if hasattr(_local, "n"):
                del _local.n

    app.wsgi_app = counted


def worker_exit(server, worker) -> None:
    where = os.environ.get("BENCH_STATEMENTS_DIR")
    if not where or not _counts:
        return
    path = os.path.join(where, f"statements-{os.getpid()}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({route: dict(hist) for route, hist in _counts.items()}, f)
