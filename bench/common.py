"""An app in this process on a throwaway database built by the migrations, and a timer for
calls made one at a time (the in-process figures of bench/auth.py)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

from flask import Flask
from flask_migrate import upgrade

from bench.processes import REDIS_URL
from marketplace import create_app


def bench_app() -> Flask:
    """SQLite in a temp folder by default; set BENCH_DATABASE_URL to measure PostgreSQL
    (an empty database: the benchmark migrates it)."""
    instance = tempfile.mkdtemp(prefix="linli-bench-")
    app = create_app(
        {
            # development, not testing: the benchmark must hash passwords as production does
            "LINLI_ENV": "development",
            "LINLI_INSTANCE_PATH": instance,
            "SQLALCHEMY_DATABASE_URI": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3"
            ),
            "LINLI_REDIS_URL": REDIS_URL,
            "LINLI_SMS_BACKEND": "memory",
            "LINLI_LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
    return app


def measure(label: str, fn: Callable[[], object], n: int) -> None:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(
        f"{label:<38} n={n:<5} p50={p50:7.2f} ms  p95={p95:7.2f} ms  "
        f"throughput={1000 / statistics.mean(samples):8.1f}/s (one thread)"
    )
