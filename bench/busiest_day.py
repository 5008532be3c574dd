"""The operator's busiest day (3,000+ orders, ¥150,000 in one day) replayed at 10x speed
against gunicorn, the real local payment server and Redis; prints p50/p99 per route, the
day's business figures, and checks that the ledger balances.

    .venv/bin/python bench/busiest_day.py                  # the whole day, PostgreSQL, 10x
    .venv/bin/python bench/busiest_day.py --quick          # 09:50-10:04 (the 10:00 opening)
    .venv/bin/python bench/busiest_day.py --database sqlite --window 11:30-13:00
    options: --speed 10 --orders 3000 --processes 4 --threads 48 --workers 4
             --server-threads 4 --seed 11 --profile --json out.json

It builds a throwaway database (PostgreSQL ``linli_bench_day_<pid>``, dropped afterwards, or
SQLite in a temp folder) with migrations and ``flask seed``, adds the day's catalogue,
shoppers, clerks, distributors and the vouchers bought on earlier days, starts localstripe
(scripts/localstripe, in memory) and gunicorn (``-w 4 -k gthread --threads 4`` by default,
as issue 16 measured) on free loopback ports with Redis DB 13 (BENCH_REDIS_URL), and runs the
scheduled jobs (popup, publishing, expiry, reconciliation, ...) in a process of their own on
the replay's clock. Only 127.0.0.1 is contacted.

The load generator is several client processes (``--processes``), each with ``--threads``
threads and a keep-alive connection per thread (bench/lean_http.py), playing open-loop
journeys (replay_support.py says why not wrk: the journeys are stateful and talk to two
servers). The report prints the
generator's CPU use and how late it started its steps, so a client bottleneck is visible.

The day (Asia/Shanghai, virtual clock; ``--speed 10`` plays 24 h in 2 h 24 min). What the
operator's account (shared/reference, 伙时优选: 双11 2020, 3000+ orders, ¥150,000+, 160,000
users) and docs/domain.md fix, and what this replay assumes where they say nothing:

- Catalogue: the seed's 19 deals on sale plus 24 more over the 17 live shops, all three
  types: flash (0结算秒杀, ¥4.90-¥9.90, sale = settlement, stock <= 200, limit 1), small
  sets (3-4 people, ¥12-¥228) and large sets (6 people, ¥168-¥798). Popularity weights
  (assumed) make the average order about ¥50: ~19% of orders flash, ~76% small sets, ~6%
  large sets; one order in 12 buys two sets.
- Openings at 10:00 and 15:00 (one deal per slot, published by the publishing job): a
  flash deal each, 200 and 100 units (scaled with --orders), taken by a crowd ten times the
  stock (assumed; "thousands of taps in the first seconds", issue 16) whose taps follow an
  exponential with a 15 s mean; each of them opened the app 1-8 minutes before the opening
  (its countdown; GET /me, the waiting room bench/flash_opening.py plays too), a tenth
  are latecomers who open it and tap within half an hour. The 10:00 deal is booked as the
  day's popup.
- Shoppers: ten sessions per order (assumed ~10% session conversion; about 30,000 sessions
  for 3,000 orders, i.e. ~20% of the 160,000 users active on the biggest day). Sessions
  follow a day curve with peaks at 10:00 and 15:00 (openings), 12:00 and 18:00 (meals);
  little at night. 60% of browsing sessions are logged in, 37% anonymous, 3% log in by SMS
  code; 20% of buyers log in by SMS code (new users on the big day), the rest have a token.
  8-15% arrive through a distributor's share link (/s/{code}), which binds them.
- A session: app open (/me when logged in), home, 1-3 catalogue lists (category,
  popularity, flash, a search, page 2), near me (25%), 1-4 deal pages; a buyer then orders,
  confirms the PaymentIntent at localstripe with the test card (the three calls Stripe.js
  makes, with the secret key localstripe requires, as the tests' pay_with_test_card), polls
  the order each real second until the webhook marks it paid, and reads their vouchers.
  5% abandon at the payment page (expired by the job); 1.5% have a card declined
  (4000000000000341), look at the payment again (POST /orders/{id}/payment) and give up:
  localstripe cannot confirm a declined intent a second time.
- Redemptions (assumed; the reference gives no rate): vouchers bought on earlier days are
  redeemed at 0.35 per day's order (~1,050), following meal times; of the day's own
  vouchers 35% of flash, 12% of small-set and 6% of large-set ones are used the same day.
  The shopper shows the QR (GET /vouchers/{code}/qr.png), the shop's clerk redeems it. Each
  shop's clerk logs in with a password at 09:00-10:30, half of them again at 16:30-17:30.
- Refunds are manual (docs/domain.md): requests from 0.6% of earlier orders and 0.4% of
  the day's paid orders (assumed: "a few"); two CS agents work the queue every 10 minutes
  from 09:00 to 23:00 (service hours), approve 85% (paid back through localstripe) and
  reject the rest.
- Distributors check their dashboard (0.03 per order over the day).

At the end it checks the ledger (marketplace/ledger: every transaction balanced, entries
summing to zero, and each account equal to what the orders and vouchers say it must be,
and the payment server's money equal to the ledger's, order by order, through
settlement.reconcile) and that no flash deal was oversold. It exits 1 if a check fails, if
any route answered something unexpected (a 5xx, a timeout, a 4xx that is not a business
refusal such as 409 sold_out), or if a journey crashed. Routes over the 200 ms p99 target
are reported, not failed: that is the measurement. ``--profile`` adds, for each GET route
over target, its statement count and cProfile's top functions in process.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import cProfile
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import REDIS_URL
from bench.replay_support import (
    ROOT,
    VENV_BIN,
    Context,
    CpuMeter,
    Journey,
    Real,
    Sample,
    VirtualClock,
    access_log_samples,
    gunicorn,
    hhmm,
    localstripe,
    parse_hhmm,
    percentile,
    register_webhook,
    run_workers,
    throwaway_database,
    weighted_choice,
)

TARGET_P99_MS = 200
TARGET_ORDERS = 3000
TARGET_GMV = 15_000_000  # fen
DAY = 24 * 3600
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # localstripe: attaches, then the charge is declined
WEBHOOK_SECRET = "whsec_bench_busiest_day"  # noqa: S105 - a throwaway local server's

# -- the catalogue ---------------------------------------------------------------------------

# The seed's deals on sale (seed/deals.py) and how popular each is today (relative weight
# of a buyer's choice; assumed). A title the seed no longer has is skipped with a warning.
SEED_WEIGHTS = {
    "9.9元抢烤串双人拼盘": 4, "烧烤四人畅享套餐": 1.2, "羊肉火锅六人招牌宴": 0.4,
    "羊肉火锅三人餐": 1.2, "4.9元尝鲜招牌奶茶": 6, "甜品三人下午茶": 3, "小肠旺四人餐": 2.5,
    "稀豆粉+油条 4.9 元尝鲜": 2, "亲子畅玩六人家庭票": 0.6, "亲子三人畅玩卡": 1,
    "KTV 小包四人欢唱 3 小时": 0.8, "密室逃脱六人团": 0.4, "闺蜜美甲三人套餐": 0.6,
    "足疗四人同行套餐": 0.4, "家庭洗衣三件套 (3人份)": 1.5, "精洗四次卡": 1,
    "大山包六人观鹤一日游": 0.2, "游船三人票": 1.2, "龙氏家祠 5 元门票": 3,
}  # fmt: skip

# More deals on sale since earlier days: shop, type, title, list, sale, settlement, stock,
# party size, weight. Cheap small sets sell most, which is what makes ~¥50 an order.
EXTRA_DEALS = [
    ("老昭通炭火烧烤", "small_set", "烤串三人小聚套餐", 9800, 5900, 4500, 1500, 3, 12),
    ("老昭通炭火烧烤", "large_set", "烧烤六人狂欢宴", 32800, 19800, 15800, 600, 6, 3),
    ("乌蒙山羊肉火锅", "small_set", "羊肉汤锅三人餐", 13800, 7900, 6200, 1000, 3, 6),
    ("一杯鲜茶 (万达店)", "small_set", "招牌奶茶三杯装", 3600, 1990, 1490, 2000, 3, 20),
    ("一杯鲜茶 (万达店)", "small_set", "果茶四杯分享装", 5600, 2990, 2290, 1500, 4, 12),
    ("甜心屋甜品", "small_set", "蛋糕三人分享", 7800, 3990, 2990, 800, 3, 8),
    ("甜心屋甜品", "flash", "4.9元抢蛋糕切块 (双11)", 1600, 490, 490, 200, 1, 6),
    ("小肠旺老店", "small_set", "小肠旺三人简餐", 8800, 4990, 3790, 1000, 3, 9),
    ("小肠旺老店", "large_set", "小肠旺六人家宴", 29800, 16800, 13500, 400, 6, 2.5),
    ("稀豆粉早点铺", "small_set", "早点四人套餐", 3600, 1990, 1490, 1000, 4, 10),
    ("淘气堡儿童乐园", "small_set", "亲子畅玩三人票", 9800, 4990, 3990, 800, 3, 5),
    ("淘气堡儿童乐园", "flash", "9.9元单人畅玩", 4800, 990, 990, 200, 1, 5),
    ("小星星亲子乐园", "small_set", "亲子三人半日卡", 8800, 3990, 3190, 600, 3, 4),
    ("好声音 KTV", "small_set", "KTV 中包四人欢唱 2 小时", 16800, 5800, 4500, 800, 4, 8),
    ("好声音 KTV", "large_set", "KTV 大包六人欢唱 3 小时", 39800, 16800, 13500, 300, 6, 2.5),
    ("欢乐密室逃脱", "small_set", "密室逃脱四人团", 23800, 12800, 9900, 300, 4, 1.2),
    ("丽人美甲工作室", "small_set", "美甲三人体验", 19800, 6900, 5500, 400, 3, 3),
    ("舒心足疗养生馆", "small_set", "足疗三人体验", 26800, 9900, 7900, 300, 3, 1.5),
    ("洁净洗衣", "small_set", "洗鞋三双装", 6000, 2990, 2200, 600, 3, 3),
    ("一点通汽车美容", "small_set", "普洗三次卡", 9000, 3990, 3000, 500, 3, 3),
    ("一点通汽车美容", "flash", "9.9元精致洗车", 4800, 990, 990, 150, 1, 5),
    ("大山包景区", "small_set", "大山包观鹤三人门票", 18000, 9900, 8000, 300, 3, 1.5),
    ("渔洞水库游船", "small_set", "游船三人票 (双11)", 9900, 4990, 3900, 600, 3, 3),
    ("龙氏家祠", "small_set", "龙氏家祠三人门票", 3000, 1200, 900, 500, 3, 2),
]

# The day's two publishing slots, each a flash deal opening to a crowd: (slot, shop,
# title, list, sale = settlement, stock at 3,000 orders, party, crowd per unit, popup).
OPENINGS = [
    ("10:00", "乌蒙山羊肉火锅", "双11 9.9元抢羊肉汤锅双人餐", 6800, 990, 200, 2, 10, True),
    ("15:00", "一杯鲜茶 (万达店)", "双11 4.9元抢双人奶茶", 2600, 490, 100, 2, 10, False),
]
OPENING_WEIGHT = 2  # a regular buyer's weight for an opening deal once it is on sale

# -- the people and their rates (assumed where the reference is silent; see the docstring) --

SESSIONS_PER_ORDER = 10
BROWSE_LOGGED_IN, BROWSE_LOGIN = 0.60, 0.03
BUYER_LOGIN = 0.20
VIA_LINK_BUYER, VIA_LINK_BROWSER = 0.15, 0.08
ABANDON, DECLINED, TWO_SETS = 0.05, 0.015, 1 / 12
SAME_DAY_REDEEM = {"flash": 0.35, "small_set": 0.12, "large_set": 0.06}
PAST_REDEMPTIONS_PER_ORDER = 0.35
PAST_REFUNDS_PER_ORDER, SAME_DAY_REFUND = 0.006, 0.004
CS_APPROVES = 0.85
DASHBOARDS_PER_ORDER = 0.03
NEAR_ME = 0.25
RUSH_SECONDS = 10  # real seconds of each opening the report shows one by one
TAP_MEAN = 15.0  # seconds: the crowd's taps after an opening
# The crowd opens the app before the opening (its countdown), 1-8 minutes before it
# (assumed; the same waiting room bench/flash_opening.py plays): their tokens are used then.
WAITING_ROOM = (60.0, 480.0)
SHOP_OPENS, LAST_REDEMPTION = parse_hhmm("09:00"), parse_hhmm("22:30")
CS_FROM, CS_UNTIL = parse_hhmm("09:00"), parse_hhmm("23:00")
CENTRE = (27.3383, 103.7172)  # 昭阳区, as seed/merchants.py
SEARCH_WORDS = ["火锅", "奶茶", "烧烤", "KTV", "亲子", "洗车", "美甲", "门票"]
REFUND_REASONS = ["changed_mind", "bought_by_mistake", "cannot_book", "other"]

# Relative sessions per hour (0-23) before the peaks; night is quiet, the evening busy.
HOURLY = [1.2, 0.5, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3.0, 4.5, 5.0, 5.0, 5.5, 4.8, 4.5, 5.0,
          4.6, 4.8, 5.5, 5.0, 4.8, 4.0, 3.0, 2.0]  # fmt: skip


def _gauss(h: float, centre: float, sigma: float) -> float:
    return math.exp(-0.5 * ((h - centre) / sigma) ** 2)


def _opening(v: float, at: float, tau: float = 900) -> float:
    """A crowd's shape around a slot: a short run-up, then an exponential fall."""
    if v < at - 300:
        return 0.0
    if v < at:
        return (v - (at - 300)) / 300 * 0.3
    return math.exp(-(v - at) / tau)


