"""The 10:00 flash opening against a real server: a crowd of shoppers with tokens taps "buy"
on a 200-unit flash deal (limit 1 each) while others browse the catalog, measured beside
the trivial endpoint with the same client in the same run.

    .venv/bin/python bench/flash_opening.py [--shoppers 2000] [--stock 200] \\
        [--seconds 10] [--restart-redis] [--profile] [--access-log FILE]

It makes a throwaway PostgreSQL database on BENCH_POSTGRES_URL (the local server by
default) and drops it afterwards, or uses BENCH_DATABASE_URL, an empty PostgreSQL database
you made (the benchmark migrates and seeds it). BENCH_REDIS_URL (default DB 13) is
flushed before and after. Starts localstripe and ``gunicorn -w 4 -k gthread --threads 4``
(the same server for /healthz and the taps) on free loopback ports; only 127.0.0.1 is
contacted. Exits non-zero when the database shows oversold units, a shopper over the limit
or a stock counter off.

The load generator is wrk (C, one epoll event loop per thread, LuaJIT for the per-request
script): on this 2-core machine it needs a small share of one core to keep 32 connections
busy, so what is measured is the server. A Python client (requests in threads, even
locust) spends more CPU per request than the endpoint it measures and competes with the
server for the same two cores; its numbers are its own ceiling. The Lua script hands each
request the next shopper's token (2,000 distinct shoppers, rotating) and a fresh
Idempotency-Key, as an app does for every tap.

Phases, one server:
  1. the ceiling: ``GET /healthz`` (2 threads x 32 connections) while 4 connections browse
     the catalog (list, near me, home, deal pages); measured again after phase 3, and the
     shares are of the mean of the two (the machine's other load moves during a run);
  the waiting room: every shopper opens the app before 10:00 (``GET /api/v1/me`` with each
     token in turn), so their tokens' principals are in Redis as they would be;
  2. the opening: the flash deal opens 2 s after wrk starts (the first taps are "not on
     sale yet"); ``POST /api/v1/orders`` (2 x 32, the same client) with the same browsing
     beside it;
  3. the same crowd once the deal is sold out (every answer a refusal).
  With ``--restart-redis`` the benchmark's Redis database is flushed once half the units
  are sold: every flash gate, cached sale state and cached token is lost at once. The
  shared Redis server cannot be restarted from here (other sessions use it); losing every
  key of ours mid-opening is what a restart without persistence does to us.
Afterwards the database is checked: units held, oversold units, shoppers over the limit.
``--profile`` then profiles rejected attempts in process (cProfile) and counts their SQL
statements.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import (
    REDIS_URL,
    ROOT,
    THREADS,
    VENV_BIN,
    WORKERS,
    gunicorn,
    localstripe,
    server_env,
    throwaway_postgres,
)
from bench.wrk import WRK_COUNT_ANSWERS, WrkResult, start_wrk

CONNECTIONS = 32
WRK_THREADS = 2
BROWSERS = 4
OPENS_AFTER = 2.0  # seconds after the crowd starts tapping

FLASH_SCRIPT = r"""
local tokens = {}
local next_index = 0
local sequence = 0
local body = '{"deal_id": %(deal_id)d, "quantity": 1}'

function init(args)
  for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
  next_index = linli_thread
end

