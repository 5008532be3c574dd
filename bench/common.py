"""Shared set-up for benchmarks: an app on a throwaway database built by the migrations."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from flask import Flask
from flask_migrate import upgrade

from bench.wrk import wrk_path
from marketplace import create_app

# Benchmarks configure their servers themselves: never the settings a `make run` left in
# .run/env (the servers they start inherit this environment).
os.environ["LINLI_ENV_FILE"] = os.devnull
# The benchmarks' Redis database, flushed before and after each run: 13, clear of Redis DB 0
# (`make run`) and of the databases `make test` gives its xdist workers (15, 14, …).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


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
        server.terminate()  # graceful: workers finish their requests (up to 30 s)
        try:
            server.wait(40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def summarize(label: str, latencies_ms: list[float], seconds: float, extra: str = "") -> None:
    latencies_ms = sorted(latencies_ms)
    p50 = statistics.median(latencies_ms)
    p99 = latencies_ms[max(0, int(len(latencies_ms) * 0.99) - 1)]
    print(
        f"  {label:<40} {len(latencies_ms) / seconds:8.1f} req/s   p50 {p50:6.1f} ms   "
        f"p99 {p99:6.1f} ms{extra}"
    )


# -- wrk: a load generator that is not the bottleneck ------------------------------------

# Prints one machine-readable line when wrk finishes: throughput, latency percentiles (wrk
# keeps every request's latency in an HdrHistogram) and, if the script counted them, the
# answers by status and error code. Appended to every script run_wrk is given.
WRK_REPORT = r"""
local linli_threads = {}
local linli_setup = setup
function setup(thread)
  thread:set("linli_thread", #linli_threads)
  table.insert(linli_threads, thread)
  if linli_setup then linli_setup(thread) end
end

function done(summary, latency, requests)
  local answers = {}
  for _, thread in ipairs(linli_threads) do
    local counted = thread:get("answers")
    if counted then
      for k, v in pairs(counted) do answers[k] = (answers[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(answers) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local e = summary.errors
  io.write(string.format(
    'LINLI-WRK {"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, '
    .. '"p99_ms": %.3f, "max_ms": %.3f, "socket_errors": %d, "timeouts": %d, '
    .. '"answers": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    e.connect + e.read + e.write, e.timeout, table.concat(parts, ", ")))
end
"""

# Counts answers by status and the error body's stable code ("409 sold_out"); a script
# that wants them includes this (wrk then calls response() for every answer).
WRK_COUNT_ANSWERS = r"""
answers = {}
function response(status, headers, body)
  local code = "ok"
  if status >= 300 then
    code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"') or "?"
  end
  local key = status .. " " .. code
  answers[key] = (answers[key] or 0) + 1
end
"""


@dataclass
class WrkResult:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    answers: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"  {self.label:<44} {self.rate:8.1f} req/s   p50 {self.p50_ms:7.2f} ms   "
            f"p99 {self.p99_ms:7.2f} ms   max {self.max_ms:7.1f} ms"
            + (f"   socket errors {self.socket_errors}" if self.socket_errors else "")
            + (f"   timeouts {self.timeouts}" if self.timeouts else "")
        )


def start_wrk(
    label: str,
    url: str,
    script: str,
    *,
    threads: int,
    connections: int,
    seconds: float,
    workdir: str,
) -> Callable[[], WrkResult]:
    """Start wrk in the background on ``url`` with the Lua ``script`` (WRK_REPORT is
    appended); returns a function that waits for it and parses its report. Several can run
    at once (a crowd buying while others browse)."""
    path = Path(workdir) / f"{label.replace(' ', '_').replace('/', '_')}.lua"
    path.write_text(script + WRK_REPORT)
    process = subprocess.Popen(
        [
            wrk_path(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(path),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def wait() -> WrkResult:
        out, _ = process.communicate()
        for line in out.splitlines():
            if line.startswith("LINLI-WRK "):
                return WrkResult(label, **json.loads(line[len("LINLI-WRK ") :]))
        raise RuntimeError(f"wrk printed no report for {label}:\n{out}")

    return wait


@contextmanager
def localstripe() -> Iterator[str]:
    """A throwaway localstripe (state in memory) on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "localstripe"), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base, timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)