def shopper_rate(v: float) -> float:
    """Sessions starting at virtual second ``v`` (relative): peaks at 10:00 and 15:00 (the
    openings), 12:00 and 18:00 (meals)."""
    h = v / 3600
    i = int(h) % 24
    base = HOURLY[i] + (HOURLY[(i + 1) % 24] - HOURLY[i]) * (h - int(h))
    return (
        base
        + 12 * _opening(v, 10 * 3600)
        + 8 * _opening(v, 15 * 3600)
        + 3 * _gauss(h, 12.1, 0.6)
        + 3 * _gauss(h, 18.2, 0.7)
    )


def redemption_rate(v: float) -> float:
    """Shop visits: lunch and dinner, the afternoon for kids and leisure, the evening."""
    if v < SHOP_OPENS or v > LAST_REDEMPTION:
        return 0.0
    h = v / 3600
    return (
        0.6
        + 3 * _gauss(h, 12.4, 0.8)
        + 3.5 * _gauss(h, 18.8, 1.0)
        + 1.0 * _gauss(h, 15.5, 1.2)
        + 0.8 * _gauss(h, 21.0, 0.6)
    )


def sample_times(rng: random.Random, rate, n: int, lo: float = 0, hi: float = DAY) -> list[float]:
    """``n`` instants in [lo, hi) drawn from the density ``rate`` (10-second bins)."""
    step = 10
    edges = list(range(int(lo), int(hi), step))
    cumulative, total = [], 0.0
    for start in edges:
        total += rate(start + step / 2)
        cumulative.append(total)
    if total == 0:
        return []
    times = []
    for _ in range(n):
        i = bisect.bisect_left(cumulative, rng.random() * total)
        times.append(edges[min(i, len(edges) - 1)] + rng.random() * step)
    return times


# -- the plan: every journey's start, made for the whole day, then cut to the window -------