function request()
  -- thread t takes shoppers t, t + T, t + 2T, ...: every shopper in turn, none shared
  local token = tokens[(next_index %% #tokens) + 1]
  next_index = next_index + %(threads)d
  sequence = sequence + 1
  return wrk.format("POST", "/api/v1/orders", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "%(phase)s-" .. linli_thread .. "-" .. sequence,
  }, body)
end
"""

WAITING_SCRIPT = r"""
local tokens = {}
local next_index = 0

function init(args)
  for line in io.lines("%(tokens)s") do tokens[#tokens + 1] = line end
  next_index = %(offset)d + linli_thread
end

function request()
  local token = tokens[(next_index %% #tokens) + 1]
  next_index = next_index + %(threads)d
  return wrk.format("GET", "/api/v1/me", {["Authorization"] = "Bearer " .. token})
end
"""

BROWSE_SCRIPT = r"""
local paths = {%(paths)s}
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
"""

PLAIN_SCRIPT = r"""
function request()
  return wrk.format("GET", "/healthz")
end
"""


def prepare(env: dict[str, str], shoppers: int, tokens_file: Path) -> list[int]:
    """Migrate and seed the empty database, make the shoppers and their tokens; returns
    the ids of the seeded deals on sale (pages to browse)."""
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*flask, "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    import sqlalchemy as sa

    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import Role, User
    from marketplace.core.db import db
    from marketplace.deals.models import Deal, DealStatus

    app = app_for(env)
    with app.app_context():
        tokens = []
        for start in range(0, shoppers, 500):
            made = []
            for n in range(start, min(start + 500, shoppers)):
                user = User(phone=f"196{n:08d}", display_name=f"压测{n}")
                user.grant(Role.SHOPPER)
                db.session.add(user)
                made.append(user)
            db.session.flush()
            tokens += [accounts.issue_token(user).token for user in made]
            db.session.commit()
        tokens_file.write_text("\n".join(tokens) + "\n")
        return list(
            db.session.scalars(sa.select(Deal.id).where(Deal.status == DealStatus.LIVE.value))
        )


def app_for(env: dict[str, str]):
    os.environ.update(env)
    from marketplace import create_app

    return create_app()


def open_flash_deal(env: dict[str, str], stock: int, opens_at: datetime) -> int:
    """A live flash deal of a live seeded merchant, ``stock`` units, limit 1, opening at
    ``opens_at`` — published the way the publishing job does it."""
    import sqlalchemy as sa

    from marketplace.accounts.models import User
    from marketplace.core.db import db
    from marketplace.deals import service as deals
    from marketplace.deals.models import DealStatus
    from marketplace.distribution.distributors import largest_tier_bonus
    from merchants.models import Merchant

    app = app_for(env)
    with app.app_context():
        editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
        shop = db.session.scalars(sa.select(Merchant).where(Merchant.stage == "live")).first()
        deal = deals.create_deal(
            {
                "merchant_id": shop.id,
                "type": "flash",
                "title": "10点秒杀 9.9元双人餐",
                "list_price": 5800,
                "sale_price": 990,
                "settlement_price": 990,
                "stock": stock,
                "per_shopper_limit": 1,
                "sale_starts_at": opens_at,
                "sale_ends_at": opens_at + timedelta(hours=2),
                "validity_days": 30,
            },
            editor,
            max_tier_bonus=largest_tier_bonus(),
        )
        # Slotted at 10:00 and published by the job; the slot itself is not what is measured.
        deal.status = DealStatus.SCHEDULED.value
        deals.go_live(deal, actor_id=None)
        db.session.commit()
        return deal.id


def check_stock(
    env: dict[str, str], deal_id: int, stock: int, opens_at: datetime
) -> dict[str, int | float]:
    """What the database, the record, says after the opening (and how many seconds after
    it opened the first and the last order of the deal were placed)."""
    import sqlalchemy as sa

    from marketplace.core.db import db
    from marketplace.deals.models import Deal
    from marketplace.orders.models import HOLDING_STATUSES, Order

    app = app_for(env)
    with app.app_context():
        held = db.session.execute(
            sa.select(Order.shopper_id, Order.quantity).where(
                Order.deal_id == deal_id,
                Order.status.in_([s.value for s in HOLDING_STATUSES]),
            )
        ).all()
        per_shopper: Counter = Counter()
        for shopper_id, quantity in held:
            per_shopper[shopper_id] += quantity
        deal = db.session.get(Deal, deal_id)
        first, last = db.session.execute(
            sa.select(sa.func.min(Order.created_at), sa.func.max(Order.created_at)).where(
                Order.deal_id == deal_id
            )
        ).one()
        units = sum(per_shopper.values())
        return {
            "orders": len(held),
            "units": units,
            "stock_left": deal.stock_left,
            "oversold": max(0, units - stock),
            "counter_mismatch": units + deal.stock_left - stock,
            "over_limit": sum(1 for n in per_shopper.values() if n > 1),
            "first_order_s": (first - opens_at).total_seconds() if first else -1,
            "last_order_s": (last - opens_at).total_seconds() if last else -1,
        }


def flush_midway(redis_url: str, deal_id: int, stock: int, until: float, log: list) -> None:
    """Flush our Redis database once the gate says half the units are gone."""
    client = redis.Redis.from_url(redis_url)
    key = f"linli:flash:{deal_id}:stock"
    while time.monotonic() < until:
        left = client.get(key)
        if left is not None and int(left) <= stock // 2:
            client.flushdb()
            log.append(f"Redis database flushed with the gate at {int(left)} units left")
            return
        time.sleep(0.002)
    log.append("the gate never reached half its stock: nothing flushed")


def profile_rejections(env: dict[str, str], deal_id: int, tokens_file: Path, n: int) -> None:
    """A rejected flash attempt in process: time, SQL statements, and where the time goes."""
    import sqlalchemy as sa

    from marketplace.core.db import db
    from marketplace.orders.models import Order

    app = app_for(env)
    client = app.test_client()
    tokens = tokens_file.read_text().split()
    with app.app_context():
        buyers = set(
            db.session.scalars(sa.select(Order.shopper_id).where(Order.deal_id == deal_id))
        )
        from marketplace.accounts.models import AuthToken

        losers = [
            t
            for t in tokens[:400]
            if db.session.scalar(
                sa.select(AuthToken.user_id).where(
                    AuthToken.token_hash == hashlib.sha256(t.encode()).hexdigest()
                )
            )
            not in buyers
        ]
        engine = db.engine
    statements = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    def attempt(i: int):
        return client.post(
            "/api/v1/orders",
            json={"deal_id": deal_id, "quantity": 1},
            headers={
                "Authorization": f"Bearer {losers[i % len(losers)]}",
                "Idempotency-Key": f"profile-{i}",
            },
        )

    answers: Counter = Counter()
    while losers:  # sell whatever the opening left, so every attempt below is refused
        answer = attempt(len(losers) - 1).get_json()
        losers.pop()
        answers[answer.get("error", {}).get("code", "bought")] += 1
        if answers["sold_out"]:
            break
    if not answers["sold_out"]:
        print(f"\nin process: could not sell the deal out ({dict(answers)}); no profile")
        return
    for i in range(len(losers)):  # warm: every token used once (first uses may write)
        attempt(i)
    sa.event.listen(engine, "before_cursor_execute", count)
    answers = Counter(attempt(i).get_json()["error"]["code"] for i in range(50))
    sa.event.remove(engine, "before_cursor_execute", count)
    print(f"\nin process: 50 rejected attempts answered {dict(answers)}")
    print(f"  SQL statements per rejected attempt: {len(statements) / 50:.2f}")
    for statement in sorted(set(statements))[:8]:
        print("    " + " ".join(statement.split())[:150])
    for label, call in (
        ("GET /healthz", lambda i: client.get("/healthz")),
        ("POST /api/v1/orders (rejected flash)", attempt),
    ):
        start = time.perf_counter()
        for i in range(n):
            call(i)
        print(f"  {label:<40} {(time.perf_counter() - start) / n * 1000:6.3f} ms each")
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        attempt(i)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(18)
        text = out.getvalue()
        print(f"\n  cProfile of {n} rejected attempts, by {order}:")
        print(text[text.find("ncalls") - 5 :].rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--restart-redis", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per process")
    parser.add_argument(
        "--access-log", type=Path, help="gunicorn's access log: each request's time in ms"
    )
    args = parser.parse_args()
    database = os.environ.get("BENCH_DATABASE_URL", "")
    if database and not database.startswith("postgresql"):
        sys.exit("BENCH_DATABASE_URL must name an empty PostgreSQL database (see the docstring)")
    redis_url = REDIS_URL
    with contextlib.ExitStack() as stack:
        if not database:
            database = stack.enter_context(throwaway_postgres())
        broken = opening(args, database, redis_url)
    if broken:
        sys.exit("FAILED: units oversold, a shopper over the limit, or the counter off")


def opening(args: argparse.Namespace, database: str, redis_url: str) -> bool:
    """The whole run; True if the database shows oversold units or a shopper over the
    limit afterwards."""
    with tempfile.TemporaryDirectory(prefix="linli-opening-") as work, localstripe() as stripe:
        env = server_env(
            work,
            database,
            LINLI_REDIS_URL=redis_url,
            LINLI_STRIPE_API_BASE=stripe,
            LINLI_FLASH_STOCK_CAP=str(max(args.stock, 200)),
        )
        redis.Redis.from_url(redis_url).flushdb()
        tokens_file = Path(work) / "tokens.txt"
        try:
            started = time.perf_counter()
            deal_ids = prepare(env, args.shoppers, tokens_file)
            print(
                f"PostgreSQL; gunicorn -w {args.workers} -k gthread --threads {args.threads}; "
                f"wrk {WRK_THREADS} threads x "
                f"{CONNECTIONS} connections, {BROWSERS} more browsing; {args.shoppers} shoppers; "
                f"{args.stock} units, limit 1; {args.seconds:.0f} s a phase "
                f"(set up in {time.perf_counter() - started:.0f} s)"
            )
            browse_paths = [
                "/api/v1/deals?page_size=20",
                "/api/v1/home",
                "/api/v1/deals?near=27.3383,103.7172&radius=5000",
                *(f"/api/v1/deals/{i}" for i in deal_ids[:10]),
            ]
            browse = BROWSE_SCRIPT % {"paths": ", ".join(f'"{p}"' for p in browse_paths)}
            results: list[WrkResult] = []
            waiting: list[WrkResult] = []
            log: list[str] = []
            with gunicorn(
                env, workers=args.workers, threads=args.threads, access_log=args.access_log
            ) as base:

                def phase(label: str, script: str, seconds: float) -> tuple[WrkResult, ...]:
                    main_run = start_wrk(
                        label,
                        base,
                        script,
                        threads=WRK_THREADS,
                        connections=CONNECTIONS,
                        seconds=seconds,
                        workdir=work,
                    )
                    browsing = start_wrk(
                        f"{label} / browsing beside",
                        base,
                        WRK_COUNT_ANSWERS + browse,
                        threads=1,
                        connections=BROWSERS,
                        seconds=seconds,
                        workdir=work,
                    )
                    return main_run(), browsing()

                # every phase counts its answers (wrk runs the same Lua per answer, so the
                # client's cost per request is the same for the ceiling and the taps)
                phase("warm-up", WRK_COUNT_ANSWERS + PLAIN_SCRIPT, 3)
                results += phase(
                    "GET /healthz (ceiling)", WRK_COUNT_ANSWERS + PLAIN_SCRIPT, args.seconds
                )
                # Before 10:00 the crowd is in the app already: every shopper's token is
                # used (GET /me) once or more, as opening the app does.
                waited = 0
                while waited < 1.2 * args.shoppers:
                    values = {"tokens": tokens_file, "threads": WRK_THREADS, "offset": waited}
                    room = phase("GET /api/v1/me (waiting room)", WAITING_SCRIPT % values, 3)
                    waiting.append(room[0])
                    waited += room[0].requests
                opens_at = datetime.now(UTC) + timedelta(seconds=OPENS_AFTER + 0.5)
                deal_id = open_flash_deal(env, args.stock, opens_at)
                values = {"deal_id": deal_id, "tokens": tokens_file, "threads": WRK_THREADS}
                flusher = None
                if args.restart_redis:
                    flusher = threading.Thread(
                        target=flush_midway,
                        args=(redis_url, deal_id, args.stock, time.monotonic() + 60, log),
                    )
                    flusher.start()
                time.sleep(max(0.0, (opens_at - datetime.now(UTC)).total_seconds() - OPENS_AFTER))
                results += phase(
                    "POST /api/v1/orders (flash opening)",
                    WRK_COUNT_ANSWERS + FLASH_SCRIPT % {**values, "phase": "opening"},
                    args.seconds,
                )
                if flusher is not None:
                    flusher.join()
                results += phase(
                    "POST /api/v1/orders (then, sold out)",
                    WRK_COUNT_ANSWERS + FLASH_SCRIPT % {**values, "phase": "later"},
                    args.seconds,
                )
                # the ceiling again: a shared machine's load moves during a run
                results += phase(
                    "GET /healthz (ceiling, after)", WRK_COUNT_ANSWERS + PLAIN_SCRIPT, args.seconds
                )
            record = check_stock(env, deal_id, args.stock, opens_at)
            report(results, record, log)
            broken = record["oversold"] or record["over_limit"] or record["counter_mismatch"]
            first = waiting[0]
            print(
                f"  before the opening, GET /api/v1/me with every shopper's token: "
                f"{sum(w.requests for w in waiting)} requests; the first 3 s (first uses: "
                f"tokens read from the database) {first.rate:.0f} req/s, p99 {first.p99_ms:.0f} ms"
            )
            if args.profile:
                profile_rejections(env, deal_id, tokens_file, 500)
        finally:
            redis.Redis.from_url(redis_url).flushdb()
    return bool(broken)


def report(results: list[WrkResult], record: dict[str, int], log: list[str]) -> None:
    print("\nside by side (same server, same client):")
    for result in results:
        print(result.line())
        if result.answers:
            print(f"      answers: {dict(sorted(result.answers.items()))}")
    before, after = results[0], results[6]
    rate = (before.rate + after.rate) / 2
    p99 = (before.p99_ms + after.p99_ms) / 2
    print(f"\n  the ceiling: /healthz before and after, mean {rate:.0f} req/s, p99 {p99:.1f} ms")
    for flash in (results[2], results[4]):
        print(
            f"  {flash.label}: {flash.rate / rate:.0%} of /healthz's rate "
            f"(target >= 50%), p99 {flash.p99_ms / p99:.1f}x /healthz's (target <= 10x)"
        )
    for line in log:
        print(f"  {line}")
    print(
        f"  the database after: {record['orders']} orders holding {record['units']} units, "
        f"stock left {record['stock_left']}, oversold {record['oversold']}, shoppers over "
        f"the limit {record['over_limit']}, counter off by {record['counter_mismatch']}; "
        f"orders placed {record['first_order_s']:.2f} s to {record['last_order_s']:.2f} s "
        f"after the opening"
    )


if __name__ == "__main__":
    main()
