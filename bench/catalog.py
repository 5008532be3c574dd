"""The catalog's hot reads beside /healthz: requests/s and p50/p99 under gunicorn with the
Redis cache warm (and off), and where a cache hit spends its time in process.

    make bench            # or: .venv/bin/python bench/catalog.py [--seconds 5]
    .venv/bin/python bench/catalog.py --postgres          # PostgreSQL (the issue's setting)
    .venv/bin/python bench/catalog.py --in-process        # single-threaded ms and a profile

It builds a throwaway database (migrations + `flask seed` + 200 more live deals): SQLite in
a temp folder, or with --postgres an empty database created on the PostgreSQL at
BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped
afterwards. It starts gunicorn on a free loopback port (-w 4 -k gthread --threads 4 by
default, the same server for every endpoint and /healthz) and loads each endpoint with wrk
(2 threads x 32 connections), /healthz before and after each, in one run. Only 127.0.0.1
is contacted; Redis DB 13 (BENCH_REDIS_URL) is flushed.

--in-process times each endpoint with Flask's test client in this process, one request at a
time (a warm cache), beside /healthz, and prints the top of a cProfile of cache hits.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import ROOT, THREADS, VENV_BIN, WORKERS, bench_world, gunicorn, server_env
from bench.wrk import side_by_side

ENDPOINTS = [
    ("GET /api/v1/deals", "/api/v1/deals?page_size=20"),
    ("GET /api/v1/deals?near&sort=distance", "/api/v1/deals?near=27.3383,103.7172&radius=5000"),
    ("GET /api/v1/deals?sort=popularity", "/api/v1/deals?sort=popularity&category=hotpot-bbq"),
    ("GET /api/v1/deals/{id}", "/api/v1/deals/{deal_id}"),
    ("GET /api/v1/home", "/api/v1/home"),
]


def prepare(env: dict[str, str], extra_deals: int) -> int:
    """Migrate, seed, add ``extra_deals`` live deals; the id of a live deal."""
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
from marketplace.deals.models import Deal
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
    print(db.session.scalar(sa.select(sa.func.max(Deal.id)).where(Deal.status == "live")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return int(out.stdout.decode().split()[-1])


def under_load(env: dict[str, str], label: str, deal_id: int, args: argparse.Namespace) -> None:
    endpoints = [(name, path.format(deal_id=deal_id)) for name, path in ENDPOINTS]
    with gunicorn(env, workers=args.workers, threads=args.threads) as base:
        print(
            f"\n{label}: gunicorn -w {args.workers} -k gthread --threads {args.threads}, "
            f"wrk -t{args.wrk_threads} -c{args.connections}, {args.seconds:.0f} s per endpoint"
        )
        side_by_side(
            base,
            endpoints,
            seconds=args.seconds,
            rounds=args.rounds,
            threads=args.wrk_threads,
            connections=args.connections,
        )


def in_process(env: dict[str, str], deal_id: int, requests: int) -> None:
    """One request at a time through Flask's test client: ms per request beside /healthz,
    then the top of a cProfile of cache hits of the list."""
    os.environ.update(env)
    from marketplace import create_app

    client = create_app({"LINLI_CATALOG_CACHE": True}).test_client()
    paths = [("GET /healthz", "/healthz")]
    paths += [(name, path.format(deal_id=deal_id)) for name, path in ENDPOINTS]
    print(f"\nin process, one request at a time, cache warm ({requests} requests each):")
    for name, path in paths:
        assert client.get(path).status_code == 200, path
        samples = []
        for _ in range(requests):
            start = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - start) * 1000)
        print(f"  {name:<44} p50 {statistics.median(samples):6.3f} ms")
    profile = cProfile.Profile()
    path = paths[1][1]
    profile.enable()
    for _ in range(requests):
        client.get(path)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    print(f"\ncProfile of {requests} cache hits of {path}, by own time:")
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and take the median")
    parser.add_argument("--extra-deals", type=int, default=200)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database")
    parser.add_argument("--no-cache-off", action="store_true", help="skip the cache-off run")
    parser.add_argument(
        "--in-process", type=int, nargs="?", const=2000, default=0, metavar="REQUESTS"
    )
    args = parser.parse_args()
    with bench_world(args.postgres) as (instance, database):
        # nothing answers at that payment server: the seed leaves its paid orders out
        env = server_env(instance, database, LINLI_STRIPE_API_BASE="http://127.0.0.1:9")
        deal_id = prepare(env, args.extra_deals)
        backend = database.split(":")[0]
        print(f"database: {backend}; live deals: seed + {args.extra_deals}")
        if args.in_process:
            in_process({**env, "LINLI_CATALOG_CACHE": "1"}, deal_id, args.in_process)
            return
        under_load({**env, "LINLI_CATALOG_CACHE": "1"}, "cache on (warm)", deal_id, args)
        if not args.no_cache_off:
            under_load(
                {**env, "LINLI_CATALOG_CACHE": "0"},
                "cache off (every request reads the database)",
                deal_id,
                args,
            )


if __name__ == "__main__":
    main()