def plan_day(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    scale = args.orders / TARGET_ORDERS
    w0, w1 = args.window
    starts: list[tuple[float, str, dict[str, Any]]] = []

    def add(v: float, kind: str, **spec: Any) -> None:
        if w0 <= v < w1:
            starts.append((v, kind, {**spec, "seed": rng.getrandbits(32)}))
        else:
            rng.getrandbits(32)  # the same plan whatever the window

    openings = []
    for slot, shop, title, listed, sale, stock, party, crowd, popup in OPENINGS:
        units = max(20, round(stock * scale))
        openings.append(
            {
                "slot": slot,
                "v": parse_hhmm(slot),
                "shop": shop,
                "title": title,
                "list": listed,
                "sale": sale,
                "stock": units,
                "party": party,
                "crowd": units * crowd,
                "popup": popup,
            }
        )
    crowd_orders = sum(o["stock"] for o in openings)
    buyers = math.ceil((args.orders - crowd_orders) / ((1 - ABANDON) * (1 - DECLINED)) * 1.02)
    sessions = args.orders * SESSIONS_PER_ORDER
    population = max(2500, args.orders * 2)  # shoppers with a token (logged in earlier)

    # Every session draws its start, its shopper and its way in, whatever the window.
    new_phone = iter(range(10**7))
    for kind, count in (("buy", buyers), ("browse", sessions - buyers)):
        for v in sample_times(rng, shopper_rate, count):
            login = BUYER_LOGIN if kind == "buy" else BROWSE_LOGIN
            logged_in = 1 - BUYER_LOGIN if kind == "buy" else BROWSE_LOGGED_IN
            draw = rng.random()
            link = rng.random() < (VIA_LINK_BUYER if kind == "buy" else VIA_LINK_BROWSER)
            who: dict[str, Any] = {}
            if draw < login:
                who["login"] = f"188{next(new_phone):08d}"
            elif draw < login + logged_in:
                who["shopper"] = rng.randrange(population)
            add(v, kind, link=link, **who)
    for opening in openings:
        crowd = rng.sample(range(population), min(opening["crowd"], population))
        for shopper in crowd:
            tap = opening["v"] + max(3.0, rng.expovariate(1 / TAP_MEAN))
            arrive = opening["v"] - rng.uniform(*WAITING_ROOM)
            if rng.random() < 0.1:  # latecomers who heard about it later
                tap = arrive = opening["v"] + rng.uniform(60, 1800)
            add(
                arrive,
                "flash",
                shopper=shopper,
                deal=opening["title"],
                slot=opening["slot"],
                tap=tap,
            )

    past = []  # orders of earlier days the day redeems or refunds (one voucher each)
    for v in sample_times(rng, redemption_rate, round(args.orders * PAST_REDEMPTIONS_PER_ORDER)):
        past.append({"use": "redeem", "v": v})
    for v in sample_times(
        rng, shopper_rate, round(args.orders * PAST_REFUNDS_PER_ORDER), CS_FROM, CS_UNTIL - 1800
    ):
        past.append({"use": "refund", "v": v})
    for index, entry in enumerate(past):
        entry["index"] = index
        add(entry["v"], "past_" + entry["use"], past=index)

    for v in sample_times(rng, shopper_rate, round(args.orders * DASHBOARDS_PER_ORDER)):
        add(v, "dashboard", distributor=rng.randrange(30))

    for agent in (0, 1):
        add(max(w0, CS_FROM + agent * 300), "cs", agent=agent)
    shops = sorted({shop for shop, *_ in EXTRA_DEALS} | {o["shop"] for o in openings})
    for shop in shops:
        add(rng.uniform(SHOP_OPENS, SHOP_OPENS + 5400), "staff_login", shop=shop)
        if rng.random() < 0.5:
            add(rng.uniform(parse_hhmm("16:30"), parse_hhmm("17:30")), "staff_login", shop=shop)
    for role in ("cs", "cs2"):
        add(rng.uniform(CS_FROM - 600, CS_FROM), "staff_login", staff=role)
        add(rng.uniform(parse_hhmm("15:50"), parse_hhmm("16:10")), "staff_login", staff=role)

    used = {s["past"] for _, k, s in starts if k.startswith("past_")}
    return {
        "starts": starts,
        "openings": openings,
        "population": population,
        "past": [p for p in past if p["index"] in used],
        "shoppers": sorted({s["shopper"] for _, _, s in starts if "shopper" in s}),
        "buyers": buyers,
        "sessions": sessions,
    }


# -- the world: built in the database before the day starts --------------------------------


def _commission(sale: int, settlement: int) -> tuple[int, int]:
    """Level-1 and level-2 commission a deal can afford (docs/domain.md: L1 + L2 + the
    largest tier bonus, ¥6 in the seed, within the margin); none below ¥9 of margin."""
    margin = sale - settlement
    if margin < 900:
        return 0, 0
    l1 = (margin - 600) * 2 // 3 // 10 * 10
    return l1, l1 // 4 // 10 * 10


def build_world(app, plan: dict[str, Any], log) -> dict[str, Any]:
    """Everything the day needs that existed before it: the catalogue, shoppers with
    tokens, shops' clerks, CS, distributors and their links, and the earlier days' paid
    orders whose vouchers are redeemed or refunded today (paid at localstripe)."""
    import sqlalchemy as sa

    from marketplace.accounts import service as accounts
    from marketplace.accounts.models import Role, User
    from marketplace.core.db import db
    from marketplace.deals.models import Deal
    from marketplace.distribution import distributors, links
    from marketplace.distribution.models import Distributor
    from marketplace.orders import actions
    from marketplace.payments import sync
    from marketplace.providers.stripe import stripe
    from marketplace.vouchers.models import Voucher
    from merchants import service as merchants
    from merchants.models import Merchant, StaffRole
    from seed.deals import publish_in_past_slots
    from seed.staff import DEV_PASSWORD

    world: dict[str, Any] = {}
    with app.app_context():
        users = {u.username: u for u in db.session.scalars(sa.select(User)) if u.username}
        bd, editor = users["bd"], users["editor"]
        shops = {m.name: m for m in db.session.scalars(sa.select(Merchant))}

        started = time.perf_counter()
        bodies = []
        for shop, kind, title, listed, sale, settlement, stock, party, _ in EXTRA_DEALS:
            l1, l2 = _commission(sale, settlement)
            bodies.append(
                {
                    "merchant_id": shops[shop].id,
                    "type": kind,
                    "title": title,
                    "description": f"{shop}:{title}。双11 特惠,到店出示券码核销。",
                    "list_price": listed,
                    "sale_price": sale,
                    "settlement_price": settlement,
                    "stock": stock,
                    "party_size": party,
                    "commission_l1": l1,
                    "commission_l2": l2,
                    "validity_days": 30,
                }
            )
        publish_in_past_slots(bodies, editor, bd, flash_ends_at=datetime.now(UTC) + timedelta(3))
        db.session.commit()
        weights = {**SEED_WEIGHTS, **{d[2]: d[8] for d in EXTRA_DEALS}}
        deals = []
        on_sale = db.session.scalars(
            sa.select(Deal).where(Deal.status.in_(["live", "sold_out"])).order_by(Deal.id)
        ).all()
        for deal in on_sale:
            if deal.title not in weights:
                continue  # a deal the day's shoppers do not buy (the seed's own additions)
            deals.append(_deal_entry(deal, weights[deal.title], None))
        missing = set(weights) - {d["title"] for d in deals}
        if missing:
            log(f"  note: deals not found in the seed, left out: {', '.join(sorted(missing))}")
        log(f"  catalogue: {len(deals)} deals on sale ({time.perf_counter() - started:.1f} s)")

        started = time.perf_counter()
        cs2 = users.get("cs2") or accounts.create_user_with_password(
            "cs2", DEV_PASSWORD, [Role.CS], display_name="客服二号"
        )
        db.session.commit()
        clerks, clerk_tokens, logins = {}, {}, {}
        for name in sorted({d["shop"] for d in deals} | {o["shop"] for o in plan["openings"]}):
            merchant = shops[name]
            username = f"bench-clerk-{merchant.id}"
            link, _ = merchants.create_portal_account(
                merchant,
                username,
                StaffRole.CLERK,
                bd,
                display_name=f"{name} 店员",
                password=DEV_PASSWORD,
            )
            accounts.set_password(link.user, DEV_PASSWORD, actor_id=bd.id, must_change=False)
            clerks[name] = merchant.id
            clerk_tokens[merchant.id] = accounts.issue_token(link.user).token
            logins[name] = username
        staff_tokens = {
            "cs": accounts.issue_token(users["cs"]).token,
            "cs2": accounts.issue_token(cs2).token,
        }
        db.session.commit()
        log(
            f"  {len(clerks)} shops' clerks and 2 CS agents ({time.perf_counter() - started:.1f} s)"
        )

        started = time.perf_counter()
        shopper_tokens = {}
        for n, index in enumerate(plan["shoppers"]):
            user = User(phone=f"139{index:08d}", display_name=f"老顾客{index}")
            user.grant(Role.SHOPPER)
            db.session.add(user)
            shopper_tokens[index] = accounts.issue_token(user).token
            if n % 500 == 499:
                db.session.commit()
        db.session.commit()
        log(
            f"  {len(shopper_tokens)} returning shoppers with tokens "
            f"({time.perf_counter() - started:.1f} s)"
        )

        started = time.perf_counter()
        recruiter = db.session.scalars(sa.select(Distributor).order_by(Distributor.id)).first()
        dist_tokens, share_links = [], []
        popular = sorted(deals, key=lambda d: -d["weight"])[:12]
        for n in range(30):
            user = User(phone=f"137{n + 100:08d}", display_name=f"分销员{n}")
            user.grant(Role.SHOPPER)
            db.session.add(user)
            db.session.flush()
            member = distributors.join(
                user,
                invite_code=recruiter.invite_code if recruiter and n % 3 == 0 else None,
                wechat_friends=800 + 40 * n,
            )
            dist_tokens.append(accounts.issue_token(user).token)
            for deal in [*popular[n % 4 :: 4], None]:
                link = links.create_link(member, deal["id"] if deal else None)
                share_links.append({"code": link.code, "deal_id": deal["id"] if deal else None})
        db.session.commit()
        log(
            f"  30 distributors, {len(share_links)} share links "
            f"({time.perf_counter() - started:.1f} s)"
        )

        started = time.perf_counter()
        past_orders = {}
        sets = [d for d in deals if d["type"] != "flash"]
        rng = random.Random(4242)
        for entry in plan["past"]:
            user = User(
                phone=f"150{entry['index']:08d}", display_name=f"前几天的顾客{entry['index']}"
            )
            user.grant(Role.SHOPPER)
            db.session.add(user)
            db.session.flush()
            deal = weighted_choice(rng, sets, [d["weight"] for d in sets])
            order, _ = actions.place_order(user, deal["id"], 1)
            stripe().pay_with_test_card(order.payment_intent_id)
            if sync.sync_payment(order) != "paid":
                raise RuntimeError(f"earlier order {order.id} was not paid")
            code = db.session.scalars(
                sa.select(Voucher.code).where(Voucher.order_id == order.id)
            ).one()
            past_orders[entry["index"]] = {
                "order_id": order.id,
                "code": code,
                "merchant_id": deal["merchant_id"],
                "token": accounts.issue_token(user).token,
            }
            db.session.commit()
        log(
            f"  {len(past_orders)} orders of earlier days, paid at localstripe "
            f"({time.perf_counter() - started:.1f} s)"
        )
        db.session.remove()

    world.update(
        deals=deals,
        clerk_by_shop=clerks,
        clerk_tokens=clerk_tokens,
        clerk_logins=logins,
        staff_tokens=staff_tokens,
        staff_logins={"cs": "cs", "cs2": "cs2"},
        password=DEV_PASSWORD,
        shopper_tokens=shopper_tokens,
        distributor_tokens=dist_tokens,
        share_links=share_links,
        past_orders=past_orders,
        categories=sorted({d["category"] for d in deals}),
    )
    return world


def _deal_entry(deal, weight: float, live_from: float | None) -> dict[str, Any]:
    return {
        "id": deal.id,
        "title": deal.title,
        "type": deal.type,
        "price": deal.sale_price,
        "merchant_id": deal.merchant_id,
        "shop": deal.merchant.name,
        "category": deal.merchant.category.slug,
        "weight": weight,
        "live_from": live_from,
    }


def open_the_day(app, plan: dict[str, Any], world: dict[str, Any], clock: VirtualClock) -> None:
    """The day's two flash deals, created now that the clock is known: each scheduled for
    its slot (the publishing job puts it live when the virtual slot comes; publish_at is
    the slot's real instant, set directly since the real 10:00 is elsewhere), its sale
    window opening with the slot; the 10:00 one booked as today's popup."""
    import sqlalchemy as sa

    from marketplace.accounts.models import User
    from marketplace.core.clock import local_today
    from marketplace.core.db import db
    from marketplace.deals import publishing, service
    from marketplace.deals.models import DealStatus, PopupBooking
    from marketplace.distribution.distributors import largest_tier_bonus
    from merchants.models import Merchant

    with app.app_context():
        bd = db.session.scalars(sa.select(User).where(User.username == "bd")).one()
        editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
        for opening in plan["openings"]:
            shop = db.session.scalars(
                sa.select(Merchant).where(Merchant.name == opening["shop"])
            ).one()
            starts = datetime.fromtimestamp(clock.real(opening["v"]), UTC)
            deal = service.create_deal(
                {
                    "merchant_id": shop.id,
                    "type": "flash",
                    "title": opening["title"],
                    "description": f"{opening['shop']}:{opening['slot']} 准时开抢,每人限购 1 份。",
                    "list_price": opening["list"],
                    "sale_price": opening["sale"],
                    "settlement_price": opening["sale"],
                    "stock": opening["stock"],
                    "party_size": opening["party"],
                    "sale_starts_at": starts,
                    "sale_ends_at": starts + timedelta(days=3),
                    "validity_days": 30,
                },
                editor,
                max_tier_bonus=largest_tier_bonus(),
            )
            deal.status = DealStatus.SCHEDULED.value
            deal.publish_at = starts
            if opening["popup"]:
                today = local_today()
                for booking in db.session.scalars(
                    sa.select(PopupBooking).where(PopupBooking.day == today)
                ):
                    publishing.cancel_popup(booking.id, bd)
                publishing.book_popup(deal, today, bd, note="双11 开抢,谈判时承诺的弹窗")
            db.session.flush()
            world["deals"].append(_deal_entry(deal, OPENING_WEIGHT, opening["v"]))
            opening["deal_id"] = deal.id
        db.session.commit()
        db.session.remove()


# -- journeys: what each kind of visitor does (run in the client processes) ----------------


def _think(rng: random.Random, lo: float, hi: float) -> float:
    return rng.uniform(lo, hi)


def _ip(rng: random.Random) -> str:
    return f"100.{64 + rng.randrange(64)}.{rng.randrange(256)}.{1 + rng.randrange(254)}"


def _ids(response) -> list[int]:
    if response is None or response.status_code != 200:
        return []
    body = response.json()
    items = list(body.get("items") or [])
    items += list(body.get("new_today") or [])
    if body.get("popup"):
        items.append(body["popup"])
    return [item["id"] for item in items if isinstance(item, dict) and "id" in item]


def _deals_now(ctx: Context, v: float) -> list[dict[str, Any]]:
    return [d for d in ctx.world["deals"] if d["live_from"] is None or v >= d["live_from"] + 5]


def _pick(ctx: Context, rng: random.Random, exclude: set[int]) -> dict[str, Any] | None:
    choices = [d for d in _deals_now(ctx, ctx.v()) if d["id"] not in exclude]
    if not choices:
        return None
    return weighted_choice(rng, choices, [d["weight"] for d in choices])


def _arrive(ctx: Context, spec: dict[str, Any], rng: random.Random) -> Journey:
    """Open the app: through a share link or not, logged in, anonymous, or logging in."""
    token = ctx.world["shopper_tokens"].get(spec["shopper"]) if "shopper" in spec else None
    ref, link = None, None
    if spec.get("link"):
        link = rng.choice(ctx.world["share_links"])
        ctx.get("GET /s/{code}", f"/s/{link['code']}")
        ref = link["code"]
        yield _think(rng, 2, 6)
    if spec.get("login"):
        token = yield from _otp_login(ctx, rng, spec["login"], ref)
    elif token:
        ctx.get("GET /api/v1/me", "/api/v1/me", token=token)
    return token, ref, link


def _otp_login(ctx: Context, rng: random.Random, phone: str, ref: str | None) -> Journey:
    ip = _ip(rng)
    sent = ctx.post("POST /api/v1/auth/otp", "/api/v1/auth/otp", json={"phone": phone}, ip=ip)
    if sent is None or sent.status_code != 202:
        return None
    code = ctx.sms_code(phone)
    if code is None:
        ctx.note("an SMS code never reached the log")
        return None
    yield _think(rng, 8, 30)  # reading the SMS, typing the code
    body = {"phone": phone, "code": code, **({"ref": ref} if ref else {})}
    answer = ctx.post(
        "POST /api/v1/auth/token", "/api/v1/auth/token", json=body, ip=ip, variant="sms code"
    )
    if answer is None or answer.status_code != 201:
        return None
    ctx.note("logins by SMS code")
    token = answer.json()["token"]
    ctx.get("GET /api/v1/me", "/api/v1/me", token=token)
    return token


def _list(ctx: Context, rng: random.Random, category: str | None = None) -> list[int]:
    draw = rng.random()
    if category or draw < 0.6:
        category = category or rng.choice(ctx.world["categories"])
        params, variant = f"category={category}", "category"
    elif draw < 0.78:
        params, variant = "sort=popularity", "popularity"
    elif draw < 0.9:
        params, variant = "type=flash", "flash"
    else:
        params, variant = f"q={rng.choice(SEARCH_WORDS)}", "search"
    if rng.random() < 0.15:
        params += "&page=2"
    return _ids(ctx.get("GET /api/v1/deals", f"/api/v1/deals?{params}", variant=variant))


def _near_me(ctx: Context, rng: random.Random) -> list[int]:
    lat = CENTRE[0] + rng.uniform(-0.03, 0.03)
    lng = CENTRE[1] + rng.uniform(-0.03, 0.03)
    path = f"/api/v1/deals?near={lat:.4f},{lng:.4f}&radius=3000&sort=distance"
    return _ids(ctx.get("GET /api/v1/deals", path, variant="near me"))


def _deal_page(ctx: Context, deal_id: int, variant: str = "") -> None:
    ctx.get("GET /api/v1/deals/{deal_id}", f"/api/v1/deals/{deal_id}", variant=variant)


def browse(ctx: Context, spec: dict[str, Any]) -> Journey:
    rng = random.Random(spec["seed"])
    token, _, link = yield from _arrive(ctx, spec, rng)
    seen: list[int] = []
    if link and link["deal_id"]:
        _deal_page(ctx, link["deal_id"], "from a share link")
        yield _think(rng, 10, 40)
    if rng.random() < 0.85:
        seen += _ids(ctx.get("GET /api/v1/home", "/api/v1/home"))
        yield _think(rng, 4, 20)
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        seen += _list(ctx, rng)
        yield _think(rng, 5, 25)
    if rng.random() < NEAR_ME:
        seen += _near_me(ctx, rng)
        yield _think(rng, 5, 25)
    for _ in range(rng.choice((1, 2, 2, 3, 4))):
        pool = seen or [d["id"] for d in _deals_now(ctx, ctx.v())]
        _deal_page(ctx, rng.choice(pool))
        yield _think(rng, 10, 45)
    if token and rng.random() < 0.15:
        if rng.random() < 0.5:
            ctx.get("GET /api/v1/vouchers", "/api/v1/vouchers?status=active", token=token)
        else:
            ctx.get("GET /api/v1/orders", "/api/v1/orders", token=token)


def buy(ctx: Context, spec: dict[str, Any]) -> Journey:
    rng = random.Random(spec["seed"])
    token, ref, link = yield from _arrive(ctx, spec, rng)
    if token is None:
        ctx.note("buyers who could not log in")
        return
    target = _pick(ctx, rng, set())
    if link and link["deal_id"] and rng.random() < 0.6:
        target = next((d for d in ctx.world["deals"] if d["id"] == link["deal_id"]), target)
    if rng.random() < 0.7:
        ctx.get("GET /api/v1/home", "/api/v1/home")
        yield _think(rng, 4, 15)
    _list(ctx, rng, target["category"])
    yield _think(rng, 5, 20)
    tried: set[int] = set()
    checkout, deal = None, target
    for attempt in range(3):
        if attempt:
            deal = _pick(ctx, rng, tried)
            if deal is None:
                break
        tried.add(deal["id"])
        _deal_page(ctx, deal["id"])
        yield _think(rng, 15, 60)
        quantity = 2 if deal["type"] != "flash" and rng.random() < TWO_SETS else 1
        answer = ctx.post(
            "POST /api/v1/orders",
            "/api/v1/orders",
            json={"deal_id": deal["id"], "quantity": quantity, **({"ref": ref} if ref else {})},
            token=token,
            headers={"Idempotency-Key": f"day-{spec['seed']}-{attempt}"},
            variant=deal["type"],
        )
        if answer is not None and answer.status_code in (200, 201):
            checkout = answer.json()
            break
        yield _think(rng, 5, 20)  # sold out or over the limit: look for something else
    if checkout is None:
        ctx.note("buyers who found nothing to buy")
        return
    yield from _pay(ctx, rng, token, checkout, deal, ABANDON)


def flash(ctx: Context, spec: dict[str, Any]) -> Journey:
    """One of the crowd at an opening: the app opened before it (the countdown; a
    latecomer opens it at once), then at the opening the deal page and the tap on 抢购."""
    rng = random.Random(spec["seed"])
    token = ctx.world["shopper_tokens"][spec["shopper"]]
    deal = next(d for d in ctx.world["deals"] if d["title"] == spec["deal"])
    ctx.get("GET /api/v1/me", "/api/v1/me", token=token, variant=f"waiting {spec['slot']}")
    if spec["tap"] > ctx.v():
        yield spec["tap"] - ctx.v()
    _deal_page(ctx, deal["id"], f"opening {spec['slot']}")
    yield _think(rng, 0.5, 3)
    answer = ctx.post(
        "POST /api/v1/orders",
        "/api/v1/orders",
        json={"deal_id": deal["id"], "quantity": 1},
        token=token,
        headers={"Idempotency-Key": f"flash-{spec['seed']}"},
        variant=f"flash opening {spec['slot']}",
    )
    if answer is not None and answer.status_code in (200, 201):
        ctx.note(f"opening {spec['slot']}: won")
        yield from _pay(ctx, rng, token, answer.json(), deal, ABANDON / 2)
        return
    if rng.random() < 0.5:  # missed it: look at what else there is
        yield _think(rng, 3, 10)
        ctx.get("GET /api/v1/home", "/api/v1/home")


def _stripe_pay(ctx: Context, intent: str, card: str) -> bool:
    """What Stripe.js does in the browser: a card payment method, attach, confirm."""
    method = ctx.stripe(
        "POST /v1/payment_methods",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": card,
            "card[exp_month]": 12,
            "card[exp_year]": 2030,
            "card[cvc]": "123",
        },
    )
    if method is None:
        return False
    if (
        ctx.stripe(
            "POST /v1/payment_intents/{id}",
            f"/v1/payment_intents/{intent}",
            {"payment_method": method["id"]},
        )
        is None
    ):
        return False
    confirmed = ctx.stripe(
        "POST /v1/payment_intents/{id}/confirm", f"/v1/payment_intents/{intent}/confirm", {}
    )
    return confirmed is not None and confirmed.get("status") == "succeeded"


