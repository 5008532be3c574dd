"""Statements per read stay the same from a small world to a large one.

Every authenticated read (``/me``, a shopper's orders, vouchers, refunds and tickets, a
shop's lists, the staff lists) and every catalog read served from the database is measured
in a world of 10 live deals and 10 shoppers, and again after the world grew to 10,000 live
deals and 100,000 shoppers, with full pages (each item on its own deal, merchant, shopper
or author). A relationship loaded once per item, a count per row or a query over all rows
would make the second figure larger. How authentication itself is answered (database or
cache) is not pinned here: only that it costs the same at both sizes and little.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.bulk import World, cast, empty, grow
from tests.querycount import count_queries

# (who asks, what): {placeholders} are the world's ids.
AUTHENTICATED = [
    ("shopper", "/api/v1/me"),
    ("shopper", "/api/v1/orders?page_size=100"),
    ("shopper", "/api/v1/orders/{order_id}"),
    ("shopper", "/api/v1/vouchers?page_size=100"),
    ("shopper", "/api/v1/orders/{order_id}/refund-requests"),
    ("shopper", "/api/v1/tickets?page_size=100"),
    ("shopper", "/api/v1/tickets/{ticket_id}"),
    ("shopper", "/api/v1/distributors/me"),
    ("shopper", "/api/v1/distributors/me/commissions?page_size=100"),
    ("shopper", "/api/v1/distributors/me/moments?page_size=100"),
    ("shopper", "/api/v1/distributors/me/statements?page_size=100"),
    ("owner", "/api/v1/me"),
    ("owner", "/api/v1/merchant"),
    ("owner", "/api/v1/merchant/vouchers?page_size=100"),
    ("owner", "/api/v1/merchant/vouchers?status=redeemed&page_size=100"),
    ("owner", "/api/v1/merchant/statements?page_size=100"),
    ("owner", "/api/v1/settlements/statements/{statement_id}"),
    ("owner", "/api/v1/merchants?page_size=100"),
    ("owner", "/api/v1/merchants/{merchant_id}/staff"),
    ("owner", "/api/v1/tickets?page_size=100"),
    ("bd", "/api/v1/me"),
    ("bd", "/api/v1/merchants?page_size=100"),
    ("bd", "/api/v1/merchants?page_size=100&sort=grade&min_grade=2"),
    ("bd", "/api/v1/merchants/overdue-follow-ups?page_size=100"),
    ("bd", "/api/v1/merchants/{merchant_id}"),
    ("bd", "/api/v1/merchants/{merchant_id}/grades"),
    ("bd", "/api/v1/merchants/{merchant_id}/contracts"),
    ("bd", "/api/v1/merchants/{merchant_id}/visits"),
    ("bd", "/api/v1/merchants/{merchant_id}/staff"),
    ("bd", "/api/v1/merchants/{merchant_id}/audit?page_size=100"),
    ("bd", "/api/v1/manage/deals?page_size=100"),
    ("bd", "/api/v1/manage/deals/{deal_id}"),
    ("bd", "/api/v1/deals/{deal_id}/price-history"),
    ("bd", "/api/v1/publishing-slots?days=60"),
    ("bd", "/api/v1/popup-bookings?page_size=100"),
    ("cs", "/api/v1/refund-requests?page_size=100"),
    ("cs", "/api/v1/tickets?page_size=100"),
    ("cs", "/api/v1/tickets/dashboard"),
    ("cs", "/api/v1/distributors?page_size=100"),
    ("cs", "/api/v1/distributors/{distributor_id}"),
    ("cs", "/api/v1/moments?page_size=100"),
    ("cs", "/api/v1/vouchers/expired-unused?page_size=100"),
    ("cs", "/api/v1/distributor-tiers"),
    ("admin", "/api/v1/settlements?page_size=100"),
    ("admin", "/api/v1/settlements/statements/{statement_id}"),
    ("admin", "/api/v1/distribution/settings"),
]
# Public reads, measured on the database (the catalog cache emptied before each).
PUBLIC = [
    "/api/v1/deals?page_size=50",
    "/api/v1/deals?page_size=50&sort=popularity&category=hotpot-bbq",
    "/api/v1/deals?page_size=50&sort=grade&q=批量",
    "/api/v1/deals?near=27.3383,103.7172&radius=5000&page_size=50",
    "/api/v1/deals/{deal_id}",
    "/api/v1/home",
    "/api/v1/categories",
]
# Lists whose length does not depend on the world's size (a ticket's two messages, a
# statement's two lines, a shop's staff seeing only their shop, the tiers, the categories).
SAME_LENGTH = {
    "shopper /api/v1/tickets/{ticket_id}",
    "owner /api/v1/settlements/statements/{statement_id}",
    "admin /api/v1/settlements/statements/{statement_id}",
    "owner /api/v1/merchants?page_size=100",
    "cs /api/v1/distributor-tiers",
    "/api/v1/categories",
}
# What a read may cost at most: authentication plus the read's own statements.
MOST = 8
# A distributor's dashboard is several independent aggregates (sales and top deals,
# commission by state and by month, today's shares, the Moments run): one statement each,
# whatever the data's size (the equality above still holds for it).
DASHBOARD_MOST = 12
DASHBOARDS = {"shopper /api/v1/distributors/me", "cs /api/v1/distributors/{distributor_id}"}


@dataclass
class Cost:
    statements: int
    shown: int | None  # items in the answer's list (None: not a list)


def shown(answer: Any) -> int | None:
    if isinstance(answer, list):
        return len(answer)
    for key in ("items", "slots", "open_tickets", "lines", "new_today"):
        if isinstance(answer, dict) and key in answer:
            items = answer[key]
            return len([i for i in items if not isinstance(i, dict) or i.get("deal", 1)])
    return None


def measure(app: Flask, client: FlaskClient, world: World) -> dict[str, Cost]:
    ids = {
        "order_id": world.order_id,
        "ticket_id": world.ticket_id,
        "statement_id": world.statement_id,
        "merchant_id": world.merchant_id,
        "deal_id": world.deal_id,
        "distributor_id": world.distributor_id,
    }
    redis = app.extensions["tests.redis"]
    reads = [(getattr(world, who), f"{who} {path}", path) for who, path in AUTHENTICATED]
    reads += [(None, path, path) for path in PUBLIC]
    costs = {}
    for account, name, template in reads:
        path = template.format(**ids)
        headers = account.headers if account else {}
        if account:
            # the first request of a token may record its use; the read itself is measured
            assert client.get(path, headers=headers).status_code == 200, path
        else:
            redis.delete(*redis.keys("linli:catalog:*") or ["none"])  # measure the database
        with count_queries(app) as sent:
            response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.get_json())
        costs[name] = Cost(len(sent), shown(response.get_json()))
    return costs


@pytest.fixture
def world(app, client, clock) -> Iterator[World]:
    yield cast(app, client)
    empty(app)


def test_statements_per_read_are_the_same_for_10_or_10_000_deals_and_100_000_shoppers(
    app, client, world
):
    grow(app, world, live_deals=10, shoppers=10, rows=2)
    assert (world.live_deals, world.shoppers) == (10, 10)
    small = measure(app, client, world)

    grow(app, world, live_deals=10_000, shoppers=100_000, rows=120)
    assert (world.live_deals, world.shoppers) == (10_000, 100_000)
    large = measure(app, client, world)

    # every list the world grew shows more items (else the comparison would prove nothing)
    flat = {read for read in small if small[read].shown is not None}
    flat = {read for read in flat if large[read].shown <= small[read].shown}
    assert flat <= SAME_LENGTH, flat - SAME_LENGTH
    grew = {
        read: (small[read].statements, large[read].statements)
        for read in small
        if small[read].statements != large[read].statements
    }
    assert not grew, grew
    costly = {
        read: cost.statements
        for read, cost in large.items()
        if cost.statements > (DASHBOARD_MOST if read in DASHBOARDS else MOST)
    }
    assert not costly, costly
    # a shopper's /me and a BD's are answered from Redis with their principal (a shop's
    # owner reads their shop's link each time)
    for read in ("shopper /api/v1/me", "bd /api/v1/me"):
        assert small[read].statements == large[read].statements == 0, read
