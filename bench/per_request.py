"""Where one request's time goes, in process: the hot routes called straight through the
WSGI app (no HTTP, no test client), timed one at a time beside ``/healthz``, with the top of
a cProfile per route, or run under ``valgrind --tool=callgrind`` for instruction counts
(repeatable on a loaded machine, unlike wall-clock time).

    .venv/bin/python bench/per_request.py [--requests 2000] [--postgres] [--top 12]
    .venv/bin/python bench/per_request.py --callgrind ROUTE[,ROUTE...] [--requests 200]

Routes: ``healthz``, ``flash-sold-out`` and ``flash-over-limit`` (a refused
``POST /api/v1/orders`` on a flash deal), ``flash-winner`` (an admitted one: a new shopper
each time buys a unit of a flash deal with units left, its PaymentIntent made at the local
payment server), ``me``, ``deals``, ``home``, ``deal``. The data: a migrated throwaway
database (SQLite, or ``--postgres`` on BENCH_POSTGRES_URL) with the demo seed, a shopper
with a token, a sold-out flash deal and one the shopper already bought, and WINNERS more
shoppers for ``flash-winner`` (so ``--requests`` may be at most about WINNERS / 2).
Redis: BENCH_REDIS_URL (default DB 13, flushed before and after). The profile's sort:
BENCH_PROFILE_SORT (``tottime``, or ``cumulative``).

``--callgrind ROUTE,...`` runs this script under callgrind for each route (and
``healthz``, for scale) with ``--requests`` calls and again with twice as many, and prints
the difference over the extra calls: instructions per request, set-up left out.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import ROOT, VENV_BIN, bench_world, localstripe, server_env

SORT = os.environ.get("BENCH_PROFILE_SORT", "tottime")
ROUTES = (
    "healthz",
    "flash-sold-out",
    "flash-over-limit",
    "flash-winner",
    "me",
    "deals",
    "home",
    "deal",
)
WINNERS = 5000  # shoppers with a token for ``flash-winner``, one purchase each


def prepare(env: dict[str, str]) -> dict[str, Any]:
    """Seed, then a shopper with a token, a sold-out flash deal and one this shopper bought
    (limit 1); returns what the requests need."""
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    os.environ.update(env)
    import sqlalchemy as sa

    from marketplace import create_app
    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import Role, User
    from marketplace.core.clock import now
    from marketplace.core.db import db
    from marketplace.deals import service as deals
    from marketplace.deals.models import Deal, DealStatus
    from marketplace.distribution.distributors import largest_tier_bonus
    from merchants.models import Merchant

    app = create_app()
    with app.app_context():
        editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
        shop = db.session.scalars(sa.select(Merchant).where(Merchant.stage == "live")).first()
        shoppers = []
        for n in range(2 + WINNERS):
            user = User(phone=f"197{n:08d}", display_name=f"剖析{n}")
            user.grant(Role.SHOPPER)
            db.session.add(user)
            shoppers.append(user)
        db.session.flush()
        tokens = [accounts.issue_token(user).token for user in shoppers]
        flash = []
        for n in range(2 + WINNERS // 200):
            deal = deals.create_deal(
                {
                    "merchant_id": shop.id,
                    "type": "flash",
                    "title": f"剖析秒杀 {n}",
                    "list_price": 5800,
                    "sale_price": 990,
                    "settlement_price": 990,
                    "stock": (1, 2)[n] if n < 2 else 200,  # a flash deal's most
                    "per_shopper_limit": 1,
                    "sale_starts_at": now() - timedelta(minutes=5),
                    "sale_ends_at": now() + timedelta(hours=2),
                    "validity_days": 30,
                },
                editor,
                max_tier_bonus=largest_tier_bonus(),
            )
            deal.status = DealStatus.SCHEDULED.value
            deals.go_live(deal, actor_id=None)
            flash.append(deal)
        db.session.commit()
        live = db.session.scalar(sa.select(Deal.id).where(Deal.status == DealStatus.LIVE.value))
        ids = [d.id for d in flash]
    client = app.test_client()
    # shopper 1 buys the 1-unit deal (sold out) and one unit of the 2-unit deal (limit)
    for deal_id in ids[:2]:
        answer = client.post(
            "/api/v1/orders",
            json={"deal_id": deal_id, "quantity": 1},
            headers={"Authorization": f"Bearer {tokens[1]}"},
        )
        assert answer.status_code in (201, 503), answer.get_json()
    return {
        "app": app,
        "tokens": tokens,
        "sold_out": ids[0],
        "limited": ids[1],
        "plenty": ids[2:],
        "deal": live,
    }


def requests_of(world: dict[str, Any]) -> dict[str, tuple[Callable[[], dict], int]]:
    """Each route as a function making a fresh WSGI environ, and the status it must get."""
    from werkzeug.test import EnvironBuilder

    loser, buyer = (f"Bearer {t}" for t in world["tokens"][:2])
    winners = iter(enumerate(world["tokens"][2:]))

    def environ(method: str, path: str, **kw: Any) -> Callable[[], dict]:
        def make() -> dict:
            return EnvironBuilder(path=path, method=method, **kw).get_environ()

        return make

    def order(deal_id: int, auth: str) -> Callable[[], dict]:
        body = f'{{"deal_id": {deal_id}, "quantity": 1}}'
        return environ(
            "POST",
            "/api/v1/orders",
            data=body,
            content_type="application/json",
            headers={"Authorization": auth, "Idempotency-Key": "profile-attempt"},
        )

    def winner() -> dict:
        n, token = next(winners)
        return order(world["plenty"][n // 200], f"Bearer {token}")()

    return {
        "healthz": (environ("GET", "/healthz"), 200),
        "flash-winner": (winner, 201),
        "flash-sold-out": (order(world["sold_out"], loser), 409),
        "flash-over-limit": (order(world["limited"], buyer), 409),
        "me": (environ("GET", "/api/v1/me", headers={"Authorization": loser}), 200),
        "deals": (environ("GET", "/api/v1/deals?page_size=20"), 200),
        "home": (environ("GET", "/api/v1/home"), 200),
        "deal": (environ("GET", f"/api/v1/deals/{world['deal']}"), 200),
    }


def call(app: Any, make: Callable[[], dict]) -> str:
    status: list[str] = []
    body = app(make(), lambda s, h, exc=None: status.append(s))
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return status[0]


def timed(app: Any, make: Callable[[], dict], n: int) -> tuple[float, float]:
    """Median and mean µs per request (environ building excluded). The median is what a
    request costs; on a loaded machine the mean also holds the moments this process (or
    Redis, on the same cores) waited for a CPU."""
    environs = [make() for _ in range(n)]
    samples = []
    for env in environs:
        start = time.perf_counter()
        body = app(env, lambda s, h, exc=None: None)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6, statistics.mean(samples) * 1e6


def sql_statements(app: Any, make: Callable[[], dict], n: int = 20) -> float:
    import sqlalchemy as sa

    from marketplace.core.db import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(n):
            call(app, make)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen) / n


def profile(app: Any, routes: dict, names: list[str], n: int, top: int) -> None:
    print(f"\nin process, one request at a time, {n} each (werkzeug environ, no HTTP):")
    for name in names:
        make, expected = routes[name]
        got = call(app, make)
        assert got.startswith(str(expected)), (name, got)
        for _ in range(50):  # warm: caches filled, pools open
            call(app, make)
        median, mean = timed(app, make, n)
        statements = sql_statements(app, make)
        print(f"  {name:<18} median {median:7.1f} µs  mean {mean:7.1f} µs  SQL {statements:4.1f}")
    for name in names:
        make, _ = routes[name]
        environs = [make() for _ in range(n)]
        profiler = cProfile.Profile()
        profiler.enable()
        for env in environs:
            for _ in app(env, lambda s, h, exc=None: None):
                pass
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(SORT).print_stats(top)
        text = out.getvalue()
        print(f"\n  cProfile of {n} × {name}, by {SORT}:")
        print("   " + text[text.find("ncalls") :].rstrip().replace("\n", "\n   "))


def callgrind_child(app: Any, routes: dict, name: str, n: int) -> None:
    """Under valgrind: ``n`` calls of ``name`` after a warm-up."""
    make, _ = routes[name]
    for _ in range(50):
        call(app, make)
    for env in [make() for _ in range(n)]:
        for _ in app(env, lambda s, h, exc=None: None):
            pass


def callgrind(args: argparse.Namespace) -> None:
    """Instructions per request: each route run under callgrind twice, with ``--requests``
    calls and with twice as many; the difference over the extra calls leaves set-up out."""

    def total(name: str, n: int) -> int:
        with tempfile.TemporaryDirectory(prefix="linli-callgrind-") as out:
            command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out"]
            command += [sys.executable, __file__, "--callgrind-child", name]
            command += ["--requests", str(n)] + (["--postgres"] if args.postgres else [])
            subprocess.run(command, check=True, capture_output=True)
            text = Path(f"{out}/cg.out").read_text(errors="replace")
            return int(re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE).group(1))

    n = args.requests
    print(f"callgrind, instructions per request ({n} more calls; set-up subtracted):")
    for name in dict.fromkeys(["healthz", *args.callgrind.split(",")]):
        per_request = (total(name, 2 * n) - total(name, n)) / n
        print(f"  {name:<18} {per_request / 1e6:8.3f} M instructions", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--callgrind", metavar="ROUTE,...", help="instruction counts")
    parser.add_argument("--callgrind-child", choices=ROUTES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args)
        return
    with bench_world(args.postgres) as (instance, database), contextlib.ExitStack() as payments:
        stripe_base = "http://127.0.0.1:9"  # nothing answers: set-up orders stay pending
        if "flash-winner" in args.routes and not args.callgrind_child:
            stripe_base = payments.enter_context(localstripe())
        env = server_env(
            instance, database, LINLI_CATALOG_CACHE="1", LINLI_STRIPE_API_BASE=stripe_base
        )
        world = prepare(env)
        routes = requests_of(world)
        app = world["app"]
        if args.callgrind_child:
            callgrind_child(app, routes, args.callgrind_child, args.requests)
            return
        print(f"database: {database.split(':')[0]}")
        profile(app, routes, args.routes.split(","), args.requests, args.top)


if __name__ == "__main__":
    main()