def _pay(
    ctx: Context,
    rng: random.Random,
    token: str,
    checkout: dict[str, Any],
    deal: dict[str, Any],
    abandon: float,
) -> Journey:
    order_id = checkout["order"]["id"]
    intent = checkout["payment"]["payment_intent"]
    if rng.random() < abandon or not intent:
        ctx.note("orders abandoned at the payment page")
        return
    yield _think(rng, 15, 50)  # typing the card
    if rng.random() < DECLINED:
        _stripe_pay(ctx, intent, DECLINED_CARD)
        ctx.note("cards declined")
        yield _think(rng, 10, 30)
        ctx.post(
            "POST /api/v1/orders/{order_id}/payment",
            f"/api/v1/orders/{order_id}/payment",
            token=token,
        )
        return  # localstripe cannot confirm a declined intent again: the order expires
    if not _stripe_pay(ctx, intent, GOOD_CARD):
        ctx.note("payments the payment server refused")
        return
    status = None
    for _ in range(20):  # the mobile web polls until the webhook has marked it paid
        yield Real(1.0)
        seen = ctx.get(
            "GET /api/v1/orders/{order_id}",
            f"/api/v1/orders/{order_id}",
            token=token,
            variant="waiting for the webhook",
        )
        if seen is not None and seen.status_code == 200:
            status = seen.json()["status"]
            if status != "pending_payment":
                break
    if status != "paid":
        ctx.note(f"paid orders the shopper saw as {status}")
        return
    ctx.note("orders paid (seen by the shopper)")
    yield _think(rng, 3, 10)
    mine = ctx.get(
        "GET /api/v1/vouchers", "/api/v1/vouchers?status=active&page_size=20", token=token
    )
    codes = []
    if mine is not None and mine.status_code == 200:
        codes = [v["code"] for v in mine.json()["items"] if v["order_id"] == order_id]
    now = ctx.v()
    if rng.random() < SAME_DAY_REFUND:
        ctx.later(
            now + rng.uniform(1800, 5 * 3600),
            refund(ctx, {"seed": rng.getrandbits(32), "token": token, "order_id": order_id}),
        )
    elif codes and rng.random() < SAME_DAY_REDEEM[deal["type"]]:
        delay = (
            rng.uniform(1800, 4 * 3600) if deal["type"] == "flash" else rng.uniform(3600, 6 * 3600)
        )
        at = max(now + delay, SHOP_OPENS)
        if at <= LAST_REDEMPTION:
            spec = {
                "seed": rng.getrandbits(32),
                "token": token,
                "codes": codes,
                "merchant_id": deal["merchant_id"],
                "when": "same day",
            }
            ctx.later(at, redeem(ctx, spec))
    if rng.random() < 0.2:
        ctx.later(now + rng.uniform(3600, 4 * 3600), my_orders(ctx, {"token": token}))


def my_orders(ctx: Context, spec: dict[str, Any]) -> Journey:
    ctx.get("GET /api/v1/orders", "/api/v1/orders", token=spec["token"])
    yield 0


