"""Running scheduled jobs: `rq cron` enqueues ``dispatch(name)``, which enqueues
``run(name)`` with RQ's Retry (cron entries cannot carry one); ``run`` executes the job in an
app context, commits, and records its last run for /api/v1/ops/jobs."""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

from flask import Flask
from redis import Redis
from rq import Queue, Retry

from marketplace import create_app
from marketplace.core.db import db
from marketplace.jobs.schedule import BY_NAME, QUEUE

_app: Flask | None = None
STATS_KEY = "linli:jobs:{name}"
FAILURES_KEY = "linli:jobs:{name}:failures"
KEEP_FAILURES = 20


def use_app(app: Flask | None) -> None:
    """Run jobs against this app (tests; the worker builds one from the environment)."""
    global _app
    _app = app


def app() -> Flask:
    global _app
    if _app is None:
        _app = create_app()
    return _app


def dispatch(name: str) -> str:
    job = BY_NAME[name]
    flask_app = app()
    queue = Queue(QUEUE, connection=flask_app.extensions["linli.redis"])
    queued = queue.enqueue(
        run,
        name,
        retry=Retry(max=len(job.retries), interval=list(job.retries)),
        job_timeout=600,
        description=f"linli job {name}",
    )
    return queued.id


def run(name: str) -> Any:
    job = BY_NAME[name]
    flask_app = app()
    redis: Redis = flask_app.extensions["linli.redis"]
    started = time.time()
    with flask_app.app_context():
        try:
            result = job.run()
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            failure = {
                "at": started,
                "error": f"{type(exc).__name__}: {exc}"[:500],
                "trace": traceback.format_exc()[-2000:],
            }
            redis.lpush(FAILURES_KEY.format(name=name), json.dumps(failure))
            redis.ltrim(FAILURES_KEY.format(name=name), 0, KEEP_FAILURES - 1)
            redis.hset(
                STATS_KEY.format(name=name),
                mapping={
                    "last_started": started,
                    "last_finished": time.time(),
                    "last_ok": 0,
                    "last_result": failure["error"],
                    "duration_ms": int((time.time() - started) * 1000),
                },
            )
            raise
        finally:
            db.session.remove()
    redis.hset(
        STATS_KEY.format(name=name),
        mapping={
            "last_started": started,
            "last_finished": time.time(),
            "last_ok": 1,
            "last_result": json.dumps(result, default=str, ensure_ascii=False)[:1000],
            "duration_ms": int((time.time() - started) * 1000),
        },
    )
    return result
