"""A flash sale against a real server: N purchase attempts from many concurrent clients on
a flash deal with stock S and a limit of one per shopper.

    .venv/bin/python bench/flash_sale.py [--stock 100] [--attempts 1000] [--clients 32]

Starts localstripe and gunicorn (2 workers x 8 threads) on free loopback ports with a
throwaway database (SQLite, or BENCH_DATABASE_URL for an empty PostgreSQL database) and
Redis DB 14. Prints attempts/s, p50/p99 latency, successes and oversold units (must be 0),
beside the ceiling: /healthz, a trivial JSON endpoint, under the same server and clients.
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, VENV_BIN, free_port, serve, summarize


def setup(env: dict[str, str], stock: int, shoppers: int) -> tuple[int, list[str]]:
    """Migrate, seed, and create the flash deal and the shoppers; returns (deal id, tokens)."""
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    os.environ.update(env)
    from marketplace import create_app
    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import Role, User
    from marketplace.core.db import db
    from marketplace.deals import service as deals
    from marketplace.deals.models import DealStatus
    from marketplace.distribution.distributors import largest_tier_bonus
    from merchants.models import Merchant

    app = create_app()
    with app.app_context():
        import sqlalchemy as sa

        editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
        shop = db.session.scalars(sa.select(Merchant).where(Merchant.stage == "live")).first()
        now = datetime.now(UTC)
        deal = deals.create_deal(
            {
                "merchant_id": shop.id,
                "type": "flash",
                "title": "压测秒杀",
                "list_price": 5800,
                "sale_price": 990,
                "settlement_price": 990,
                "stock": stock,
                "sale_starts_at": now - timedelta(minutes=1),
                "sale_ends_at": now + timedelta(hours=2),
                "validity_days": 30,
            },
            editor,
            max_tier_bonus=largest_tier_bonus(),
        )
        app.config["LINLI_FLASH_STOCK_CAP"] = max(stock, 200)
        deal.status = DealStatus.SCHEDULED.value
        deals.go_live(deal, actor_id=None)
        tokens = []
        for n in range(shoppers):
            user = User(phone=f"139{n:08d}", display_name=f"压测{n}")
            user.grant(Role.SHOPPER)
            db.session.add(user)
            db.session.flush()
            tokens.append(accounts.issue_token(user).token)
        db.session.commit()
        return deal.id, tokens


def fire(base: str, path: str, jobs: list[dict], clients: int, method: str = "POST"):
    latencies: list[float] = []
    outcomes: Counter = Counter()
    lock = threading.Lock()
    queue = list(jobs)

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            start = time.perf_counter()
            if method == "POST":
                response = session.post(
                    base + path, json=job["json"], headers=job["headers"], timeout=30
                )
            else:
                response = session.get(base + path, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000
            code = response.status_code
            reason = "ok" if code < 300 else response.json()["error"]["code"]
            with lock:
                latencies.append(elapsed)
                outcomes[(code, reason)] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, outcomes, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    stripe_port = free_port()
    stripe = subprocess.Popen(
        [str(VENV_BIN / "localstripe"), "--port", str(stripe_port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with tempfile.TemporaryDirectory(prefix="linli-flash-") as instance:
        env = {
            **os.environ,
            "LINLI_ENV": "development",
            "LINLI_INSTANCE_PATH": instance,
            "LINLI_DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{instance}/bench.sqlite3"
            ),
            "LINLI_REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            "LINLI_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "LINLI_FLASH_STOCK_CAP": str(max(args.stock, 200)),
            "LINLI_LOG_LEVEL": "WARNING",
        }
        redis.Redis.from_url(env["LINLI_REDIS_URL"]).flushdb()
        try:
            for _ in range(100):  # wait for localstripe to listen
                try:
                    requests.get(env["LINLI_STRIPE_API_BASE"], timeout=0.5)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            deal_id, tokens = setup(env, args.stock, args.attempts)
            jobs = [
                {
                    "json": {"deal_id": deal_id, "quantity": 1},
                    "headers": {"Authorization": f"Bearer {t}"},
                }
                for t in tokens
            ]
            print(
                f"database: {env['LINLI_DATABASE_URL'].split(':')[0]}; stock {args.stock}; "
                f"{args.attempts} attempts from {args.clients} concurrent clients"
            )
            with serve(env, workers=2, threads=8) as base:
                fire(base, "/healthz", [{}] * 200, args.clients, method="GET")  # warm up
                ceiling, _, seconds = fire(
                    base, "/healthz", [{}] * args.attempts, args.clients, method="GET"
                )
                summarize("ceiling: GET /healthz", ceiling, seconds)
                latencies, outcomes, seconds = fire(base, "/api/v1/orders", jobs, args.clients)
                summarize("POST /api/v1/orders (flash)", latencies, seconds)
            from marketplace import create_app
            from marketplace.core.db import db
            from marketplace.deals.models import Deal
            from marketplace.orders.models import HOLDING_STATUSES, Order

            app = create_app()
            with app.app_context():
                import sqlalchemy as sa

                held = db.session.scalars(
                    sa.select(Order).where(
                        Order.deal_id == deal_id,
                        Order.status.in_([s.value for s in HOLDING_STATUSES]),
                    )
                ).all()
                units = sum(o.quantity for o in held)
                per_shopper = Counter(o.shopper_id for o in held)
                left = db.session.get(Deal, deal_id).stock_left
            print(f"  outcomes: {dict(outcomes)}")
            print(
                f"  successes {outcomes[(201, 'ok')]}   units held {units}   stock left {left}"
                f"   oversold {max(0, units - args.stock)}"
                f"   shoppers over the limit {sum(1 for c in per_shopper.values() if c > 1)}"
            )
        finally:
            stripe.terminate()
            stripe.wait(10)
            redis.Redis.from_url(env["LINLI_REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