def redeem(ctx: Context, spec: dict[str, Any]) -> Journey:
    """At the shop: the shopper shows the QR, the clerk redeems every voucher shown."""
    rng = random.Random(spec["seed"])
    for code in spec["codes"][:1]:
        ctx.get(
            "GET /api/v1/vouchers/{code}/qr.png",
            f"/api/v1/vouchers/{code}/qr.png",
            token=spec["token"],
        )
    yield _think(rng, 10, 40)
    clerk = ctx.world["clerk_tokens"][spec["merchant_id"]]
    for code in spec["codes"]:
        answer = ctx.post(
            "POST /api/v1/vouchers/{code}/redeem",
            f"/api/v1/vouchers/{code}/redeem",
            token=clerk,
            variant=spec["when"],
        )
        if answer is not None and answer.status_code == 200:
            ctx.note(f"vouchers redeemed ({spec['when']})")
    if rng.random() < 0.125:
        yield _think(rng, 5, 30)
        ctx.get(
            "GET /api/v1/merchant/vouchers",
            "/api/v1/merchant/vouchers?status=redeemed",
            token=clerk,
        )


def past_redeem(ctx: Context, spec: dict[str, Any]) -> Journey:
    order = ctx.world["past_orders"][spec["past"]]
    yield from redeem(
        ctx,
        {
            "seed": spec["seed"],
            "token": order["token"],
            "codes": [order["code"]],
            "merchant_id": order["merchant_id"],
            "when": "bought earlier",
        },
    )


def refund(ctx: Context, spec: dict[str, Any]) -> Journey:
    """A shopper asks for the money back; later, looks at where the request stands."""
    rng = random.Random(spec["seed"])
    token, order_id = spec["token"], spec["order_id"]
    ctx.get("GET /api/v1/orders/{order_id}", f"/api/v1/orders/{order_id}", token=token)
    yield _think(rng, 20, 90)
    asked = ctx.post(
        "POST /api/v1/orders/{order_id}/refund-requests",
        f"/api/v1/orders/{order_id}/refund-requests",
        token=token,
        json={"reason": rng.choice(REFUND_REASONS), "reason_text": "双11 买多了,麻烦退款"},
    )
    if asked is None or asked.status_code != 201:
        return
    ctx.note("refund requests")
    yield _think(rng, 3600, 3 * 3600)
    ctx.get(
        "GET /api/v1/orders/{order_id}/refund-requests",
        f"/api/v1/orders/{order_id}/refund-requests",
        token=token,
    )


def past_refund(ctx: Context, spec: dict[str, Any]) -> Journey:
    order = ctx.world["past_orders"][spec["past"]]
    yield from refund(
        ctx, {"seed": spec["seed"], "token": order["token"], "order_id": order["order_id"]}
    )


def cs(ctx: Context, spec: dict[str, Any]) -> Journey:
    """A CS agent works the refund queue every ten minutes in service hours; the two agents
    split it by request id so they never decide the same one."""
    rng = random.Random(spec["seed"])
    token = ctx.world["staff_tokens"]["cs" if spec["agent"] == 0 else "cs2"]
    while CS_FROM <= ctx.v() < min(CS_UNTIL, ctx.world["end_v"]):
        queue = ctx.get(
            "GET /api/v1/refund-requests", "/api/v1/refund-requests?page_size=50", token=token
        )
        items = queue.json()["items"] if queue is not None and queue.status_code == 200 else []
        for item in items:
            if item["id"] % 2 != spec["agent"] or item["status"] != "pending":
                continue
            yield _think(rng, 30, 120)  # reads the case, maybe calls the shopper
            if rng.random() < CS_APPROVES:
                answer = ctx.post(
                    "POST /api/v1/refund-requests/{request_id}/approve",
                    f"/api/v1/refund-requests/{item['id']}/approve",
                    token=token,
                    json={"note": "已核实,同意退款"},
                    headers={"Idempotency-Key": f"cs-approve-{item['id']}"},
                )
                if answer is not None and answer.status_code == 200:
                    ctx.note(f"refunds approved ({answer.json()['status']})")
            else:
                answer = ctx.post(
                    "POST /api/v1/refund-requests/{request_id}/reject",
                    f"/api/v1/refund-requests/{item['id']}/reject",
                    token=token,
                    json={"note": "券已预约使用,暂不支持退款,请联系商家"},
                )
                if answer is not None and answer.status_code == 200:
                    ctx.note("refunds rejected")
        yield _think(rng, 540, 660)


def staff_login(ctx: Context, spec: dict[str, Any]) -> Journey:
    """A clerk at the till (or a CS agent at the desk) logs in with a password."""
    rng = random.Random(spec["seed"])
    if "shop" in spec:
        username = ctx.world["clerk_logins"][spec["shop"]]
    else:
        username = ctx.world["staff_logins"][spec["staff"]]
    answer = ctx.post(
        "POST /api/v1/auth/token",
        "/api/v1/auth/token",
        json={"username": username, "password": ctx.world["password"]},
        ip=f"10.8.{rng.randrange(256)}.{1 + rng.randrange(254)}",
        variant="password",
    )
    if answer is None or answer.status_code != 201:
        return
    token = answer.json()["token"]
    yield _think(rng, 2, 8)
    if "shop" in spec:
        ctx.get("GET /api/v1/merchant", "/api/v1/merchant", token=token)
    else:
        ctx.get("GET /api/v1/refund-requests", "/api/v1/refund-requests", token=token)


def dashboard(ctx: Context, spec: dict[str, Any]) -> Journey:
    rng = random.Random(spec["seed"])
    tokens = ctx.world["distributor_tokens"]
    token = tokens[spec["distributor"] % len(tokens)]
    ctx.get("GET /api/v1/distributors/me", "/api/v1/distributors/me", token=token)
    if rng.random() < 0.3:
        yield _think(rng, 5, 20)
        ctx.get(
            "GET /api/v1/distributors/me/commissions",
            "/api/v1/distributors/me/commissions",
            token=token,
        )


JOURNEYS = {
    "browse": browse,
    "buy": buy,
    "flash": flash,
    "past_redeem": past_redeem,
    "past_refund": past_refund,
    "cs": cs,
    "staff_login": staff_login,
    "dashboard": dashboard,
}

# Answers that are the business saying no, not a failure: every other 4xx, any 5xx and any
# request without an answer is unexpected and fails the run.
REFUSALS = {"POST /api/v1/orders": {"sold_out", "purchase_limit_reached", "deal_not_on_sale"}}


def expected(sample: Sample) -> bool:
    return 0 < sample.status < 400 or sample.code in REFUSALS.get(sample.template, ())


# -- the scheduled jobs ---------------------------------------------------------------------

# The jobs of marketplace/jobs/schedule.py that matter on a day like this, every so many
# real seconds, as production runs them: jobs keep time, they are not traffic, so they are
# not sped up with the day. Only publishing follows the replay's clock: at each virtual
# slot (10:00, 15:00) the publishing job runs, then the popup's.
JOB_CADENCE = [
    ("popup_rotation", 60),
    ("expire_unpaid_orders", 60),
    ("sla_breaches", 60),
    ("publish_slots", 300),
    ("reconcile_payments", 300),
    ("end_deals", 300),
    ("retry_refunds", 300),
    ("rebuild_flash_gates", 600),
]


