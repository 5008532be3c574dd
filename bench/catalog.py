"""Load the catalog's hot endpoints against a running server and print requests/s and
p50/p99 latency, with the Redis cache on and off.

    make bench            # or: .venv/bin/python bench/catalog.py [--seconds 5] [--clients 8]

It builds a throwaway database (migrations + `flask seed` + 200 more live deals), starts
gunicorn on a free loopback port (2 workers x 4 threads), and drives it from this process
with concurrent keep-alive clients. Only 127.0.0.1 is contacted. Set BENCH_DATABASE_URL to
an empty PostgreSQL database to measure PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, VENV_BIN, serve, summarize

ENDPOINTS = [
    ("GET /healthz (trivial, for scale)", "/healthz"),
    ("GET /api/v1/deals", "/api/v1/deals?page_size=20"),
    ("GET /api/v1/deals?near&sort=distance", "/api/v1/deals?near=27.3383,103.7172&radius=5000"),
    ("GET /api/v1/deals?sort=popularity", "/api/v1/deals?sort=popularity&category=hotpot-bbq"),
    ("GET /api/v1/home", "/api/v1/home"),
]


def prepare(env: dict[str, str], extra_deals: int) -> None:
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    # The extra deals go on sale the way the seed's do (seed.deals.publish_in_past_slots):
    # created, slotted and published in free past slots on the platform's clock, so the
    # one-deal-per-slot rule holds; they fill the calendar about 100 days back.
    code = f"""
import sqlalchemy as sa
from marketplace import create_app
from marketplace.accounts.models import User
from marketplace.core.db import db
from merchants.models import Merchant
from seed.deals import publish_in_past_slots
app = create_app()
with app.app_context():
    bd = db.session.scalars(sa.select(User).where(User.username == "bd")).one()
    editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
    shops = db.session.scalars(sa.select(Merchant).where(Merchant.stage == "live")).all()
    publish_in_past_slots([{{
        "merchant_id": shops[n % len(shops)].id, "type": "small_set",
        "title": f"压测套餐 {{n}}", "party_size": 4, "list_price": 26800,
        "sale_price": 15800, "settlement_price": 12800, "stock": 100,
        "validity_days": 30, "commission_l1": 800, "commission_l2": 200}}
        for n in range({extra_deals})], editor, bd)
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def load(base: str, path: str, seconds: float, clients: int) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        nonlocal errors
        session = requests.Session()
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = session.get(base + path, timeout=10)
            mine.append((time.perf_counter() - start) * 1000)
            failed += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), sorted(latencies), errors


def run(env: dict[str, str], label: str, seconds: float, clients: int) -> None:
    with serve(env) as base:
        print(f"\n{label}: {clients} concurrent clients, {seconds:.0f} s per endpoint")
        for name, path in ENDPOINTS:
            load(base, path, 0.5, clients)  # warm up (and fill the cache)
            _, latencies, errors = load(base, path, seconds, clients)
            summarize(name, latencies, seconds, f"   errors {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--extra-deals", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as instance:
        env = {
            **os.environ,
            "LINLI_ENV": "development",
            "LINLI_INSTANCE_PATH": instance,
            "LINLI_DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3"
            ),
            "LINLI_REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            "LINLI_LOG_LEVEL": "WARNING",
        }
        import redis

        redis.Redis.from_url(env["LINLI_REDIS_URL"]).flushdb()
        prepare(env, args.extra_deals)
        backend = env["LINLI_DATABASE_URL"].split(":")[0]
        print(f"database: {backend}; live deals: seed + {args.extra_deals}")
        run({**env, "LINLI_CATALOG_CACHE": "1"}, "cache on", args.seconds, args.clients)
        run(
            {**env, "LINLI_CATALOG_CACHE": "0"},
            "cache off (every request hits the database)",
            args.seconds,
            args.clients,
        )
        redis.Redis.from_url(env["LINLI_REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
