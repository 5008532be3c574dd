"""Side-by-side throughput with wrk, and a throwaway PostgreSQL database for a benchmark.

wrk (C, epoll, one connection per socket, latency kept in an HdrHistogram) drives the
server: a Python client on this 2-core machine would saturate before gunicorn does, and the
figures would measure the client. Every endpoint is compared with ``/healthz`` measured by
the same wrk against the same server in the same run, before and after the others, so a
share of the trivial endpoint's rate means something on a shared, noisy machine.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Rate:
    label: str
    rate: float  # requests per second
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx/3xx answers plus socket errors

    def line(self, ceiling: float | None = None) -> str:
        share = f"   {100 * self.rate / ceiling:5.1f}% of /healthz" if ceiling else ""
        bad = f"   bad answers {self.bad}" if self.bad else ""
        return (
            f"  {self.label:<44} {self.rate:8.1f} req/s   p50 {self.p50_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms{share}{bad}"
        )


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("wrk is not installed (apt-get install wrk); this benchmark needs it")
    return found


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS_MS[unit]


def wrk(
    label: str,
    url: str,
    *,
    seconds: float,
    threads: int = 2,
    connections: int = 32,
    headers: dict[str, str] | None = None,
) -> Rate:
    """Load ``url`` for ``seconds`` with wrk; its rate and latency percentiles."""
    command = [wrk_path(), "-t", str(threads), "-c", str(connections)]
    command += ["-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    if not (rate and p50 and p99):
        raise RuntimeError(f"could not read wrk's report for {label}:\n{out}")
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad += sum(int(n) for n in errors.groups()) if errors else 0
    return Rate(label, float(rate.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), bad)


def side_by_side(
    base: str,
    endpoints: list[tuple[str, str]],
    *,
    seconds: float,
    rounds: int = 1,
    **options: Any,
) -> dict[str, float]:
    """Each endpoint's rate as a share of /healthz's, /healthz being measured right before
    and right after it (the mean of the two is its ceiling), ``rounds`` times over: on a
    busy machine the trivial rate drifts within a run, and a neighbour in time is the
    fairest comparison. Prints every measurement and the median share per endpoint."""
    for _, path in endpoints:  # warm up: fill the caches, open the pools
        wrk("warm-up", base + path, seconds=1, **options)
    shares: dict[str, list[float]] = {label: [] for label, _ in endpoints}
    for n in range(rounds):
        if rounds > 1:
            print(f"  round {n + 1} of {rounds}")
        ceiling = wrk("GET /healthz", base + "/healthz", seconds=seconds, **options)
        print(ceiling.line())
        for label, path in endpoints:
            rate = wrk(label, base + path, seconds=seconds, **options)
            after = wrk("GET /healthz", base + "/healthz", seconds=seconds, **options)
            trivial = (ceiling.rate + after.rate) / 2
            print(rate.line(trivial))
            print(after.line())
            shares[label].append(rate.rate / trivial)
            ceiling = after
    medians = {label: statistics.median(values) for label, values in shares.items()}
    print("  median share of /healthz:")
    for label, share in medians.items():
        print(f"    {label:<44} {100 * share:5.1f}%")
    return medians


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 4, threads: int = 4) -> Iterator[str]:
    """gunicorn (gthread) serving wsgi:app on a free loopback port; yields its base URL.
    Like ``bench.common.serve``, but a server that outlives its graceful stop (wrk leaves
    keep-alive connections behind) is killed rather than left running."""
    from bench.common import ROOT, VENV_BIN, free_port

    port = free_port()
    command = [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-k", "gthread"]
    command += ["--threads", str(threads), "--graceful-timeout", "5", "--log-level", "warning"]
    server = subprocess.Popen([*command, "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still booting
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    """An empty PostgreSQL database for one benchmark run, dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"linli_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
