"""What every benchmark starts and stops: gunicorn and localstripe on free loopback ports,
throwaway databases, the benchmarks' Redis database and the servers' environment. Light
on imports (no app), so the replay's load-generator processes can use it too.

One ``gunicorn`` for all: the trivial endpoint and the measured routes are always served
by the same server with the same workers and threads, and a server that outlives its
graceful stop (wrk leaves keep-alive connections open) is killed, never left running.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The benchmarks' Redis database, flushed before and after each run: 13, clear of DB 0
# (`make run`) and of the databases `make test` gives its xdist workers (15, 14, …).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# The PostgreSQL server on which throwaway databases are made (trust login by default).
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
# gunicorn for every benchmark (2 cores): the same for /healthz and the measured routes.
WORKERS, THREADS = 4, 4

# Benchmarks configure their servers themselves: never the settings a `make run` left in
# .run/env (the servers they start inherit this environment).
os.environ["LINLI_ENV_FILE"] = os.devnull


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """Terminate (a graceful stop), then kill what is still running after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def server_env(instance: str | Path, database: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's servers and set-up commands."""
    return {
        **os.environ,
        "LINLI_ENV": "development",  # not testing: passwords are hashed as in production
        "LINLI_INSTANCE_PATH": str(instance),
        "LINLI_DATABASE_URL": database,
        "LINLI_REDIS_URL": REDIS_URL,
        "LINLI_LOG_LEVEL": "WARNING",
        **extra,
    }


@contextlib.contextmanager
def throwaway_postgres(admin_url: str | None = None) -> Iterator[str]:
    """An empty PostgreSQL database for one run, dropped afterwards whatever happened."""
    import sqlalchemy as sa

    from marketplace.settings import normalize_database_url

    admin = sa.create_engine(
        normalize_database_url(admin_url or POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT"
    )
    name = f"linli_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
    try:
        url = admin.url.set(database=name, drivername="postgresql")
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def throwaway_database(kind: str, instance: str | Path) -> Iterator[str]:
    """An empty database for one run: a SQLite file in ``instance``, or (``postgresql``)
    a throwaway PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{instance}/bench.sqlite3"
        return
    with throwaway_postgres() as url:
        yield url


@contextlib.contextmanager
def bench_world(postgres: bool, prefix: str = "linli-bench-") -> Iterator[tuple[str, str]]:
    """A temp instance folder and an empty database in it (SQLite) or on PostgreSQL, and
    the benchmarks' Redis database flushed before and after: ``(instance, database)``."""
    import redis

    store = redis.Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory(prefix=prefix) as instance:
        with throwaway_database("postgresql" if postgres else "sqlite", instance) as database:
            store.flushdb()
            try:
                yield instance, database
            finally:
                store.flushdb()


@contextlib.contextmanager
def localstripe(log_path: Path | None = None) -> Iterator[str]:
    """The local payment server as make run and the tests start it (scripts/localstripe):
    loopback only, state in memory, never the machine-wide /tmp/localstripe.pickle."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "localstripe"), "--port", str(port), *SCRATCH],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TZ": "UTC"},
        )
        try:
            wait_listening(port, process, "localstripe")
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


SCRATCH = ("--from-scratch",)  # localstripe's state in memory only
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(M)s"


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str],
    *,
    workers: int = WORKERS,
    threads: int = THREADS,
    access_log: Path | None = None,
    error_log: Path | None = None,
    config: Path | None = None,
) -> Iterator[str]:
    """gunicorn (gthread) serving wsgi:app on a free loopback port; yields its base URL
    once /healthz answers. ``access_log``: each request with its time in ms (the server's
    side of every route); ``error_log``: its stderr (where the console SMS sender writes
    the login codes)."""
    port = free_port()
    command = [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-k", "gthread"]
    command += ["--threads", str(threads), "-b", f"127.0.0.1:{port}"]
    command += ["--log-level", "warning", "--graceful-timeout", "5"]
    if access_log is not None:
        command += ["--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT]
    if config is not None:
        command += ["-c", str(config)]
    help_text = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--no-control-socket" in help_text:
        # gunicorn 27 opens one control socket per user (~/.gunicorn) unless told otherwise:
        # another session's gunicorn would fight over it.
        command.append("--no-control-socket")
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(error_log.open("ab")) if error_log else None
        process = subprocess.Popen(
            [*command, "wsgi:app"], cwd=ROOT, env=env, stdout=err, stderr=err
        )
        try:
            wait_listening(port, process, "gunicorn", 60)
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                with contextlib.suppress(requests.RequestException):
                    if requests.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                time.sleep(0.1)
            yield base
        finally:
            stop(process)