def jobs_main(
    env: dict[str, str],
    clock: VirtualClock,
    slots: list[float],
    stop,
    out: str,
) -> None:
    """The RQ worker's part: every job at start-up (as rq cron's interval jobs and the gate
    rebuild do), then on its cadence, and publishing at the virtual slots, until ``stop``;
    each through marketplace.jobs.tasks.run, as the worker calls it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    from marketplace import create_app
    from marketplace.jobs import tasks

    tasks.use_app(create_app())
    runs: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []
    due = {name: clock.r0 for name, _ in JOB_CADENCE}
    slot_times = sorted(clock.real(v) for v in slots if clock.real(v) >= clock.r0)

    def run(name: str) -> None:
        started = time.perf_counter()
        try:
            tasks.run(name)
        except Exception as exc:  # recorded by tasks.run too; the day goes on
            failures.append(f"{hhmm(clock.now())} {name}: {type(exc).__name__}: {exc}")
        runs[name].append((time.perf_counter() - started) * 1000)

    while not stop.wait(max(0.0, min([*due.values(), *slot_times[:1]]) - time.time())):
        now = time.time()
        if slot_times and slot_times[0] <= now:
            slot_times.pop(0)
            run("publish_slots")
            run("popup_rotation")
        for name, every in JOB_CADENCE:
            if due[name] <= now:
                run(name)
                due[name] = max(due[name] + every, now)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"runs": runs, "failures": failures}, f)


# -- the run -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, flush=True)


def other_load() -> str:
    """What else is using the machine as the run starts (it is shared)."""
    load = os.getloadavg()
    busy = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[:6]
    top = ", ".join(" ".join(line.split()[::-1]) + "%" for line in busy)
    return f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; busiest now: {top}"


def server_env(args, instance: Path, database_url: str, stripe_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LINLI_ENV": "development",
        "LINLI_ENV_FILE": os.devnull,  # never the settings a make run left in .run/env
        "LINLI_INSTANCE_PATH": str(instance),
        "LINLI_DATABASE_URL": database_url,
        "LINLI_REDIS_URL": args.redis_url,
        "LINLI_STRIPE_API_BASE": stripe_url,
        "LINLI_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LINLI_SMS_BACKEND": "console",  # the codes go to the web server's log, read back
        "LINLI_NOTIFIER_BACKEND": "console",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_TRUST_PROXY": "1",  # each shopper's own address, from X-Forwarded-For
        # An unpaid order holds its units 15 minutes of the day: 15 / speed real minutes.
        "LINLI_ORDER_PAYMENT_MINUTES": str(max(1, round(15 / args.speed))),
        "TZ": "UTC",
    }


def main() -> int:
    args = parse_args()
    plan = plan_day(args)
    w0, w1 = args.window
    real_minutes = (w1 - w0) / args.speed / 60
    log(
        f"busiest day: {args.database}, speed {args.speed:g}x, window {hhmm(w0)}-{hhmm(w1)} "
        f"({real_minutes:.1f} real minutes), {len(plan['starts'])} journeys start in it "
        f"(day plan: {args.orders} orders, {plan['sessions']} sessions, {plan['buyers']} buyers)"
    )
    log(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; {other_load()}")
    redis = __import__("redis").Redis.from_url(args.redis_url)
    redis.flushdb()
    failed = False
    scratch = tempfile.mkdtemp(prefix="linli-day-")
    try:
        instance = Path(scratch)
        with (
            localstripe(instance / "localstripe.log") as stripe_url,
            throwaway_database(args.database, instance) as database_url,
        ):
            env = server_env(args, instance, database_url, stripe_url)
            started = time.perf_counter()
            flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
            for command in (["db", "upgrade"], ["seed"]):
                subprocess.run(
                    [*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True
                )
            log(f"setup: migrated and seeded ({time.perf_counter() - started:.1f} s)")
            os.environ.update(env)
            from marketplace import create_app

            app = create_app()
            with app.app_context():
                from marketplace.core.clock import local_today

                plan["first_period"] = local_today().strftime("%Y-%m")
            world = build_world(app, plan, log)
            statements_dir = instance / "statements"
            statements_dir.mkdir()
            web_env = {**env, "BENCH_STATEMENTS_DIR": str(statements_dir)}
            access_log, error_log = instance / "access.log", instance / "web.log"
            with gunicorn(
                web_env,
                workers=args.workers,
                threads=args.server_threads,
                access_log=access_log,
                error_log=error_log,
                config=ROOT / "bench" / "replay_server_hooks.py",
            ) as base:
                from marketplace.payments.service import HANDLED_EVENTS

                register_webhook(stripe_url, base, WEBHOOK_SECRET, list(HANDLED_EVENTS))
                clock = VirtualClock(args.speed, w0, time.time() + 10)
                open_the_day(app, plan, world, clock)
                plan["orders_before"] = last_order_id(app)
                world.update(
                    base=base,
                    stripe_base=stripe_url,
                    stripe_key=env.get("LINLI_STRIPE_SECRET_KEY", "sk_test_linli_dev"),
                    sms_log=str(error_log),
                    end_v=w1,
                )
                check_templates(app)
                grace = 600.0  # virtual seconds a journey under way may run past the window
                jobs_out = instance / "jobs.json"
                spawn = multiprocessing.get_context("spawn")
                stop_jobs = spawn.Event()
                jobs = spawn.Process(
                    target=jobs_main,
                    args=(env, clock, [o["v"] for o in plan["openings"]], stop_jobs, str(jobs_out)),
                    name="replay-jobs",
                )
                jobs.start()
                log(f"the day starts at {hhmm(w0)} (in 10 s, {datetime.now(UTC):%H:%M:%S}Z + 10 s)")
                progress = Progress(app, clock, w1)
                probe = HealthzProbe(base)
                cpu = CpuMeter().start()
                try:
                    results = run_workers(
                        "bench.busiest_day",
                        clock=clock,
                        processes=args.processes,
                        threads=args.threads,
                        end_v=w1,
                        grace_v=grace,
                        world=world,
                        starts=plan["starts"],
                        scratch=instance,
                        on_wait=progress.tick,
                    )
                finally:
                    cpu.stop()
                    probe.stop()
                    stop_jobs.set()
                    jobs.join(60)
                    if jobs.is_alive():
                        jobs.terminate()
                        jobs.join(10)
                ended_v = clock.now()
                time.sleep(2)  # the last webhooks
            log(f"the day ended at {hhmm(min(ended_v, w1 + grace))}; checking")
            samples = [s for r in results for s in r.samples]
            report = Report(app, args, plan, world, results, samples, instance, clock)
            report.cpu = cpu
            failed = report.print_all(jobs_out, statements_dir, access_log)
            log(probe.summary())
            if args.profile:
                profile_routes(app, report)
            with app.app_context():
                from marketplace.core.db import db

                db.engine.dispose()  # before the throwaway database is dropped
    finally:
        if args.keep:
            log(f"logs and scratch files kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    redis.flushdb()
    return 1 if failed else 0


class HealthzProbe:
    """``GET /healthz`` a few times a second through the whole replay, on its own keep-alive
    connection: the trivial endpoint's latency on the same server in the same run, printed
    beside the routes' p99, so a slow route can be told from a slow machine."""

    INTERVAL = 0.05

    def __init__(self, base: str) -> None:
        import threading

        import requests

        self.latencies: list[float] = []
        self.failures = 0
        self._done = threading.Event()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, args=(base,), daemon=True)
        self._thread.start()

    def _run(self, base: str) -> None:
        while not self._done.wait(self.INTERVAL):
            start = time.perf_counter()
            try:
                ok = self._session.get(base + "/healthz", timeout=10).status_code == 200
            except Exception:  # counted; the probe goes on
                ok = False
            if ok:
                self.latencies.append((time.perf_counter() - start) * 1000)
            else:
                self.failures += 1

    def stop(self) -> None:
        self._done.set()
        self._thread.join(15)

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        if not ordered:
            return "GET /healthz probe: no answer"
        return (
            f"GET /healthz probe during the replay (same server, {1 / self.INTERVAL:.0f}/s): "
            f"{len(ordered)} answers, p50 {percentile(ordered, 50):.1f} ms, "
            f"p99 {percentile(ordered, 99):.1f} ms, failures {self.failures}"
        )


def last_order_id(app) -> int:
    import sqlalchemy as sa

    from marketplace.core.db import db
    from marketplace.orders.models import Order

    with app.app_context():
        last = db.session.scalar(sa.select(sa.func.max(Order.id))) or 0
        db.session.remove()
    return last


class Progress:
    """A line every half real minute: the virtual time and the day's paid orders so far."""

    def __init__(self, app, clock: VirtualClock, end_v: float) -> None:
        self.app, self.clock, self.end_v = app, clock, end_v
        self.next = time.time() + 30
        self.since = datetime.now(UTC)

    def tick(self) -> None:
        if time.time() < self.next:
            return
        self.next = time.time() + 30
        import sqlalchemy as sa

        from marketplace.core.db import db
        from marketplace.orders.models import Order

        with self.app.app_context():
            paid, gmv = db.session.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Order.amount), 0)).where(
                    Order.paid_at >= self.since
                )
            ).one()
            db.session.remove()
        log(f"  {hhmm(self.clock.now())}  paid orders {paid}  GMV ¥{gmv / 100:,.0f}")


def check_templates(app) -> None:
    """Every route template the journeys name is a route of the app (no typos)."""
    rules = {
        f"{method} {_braces(rule.rule)}"
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }
    source = Path(__file__).read_text(encoding="utf-8")
    named = {f"{m} {p}" for m, p in re.findall(r'"(GET|POST) (/(?:api/v1|s)/[^"]*)"', source)}
    if named - rules:
        raise SystemExit(f"journeys name routes the app does not have: {sorted(named - rules)}")


