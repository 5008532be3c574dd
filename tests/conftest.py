"""Fixtures: one app per database backend, real Redis, a clean slate for every test.

Every test that uses ``app`` (or ``client``) runs twice: against SQLite and against
PostgreSQL. Both schemas are built by the real migrations, not ``create_all``. Locally a
missing PostgreSQL or Redis skips the tests that need it; under ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from werkzeug.serving import make_server

from marketplace import create_app
from marketplace.core.clock import FrozenClock
from marketplace.core.db import db
from marketplace.jobs import tasks
from marketplace.jobs.schedule import QUEUE
from marketplace.payments.service import HANDLED_EVENTS
from marketplace.providers.sms import MemorySms

CI = os.environ.get("CI", "").lower() == "true"
# `make run` leaves its settings in .run/env for flask commands in another terminal; the
# suite must not pick them up (a dev Stripe port, a changed LINLI_MIN_CHARGE...).
os.environ["LINLI_ENV_FILE"] = os.devnull
TEST_POSTGRES_URL = os.environ.get(
    "LINLI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def worker_redis_url(url: str, worker: str | None) -> str:
    """Each pytest-xdist worker (``gw0``, ``gw1``, …) empties its Redis database between
    tests, so each gets its own: worker n uses the configured database number minus n
    (15, 14, … by default; never 0, make run's). Without xdist the configured database is
    used as it is."""
    if not worker or not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - int(worker[2:])
    if number < 1:  # database 0 is make run's (LINLI_REDIS_URL's default): never flush it
        raise pytest.UsageError(
            f"too many xdist workers for the Redis databases below {url} (0 is never used)"
        )
    return urlunsplit(parts._replace(path=f"/{number}"))


TEST_REDIS_URL = worker_redis_url(TEST_REDIS_URL, os.environ.get("PYTEST_XDIST_WORKER"))
BACKENDS = [b for b in os.environ.get("LINLI_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def unavailable(what: str, why: object) -> None:
    message = f"{what} is not available ({why})"
    if CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except RedisError as exc:
        unavailable(f"Redis at {TEST_REDIS_URL}", exc)
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this run, dropped afterwards."""
    from marketplace.settings import normalize_database_url

    admin_url = normalize_database_url(TEST_POSTGRES_URL)
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        unavailable(f"PostgreSQL at {TEST_POSTGRES_URL}", exc.orig)
    name = f"linli_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"))
        # A throwaway database: a commit need not wait for its WAL to reach the disk.
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_no_fsync(dbapi_connection, connection_record) -> None:
    """The suite's SQLite files are throwaway: no fsync per commit (about 9 ms each here).
    Runs after the app's own pragmas (foreign keys, busy timeout, WAL), which stay."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


WEBHOOK_SECRET = "whsec_test_linli"
FROZEN_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def stripe_url() -> Iterator[str]:
    """A real local Stripe-compatible server (localstripe) on a free port, through
    scripts/localstripe as make run starts it: loopback only, state in memory (never the
    machine-wide /tmp/localstripe.pickle another checkout may be using)."""
    if not (Path(sys.executable).parent / "localstripe").exists():
        unavailable("localstripe", "not installed; pip install -e '.[dev]'")
    port = free_port()
    script = Path(__file__).resolve().parent.parent / "scripts" / "localstripe"
    with local_server(
        "localstripe", [sys.executable, str(script), "--port", str(port), "--from-scratch"], port
    ) as url:
        yield url


@contextmanager
def local_server(what: str, command: list[str], port: int) -> Iterator[str]:
    """Start a helper server of the suite's on the loopback ``port``; stop it afterwards.
    One that exits or never listens is unavailable (a skip locally, a failure in CI)."""
    process = subprocess.Popen(  # noqa: S603 - the suite's own helper servers
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if process.poll() is not None:
                unavailable(what, f"exited with {process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            unavailable(what, "did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def build_app(database_url: str, redis_url: str, instance: str, **overrides: object) -> Flask:
    config = {
        "LINLI_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "LINLI_REDIS_URL": redis_url,
        "LINLI_SMS_BACKEND": "memory",
        "LINLI_NOTIFIER_BACKEND": "memory",
        "LINLI_INSTANCE_PATH": instance,
        "SECRET_KEY": "test-secret-key",
        "LINLI_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session", params=BACKENDS)
def backend_app(request, redis_url, stripe_url, tmp_path_factory) -> Iterator[Flask]:
    instance = tmp_path_factory.mktemp(f"instance-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'test.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    app = build_app(url, redis_url, str(instance), LINLI_STRIPE_API_BASE=stripe_url)
    # the suite's own client (a test may break the app's on purpose)
    app.extensions["tests.redis"] = Redis.from_url(redis_url)
    with app.app_context():
        upgrade()
        # Rows the migrations themselves insert (reference data such as the default
        # categories) are put back after every test's clean-up.
        with db.engine.connect() as conn:
            app.extensions["tests.baseline"] = [
                (table, [dict(row._mapping) for row in conn.execute(table.select())])
                for table in db.metadata.sorted_tables
            ]
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(backend_app: Flask, stripe_url: str) -> Iterator[str]:
    """The app served over HTTP on a free port, registered with localstripe for webhooks
    (every backend's server receives every event and ignores orders it does not know)."""
    server = make_server("127.0.0.1", 0, backend_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    name = sa.make_url(backend_app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    response = requests.post(
        f"{stripe_url}/_config/webhooks/{name}",
        data={
            "url": f"{url}/api/v1/payments/stripe/webhook",
            "secret": WEBHOOK_SECRET,
            "events[]": list(HANDLED_EVENTS),
        },
        timeout=5,
    )
    response.raise_for_status()
    yield url
    server.shutdown()


def reset(backend_app: Flask) -> None:
    """A clean slate for the next test: rows, Redis keys, SMS outbox, clock."""
    backend_app.extensions.pop("linli.clock", None)
    backend_app.extensions["linli.sms"].clear()
    backend_app.extensions["linli.notifier"].clear()
    with backend_app.app_context():
        db.session.remove()
        tables = db.metadata.sorted_tables
        with db.engine.begin() as conn:
            # One query finds the tables the test wrote to (also through a subprocess);
            # only those are emptied, children first. Tables with baseline rows are always
            # put back: a test may have changed a row without adding one.
            filled = conn.execute(
                sa.select(*(sa.exists(sa.select(sa.literal(1)).select_from(t)) for t in tables))
            ).one()
            baseline = backend_app.extensions["tests.baseline"]
            for table, has_rows in reversed(list(zip(tables, filled, strict=True))):
                if has_rows:
                    conn.execute(table.delete())
            for table, rows in baseline:
                if rows:
                    conn.execute(table.insert(), rows)
    backend_app.extensions["tests.redis"].flushdb()


@pytest.fixture
def app(backend_app: Flask) -> Iterator[Flask]:
    yield backend_app
    reset(backend_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sms(app: Flask) -> MemorySms:
    return app.extensions["linli.sms"]


@pytest.fixture
def clock(app: Flask) -> FrozenClock:
    """Freeze the app's clock at 2026-11-23 10:00 Asia/Shanghai; move it with advance()."""
    frozen = FrozenClock(FROZEN_AT)
    app.extensions["linli.clock"] = frozen
    return frozen


@pytest.fixture
def backend(backend_app: Flask) -> str:
    return sa.make_url(backend_app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()


@pytest.fixture
def stripe_proxy(stripe_url: str) -> Iterator[object]:
    """A recording, scriptable proxy in front of localstripe (tests/stripe_proxy.py)."""
    from tests.stripe_proxy import StripeProxy

    proxy = StripeProxy(stripe_url)
    yield proxy
    proxy.close()


@pytest.fixture
def worker(app):
    """Runs scheduled jobs the way production does: dispatch → queue → a real RQ worker in
    burst mode. ``worker("name", ...)`` dispatches the jobs and works the queue empty."""
    tasks.use_app(app)
    redis = Redis.from_url(app.config["LINLI_REDIS_URL"])

    def run(*names: str) -> None:
        for name in names:
            tasks.dispatch(name)
        SimpleWorker([Queue(QUEUE, connection=redis)], connection=redis).work(burst=True)

    yield run
    tasks.use_app(None)
