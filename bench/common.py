"""Shared set-up for benchmarks: an app on a throwaway database built by the migrations."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from flask import Flask
from flask_migrate import upgrade

from marketplace import create_app

# Benchmarks configure their servers themselves: never the settings a `make run` left in
# .run/env (the servers they start inherit this environment).
os.environ["LINLI_ENV_FILE"] = os.devnull


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
            "LINLI_REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
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


# -- a real server on loopback -------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], *, workers: int = 2, threads: int = 4) -> Iterator[str]:
    """gunicorn serving wsgi:app on a free loopback port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def summarize(label: str, latencies_ms: list[float], seconds: float, extra: str = "") -> None:
    latencies_ms = sorted(latencies_ms)
    p50 = statistics.median(latencies_ms)
    p99 = latencies_ms[max(0, int(len(latencies_ms) * 0.99) - 1)]
    print(
        f"  {label:<40} {len(latencies_ms) / seconds:8.1f} req/s   p50 {p50:6.1f} ms   "
        f"p99 {p99:6.1f} ms{extra}"
    )