def _braces(rule: str) -> str:
    """A Flask rule as the report names it: /api/v1/deals/<int:deal_id> -> .../{deal_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


# -- the report ----------------------------------------------------------------------------


class Report:
    def __init__(self, app, args, plan, world, results, samples, instance, clock) -> None:
        self.app, self.args, self.plan, self.world = app, args, plan, world
        self.results, self.samples, self.instance, self.clock = results, samples, instance, clock
        self.missed: list[str] = []
        self.missed_routes: list[str] = []
        self.json: dict[str, Any] = {}
        self.cpu: CpuMeter | None = None

    def print_all(self, jobs_out: Path, statements_dir: Path, access_log: Path) -> bool:
        server = access_log_samples(access_log, self._server_template())
        statements = self._statements(statements_dir)
        self.routes(server, statements)
        self.variants()
        self.statuses()
        self.timeline()
        business_ok = self.business()
        self.generator()
        self.jobs(jobs_out)
        ledger_ok = self.ledger()
        unexpected = sum(1 for s in self.samples if not expected(s))
        crashes = sum(r.crash_count for r in self.results)
        restarts = worker_trouble(self.instance / "web.log")
        if restarts:
            log("gunicorn's log: " + ", ".join(f"{k}: {v}" for k, v in restarts.items()))
        log("")
        if self.missed:
            log(f"p99 < {TARGET_P99_MS} ms missed by: {', '.join(self.missed)}")
        else:
            log(f"p99 < {TARGET_P99_MS} ms on every route")
        verdicts = [
            ("ledger balances and matches the payment server", ledger_ok),
            ("no flash deal oversold", business_ok),
            (f"no unexpected answers ({unexpected})", unexpected == 0),
            (f"no journey crashed ({crashes})", crashes == 0),
            (
                f"no gunicorn worker timed out ({restarts['WORKER TIMEOUT']})",
                not restarts["WORKER TIMEOUT"],
            ),
        ]
        for text, ok in verdicts:
            log(f"{'PASS' if ok else 'FAIL'}  {text}")
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(self.json, indent=1, ensure_ascii=False))
        return not all(ok for _, ok in verdicts)

    def _server_template(self):
        adapter = self.app.url_map.bind("127.0.0.1")
        cache: dict[tuple[str, str], str | None] = {}

        def template(method: str, path: str) -> str | None:
            key = (method, re.sub(r"\d+", "0", path))
            if key not in cache:
                try:
                    rule, _ = adapter.match(path, method=method, return_rule=True)
                    cache[key] = f"{method} {_braces(rule.rule)}"
                except Exception:  # 404/405/redirect: not a route
                    cache[key] = f"{method} (no route)"
            return cache[key]

        return template

    def _statements(self, where: Path) -> dict[str, Counter]:
        merged: defaultdict[str, Counter] = defaultdict(Counter)
        for path in where.glob("statements-*.json"):
            for route, hist in json.loads(path.read_text()).items():
                merged[route].update({int(k): v for k, v in hist.items()})
        return merged

    def _calm(self, sample: Sample) -> bool:
        """Outside the openings' rush (a minute before a slot to ten minutes after)."""
        return not any(-60 <= sample.v - o["v"] < 600 for o in self.plan["openings"])

    def routes(self, server: dict, statements: dict[str, Counter]) -> None:
        by_route: defaultdict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            by_route[s.template].append(s)
        log("")
        log(
            "Per route, ms as the client measured each request; '+lag' is p99 counting the time "
            "the generator started the step late (a shopper's real wait when the clients are "
            "all busy); 'calm' is p99 outside the openings' rush (a minute before 10:00 and "
            "15:00 to ten after); 'server' is p99 from gunicorn's access log (without the time "
            "a request queued for a thread); stmts: SQL statements per request under load, "
            "mean/max"
        )
        log(
            f"{'route':<48}{'count':>7}{'p50':>7}{'p99':>7}{'max':>7}{'+lag':>7}{'calm':>7}"
            f"{'server':>7}{'stmts':>9}{'refused':>8}{'unexp':>6}  p99<200"
        )
        rows = []
        for route in sorted(set(by_route) | (set(server["ms"]) - {"GET /healthz"})):
            got = by_route.get(route, [])
            ms = sorted(s.ms for s in got)
            waited = sorted(s.ms + s.late_ms for s in got)
            calm = sorted(s.ms for s in got if self._calm(s))
            srv = sorted(server["ms"].get(route, []))
            hist = statements.get(route, Counter())
            n = sum(hist.values())
            stmts = f"{sum(k * v for k, v in hist.items()) / n:.1f}/{max(hist)}" if n else "-"
            refused = sum(1 for s in got if s.status >= 400 and expected(s))
            unexpected = sum(1 for s in got if not expected(s))
            p99 = percentile(ms, 99) if ms else percentile(srv, 99)
            ok = p99 < TARGET_P99_MS
            if not ok:
                self.missed.append(f"{route} ({p99:.0f} ms)")
                self.missed_routes.append(route)
            label = route if ms else f"{route} (server)"
            log(
                f"{label:<48}{len(ms) or len(srv):>7}{_ms(percentile(ms, 50)):>7}"
                f"{_ms(p99):>7}{_ms(ms[-1] if ms else math.nan):>7}"
                f"{_ms(percentile(waited, 99)):>7}{_ms(percentile(calm, 99)):>7}"
                f"{_ms(percentile(srv, 99)):>7}{stmts:>9}"
                f"{refused:>8}{unexpected:>6}  {'yes' if ok else 'NO'}"
            )
            rows.append(
                {
                    "route": route,
                    "count": len(ms) or len(srv),
                    "p50": percentile(ms, 50),
                    "p99": p99,
                    "p99_with_lag": percentile(waited, 99),
                    "calm_p99": percentile(calm, 99),
                    "server_p99": percentile(srv, 99),
                    "statements": stmts,
                    "refused": refused,
                    "unexpected": unexpected,
                }
            )
        self.json["routes"] = rows
        provider = defaultdict(list)
        for r in self.results:
            for s in r.provider:
                provider[s.template].append(s.ms)
        if provider:
            log("payment server (localstripe), as the shoppers' browsers saw it:")
            for route, ms in sorted(provider.items()):
                ms.sort()
                log(
                    f"  {route:<46}{len(ms):>7}{_ms(percentile(ms, 50)):>8}"
                    f"{_ms(percentile(ms, 99)):>8}"
                )

    def variants(self) -> None:
        groups: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
        for s in self.samples:
            if s.variant:
                groups[(s.template, s.variant)].append(s.ms)
        log("")
        log("By kind of call within a route:")
        for (route, variant), ms in sorted(groups.items()):
            ms.sort()
            log(
                f"  {route + ' [' + variant + ']':<62}{len(ms):>7}{_ms(percentile(ms, 50)):>8}"
                f"{_ms(percentile(ms, 99)):>8}{_ms(ms[-1]):>8}"
            )

    def statuses(self) -> None:
        by_status = Counter((s.status, s.code) for s in self.samples)
        log("")
        log(
            "Answers by status: "
            + ", ".join(
                f"{status}{' ' + code if code else ''}: {n}"
                for (status, code), n in sorted(by_status.items())
            )
        )
        bad = Counter((s.template, s.status, s.code) for s in self.samples if not expected(s))
        if bad:
            log("Unexpected answers:")
            for (route, status, code), n in bad.most_common():
                log(f"  {route}  {status} {code}: {n}")
            crashes = server_errors(self.instance / "web.log")
            if crashes:
                log("The server's log says (last line of each traceback, with its count):")
                for line, n in crashes.most_common(8):
                    log(f"  {n} x {line}")
        self.json["statuses"] = {f"{k[0]} {k[1]}".strip(): v for k, v in by_status.items()}

    def timeline(self) -> None:
        """The day's curve as the server lived it: each hour's load and latency, then the
        ten-minute stretches with the worst p99."""
        log("")
        log("Hour by hour (all routes; req/s in real seconds):")
        hours: defaultdict[int, list[float]] = defaultdict(list)
        stretches: defaultdict[int, list[float]] = defaultdict(list)
        for s in self.samples:
            hours[int(s.v // 3600)].append(s.ms)
            stretches[int(s.v // 600)].append(s.ms)
        rows = []
        for hour, ms in sorted(hours.items()):
            ms.sort()
            span = min(
                3600, self.args.window[1] - hour * 3600, (hour + 1) * 3600 - self.args.window[0]
            )
            rate = len(ms) / max(1.0, span / self.args.speed)
            log(
                f"  {hour:02d}:00  requests {len(ms):>7}  {rate:6.1f}/s"
                f"  p50 {_ms(percentile(ms, 50)):>6}  p99 {_ms(percentile(ms, 99)):>6}"
                f"  max {_ms(ms[-1]):>6}"
            )
            rows.append(
                {
                    "hour": hour,
                    "requests": len(ms),
                    "per_second": rate,
                    "p50": percentile(ms, 50),
                    "p99": percentile(ms, 99),
                }
            )
        self.json["hours"] = rows
        log("Ten-minute stretches with the worst p99:")
        worst = sorted(stretches.items(), key=lambda kv: -percentile(sorted(kv[1]), 99))[:6]
        for bucket, ms in sorted(worst):
            ms.sort()
            log(
                f"  {hhmm(bucket * 600)}  requests {len(ms):>6}  "
                f"({len(ms) / (600 / self.args.speed):6.1f}/s)  p50 {_ms(percentile(ms, 50))}"
                f"  p99 {_ms(percentile(ms, 99))}  max {_ms(ms[-1])}"
            )
        self.rush()

    def rush(self) -> None:
        """Each opening's first real seconds, one line a second: what the crowd asked of the
        server (requests started in that second), how long they took, the taps that won,
        and where the machine's CPU went in that second (cores kept busy: 2.00 is both) —
        the web server, the database, the payment server, the replay's own clients and
        jobs. Requests queue when the asked work is more than the cores can do."""
        for opening in self.plan["openings"]:
            seconds: defaultdict[int, list[float]] = defaultdict(list)
            won: defaultdict[int, list[float]] = defaultdict(list)
            tap = f"flash opening {opening['slot']}"
            for s in self.samples:
                real = (s.v - opening["v"]) / self.args.speed
                if 0 <= real < RUSH_SECONDS:
                    seconds[int(real)].append(s.ms)
                    if s.variant == tap and s.status in (200, 201):
                        won[int(real)].append(s.ms)
            if not seconds:
                continue
            log(
                f"The {opening['slot']} opening, real second by second (all routes; 'won': "
                "the taps that got an order, their p50; cores: how many the web server, "
                "database, payment server and the replay's clients+jobs kept busy):"
            )
            rows = []
            start = self.clock.real(opening["v"])
            for second in range(RUSH_SECONDS):
                ms = sorted(seconds.get(second, []))
                wins = sorted(won[second])
                used = self.cpu.cores(start + second, start + second + 1) if self.cpu else {}
                line = f"  +{second}s  requests {len(ms):>5}"
                if ms:
                    line += f"  p50 {_ms(percentile(ms, 50))}  p99 {_ms(percentile(ms, 99))}"
                    line += f"  max {_ms(ms[-1])}"
                if wins:
                    line += f"  won {len(wins):>3} p50 {_ms(percentile(wins, 50))}"
                if used:
                    line += (
                        f"  cores web {used['web']:.2f} db {used['database']:.2f}"
                        f" pay {used['payment server']:.2f} replay {used['replay']:.2f}"
                        f" (all {sum(used.values()):.2f})"
                    )
                log(line)
                rows.append(
                    {
                        "second": second,
                        "requests": len(ms),
                        "p99": percentile(ms, 99) if ms else None,
                        "won": len(wins),
                        "cpu": used,
                    }
                )
            self.json.setdefault("rush", {})[opening["slot"]] = rows

    def business(self) -> bool:
        import sqlalchemy as sa

        from marketplace.core.db import db
        from marketplace.deals.models import Deal
        from marketplace.orders.models import HOLDING_STATUSES, Order
        from marketplace.refunds.models import RefundRequest
        from marketplace.vouchers.models import Voucher

        notes: Counter = Counter()
        for r in self.results:
            notes.update(r.notes)
        opening_ids = {o["deal_id"]: o for o in self.plan["openings"]}
        with self.app.app_context():
            day = db.session.scalars(
                sa.select(Order).where(Order.id > self.plan["orders_before"])
            ).all()
            paid = [o for o in day if o.paid_at is not None]
            gmv = sum(o.amount for o in paid)
            by_type = Counter()
            for o in paid:
                by_type[o.deal.type] += o.amount
            status = Counter(o.status for o in day)
            oversold = []
            for deal_id, opening in opening_ids.items():
                deal = db.session.get(Deal, deal_id)
                held = db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(Order.quantity), 0)).where(
                        Order.deal_id == deal_id,
                        Order.status.in_([s.value for s in HOLDING_STATUSES]),
                    )
                )
                sold_out_at = db.session.scalar(
                    sa.select(sa.func.max(Order.created_at)).where(Order.deal_id == deal_id)
                )
                opening["held"], opening["left"] = held, deal.stock_left
                if held > opening["stock"]:
                    oversold.append(f"{deal.title}: {held} of {opening['stock']}")
                opening["last_order"] = sold_out_at
            redeemed = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Voucher)
                .where(Voucher.redeemed_at.is_not(None))
            )
            refunds = Counter(db.session.scalars(sa.select(RefundRequest.status)))
            db.session.remove()
        log("")
        scale = self.args.orders / TARGET_ORDERS
        log(
            f"The day: {len(paid)} orders paid, GMV ¥{gmv / 100:,.2f} (the whole day's target: "
            f"{self.args.orders} orders, ¥{TARGET_GMV / 100 * scale:,.0f})"
        )
        log(
            "  by type: "
            + ", ".join(f"{t} ¥{v / 100:,.0f} ({v / gmv:.0%})" for t, v in by_type.most_common())
            if gmv
            else "  nothing paid"
        )
        log(f"  orders placed in the window by status: {dict(status)}")
        for opening in self.plan["openings"]:
            attempts = sum(
                1 for s in self.samples if s.variant == f"flash opening {opening['slot']}"
            )
            won = notes.get(f"opening {opening['slot']}: won", 0)
            log(
                f"  opening {opening['slot']} {opening['title']}: {attempts} taps, {won} won, "
                f"{opening.get('held', 0)} units held of {opening['stock']}, "
                f"{opening.get('left', '?')} left"
            )
        log(
            f"  vouchers redeemed (all, incl. seed): {redeemed}; refund requests by status: "
            f"{dict(refunds)}"
        )
        log("  journeys said: " + ", ".join(f"{k}: {v}" for k, v in sorted(notes.items())))
        self.json["business"] = {
            "orders_paid": len(paid),
            "gmv": gmv,
            "by_type": dict(by_type),
            "statuses": dict(status),
            "notes": dict(notes),
        }
        if oversold:
            log("  OVERSOLD: " + "; ".join(oversold))
        return not oversold

    def generator(self) -> None:
        lags = sorted(lag for r in self.results for lag in r.lags)
        cpu = sum(r.cpu_seconds for r in self.results)
        wall = (self.args.window[1] - self.args.window[0]) / self.args.speed
        requests_sent = len(self.samples) + sum(len(r.provider) for r in self.results)
        log("")
        log(
            f"Load generator: {self.args.processes} processes x {self.args.threads} threads, "
            f"{requests_sent} requests; CPU {cpu:.0f} s over ~{wall:.0f} s "
            f"({cpu / max(wall, 1):.0%} of one core); step start lag p50 "
            f"{percentile(lags, 50) * 1000:.0f} ms, p99 {percentile(lags, 99) * 1000:.0f} ms, "
            f"max {lags[-1] * 1000 if lags else 0:.0f} ms; journeys dropped at the window's end "
            f"{sum(r.dropped for r in self.results)}; crashed "
            f"{sum(r.crash_count for r in self.results)}"
        )
        for r in self.results:
            for crash in r.crashes[:2]:
                log("  a journey crashed:\n" + crash)

    def jobs(self, jobs_out: Path) -> None:
        if not jobs_out.exists():
            log("jobs: no report (the jobs process was stopped before it wrote one)")
            return
        data = json.loads(jobs_out.read_text())
        log(
            "Jobs (run on the day's clock): "
            + ", ".join(
                f"{name} x{len(ms)} p50 {_ms(percentile(sorted(ms), 50))} max {_ms(max(ms))}"
                for name, ms in sorted(data["runs"].items())
            )
        )
        for failure in data["failures"][:5]:
            log(f"  job failed: {failure}")

    def ledger(self) -> bool:
        """The ledger's invariant (marketplace/ledger: every transaction's entries sum to
        zero, so all entries do), each account against what the orders and vouchers say it
        must hold, and the payment server's money against the ledger, order by order."""
        import sqlalchemy as sa

        from marketplace.core.clock import local_today
        from marketplace.core.db import db
        from marketplace.distribution.models import CommissionEntry
        from marketplace.ledger import service as ledger
        from marketplace.ledger.models import LedgerEntry, LedgerTxn
        from marketplace.orders.models import Order
        from marketplace.settlement import service as settlement
        from marketplace.vouchers.models import Voucher

        checks = []
        with self.app.app_context():
            total = ledger.total()
            checks.append(("all entries sum to zero", total, 0))
            unbalanced = db.session.scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(LedgerEntry.txn_id)
                    .group_by(LedgerEntry.txn_id)
                    .having(sa.func.sum(LedgerEntry.amount) != 0)
                    .subquery()
                )
            )
            checks.append(("unbalanced transactions", unbalanced, 0))
            paid_orders = db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(Order.amount), 0)).where(
                    Order.paid_at.is_not(None)
                )
            )
            price = (
                sa.select(Order.unit_price).where(Order.id == Voucher.order_id).scalar_subquery()
            )
            settle = (
                sa.select(Order.settlement_price)
                .where(Order.id == Voucher.order_id)
                .scalar_subquery()
            )

            def vouchers(column, *where) -> int:
                return int(
                    db.session.scalar(
                        sa.select(sa.func.coalesce(sa.func.sum(column), 0))
                        .select_from(Voucher)
                        .where(*where)
                    )
                )

            refunded = vouchers(price, Voucher.status == "refunded")
            unused = vouchers(price, Voucher.status.in_(["active", "refunding", "expired"]))
            checks.append(
                (
                    "provider = paid orders - refunded vouchers",
                    ledger.balance(ledger.PROVIDER),
                    paid_orders - refunded,
                )
            )
            checks.append(
                (
                    "unearned = -(price of vouchers neither used nor refunded)",
                    ledger.balance(ledger.UNEARNED),
                    -unused,
                )
            )
            merchants_owed = int(
                db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
                        LedgerEntry.account.like("merchant:%")
                    )
                )
            )
            checks.append(
                (
                    "merchants = -(settlement price of redeemed vouchers)",
                    merchants_owed,
                    -vouchers(settle, Voucher.status == "redeemed"),
                )
            )
            owed_distributors = int(
                db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0)).where(
                        LedgerEntry.account.like("distributor:%")
                    )
                )
            )
            earned = int(
                db.session.scalar(
                    sa.select(sa.func.coalesce(sa.func.sum(CommissionEntry.amount), 0)).where(
                        CommissionEntry.state.in_(["earned", "settled"])
                    )
                )
            )
            checks.append(("distributors = -(commission earned)", owed_distributors, -earned))
            posted = Counter(db.session.scalars(sa.select(LedgerTxn.kind)))
            checks.append(
                (
                    "one order_paid per paid order",
                    posted["order_paid"],
                    db.session.scalar(
                        sa.select(sa.func.count())
                        .select_from(Order)
                        .where(Order.paid_at.is_not(None))
                    ),
                )
            )
            checks.append(
                (
                    "one voucher_redeemed per redeemed voucher",
                    posted["voucher_redeemed"],
                    db.session.scalar(
                        sa.select(sa.func.count())
                        .select_from(Voucher)
                        .where(Voucher.redeemed_at.is_not(None))
                    ),
                )
            )
            checks.append(
                (
                    "one voucher_refunded per refunded voucher",
                    posted["voucher_refunded"],
                    db.session.scalar(
                        sa.select(sa.func.count())
                        .select_from(Voucher)
                        .where(Voucher.status == "refunded")
                    ),
                )
            )
            started = time.perf_counter()
            periods = sorted({self.plan["first_period"], local_today().strftime("%Y-%m")})
            provider_net = ledger_net = orders = differences = 0
            for period in periods:  # the run may cross the end of a month in Shanghai
                reconciled = settlement.reconcile(period)
                provider_net += reconciled["provider_net"]
                ledger_net += reconciled["ledger_net"]
                orders += reconciled["orders"]
                differences += len(reconciled["differences"])
            checks.append(
                (
                    f"payment server = ledger for {orders} paid orders of {', '.join(periods)}"
                    f" (settlement.reconcile, {time.perf_counter() - started:.0f} s)",
                    provider_net,
                    ledger_net,
                )
            )
            checks.append(("orders where they differ", differences, 0))
            db.session.remove()
        log("")
        log("Ledger:")
        ok = True
        for text, got, want in checks:
            good = got == want
            ok &= good
            log(
                f"  {'ok ' if good else 'BAD'} {text}: {got}"
                + ("" if good else f" (expected {want})")
            )
        self.json["ledger"] = [{"check": t, "got": g, "want": w} for t, g, w in checks]
        return ok


def worker_trouble(path: Path) -> Counter:
    """gunicorn killing or restarting workers: requests it dropped without an answer."""
    found: Counter = Counter()
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            for what in ("WORKER TIMEOUT", "was sent SIGKILL", "Worker exiting"):
                if what in line:
                    found[what] += 1
    return found


def server_errors(path: Path) -> Counter:
    """The exceptions behind the 500s: the last exception line of each logged traceback."""
    found: Counter = Counter()
    last, inside = None, False
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if re.match(r"\d{4}-\d\d-\d\dT|\[\d{4}-", line):  # a new log record
                if last:
                    found[last] += 1
                last, inside = None, False
            elif line.startswith("Traceback"):
                inside = True
            elif inside and line.strip() and not line.startswith(" "):
                last, inside = line.strip()[:200], False
    if last:
        found[last] += 1
    return found


def _ms(value: float) -> str:
    return (
        "-"
        if value is None or math.isnan(value)
        else f"{value:.0f}"
        if value >= 10
        else f"{value:.1f}"
    )


def profile_routes(app, report: Report) -> None:
    """Where one request's time goes, in process (Flask's test client, the same database
    and the same warm Redis cache), for every GET route over target: SQL statements per
    request, mean ms, and cProfile's heaviest functions. POST routes change state and are
    left to the statement counts measured under load."""
    import sqlalchemy as sa

    from marketplace.core.db import db

    examples: defaultdict[str, list] = defaultdict(list)
    for result in report.results:
        for route, seen in result.examples.items():
            examples[route].extend(seen)
    routes = [r for r in report.missed_routes if r.startswith("GET ") and examples.get(r)]
    log("")
    log("--profile: GET routes over target, one request at a time in process")
    if not routes:
        log("  none")
        return
    client = app.test_client()
    statements = [0]

    def count(conn, cursor, statement, *rest) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            statements[0] += 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for route in routes:
            calls = examples[route][:5]
            for path, headers in calls:  # warm: the cache as the day left it
                client.get(path, headers=headers)
            statements[0] = 0
            profiler = cProfile.Profile()
            rounds = 20
            started = time.perf_counter()
            profiler.enable()
            for _ in range(rounds):
                for path, headers in calls:
                    client.get(path, headers=headers)
            profiler.disable()
            n = rounds * len(calls)
            mean = (time.perf_counter() - started) * 1000 / n
            log(
                f"  {route}: {mean:.1f} ms a request in process (with cProfile on), "
                f"{statements[0] / n:.1f} SQL statements; e.g. {calls[0][0]}"
            )
            for line in _top_functions(profiler, 8):
                log(f"      {line}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def _top_functions(profiler: cProfile.Profile, n: int) -> list[str]:
    """Our own functions by cumulative time (which part of the request), then any
    function by its own time (what actually burns it: SQLAlchemy, the driver, marshmallow,
    Redis, ...), as shares of the profiled time."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values()) or 1
    ours, own = [], []
    for (path, line, name), (_, calls, tottime, cumulative, _) in stats.items():
        where = f"{_short(path)}:{line} {name}"
        if path.startswith((str(ROOT / "marketplace"), str(ROOT / "merchants"))):
            ours.append((cumulative, calls, where))
        own.append((tottime, calls, where))
    lines = ["ours, by cumulative time:"]
    lines += [f"  {c / total:4.0%} {calls:>6} calls  {w}" for c, calls, w in sorted(ours)[::-1][:n]]
    lines.append("all, by own time:")
    lines += [f"  {t / total:4.0%} {calls:>6} calls  {w}" for t, calls, w in sorted(own)[::-1][:n]]
    return lines


def _short(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10)
    parser.add_argument("--orders", type=int, default=TARGET_ORDERS)
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--quick", action="store_true", help="only 09:50-10:04: the 10:00 opening")
    parser.add_argument("--window", default="00:00-24:00", help="HH:MM-HH:MM of the day to play")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=64, help="threads per client process")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--server-threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (logs) and say where"
    )
    args = parser.parse_args()
    if args.quick:
        args.window = "09:50-10:04"  # the crowd's waiting room starts at 09:52
    start, _, end = args.window.partition("-")
    args.window = (parse_hhmm(start), parse_hhmm(end))
    if not 0 <= args.window[0] < args.window[1] <= DAY:
        parser.error("--window must be HH:MM-HH:MM within the day")
    return args


if __name__ == "__main__":
    sys.exit(main())
