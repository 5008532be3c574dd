"""When a deal is on sale, and the sold-out transition: the one definition of each.

Every domain that asks "can this deal be bought now?" or "is this deal still selling?"
(the catalog, the popup, checkout, refunds returning units, the flash gates) asks here, and
every change of a deal's stock moves it between ``live`` and ``sold_out`` through
``status_for_stock`` (built on ``selling_status``) — in SQL, so a counter update and its
transition are one statement.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa

from marketplace.deals.models import Deal, DealStatus
from merchants.models import Merchant, Stage

SELLING_STATUSES = (DealStatus.LIVE, DealStatus.SOLD_OUT)
"""Published and neither paused nor ended: on sale, whether or not units are left."""
SELLING = [s.value for s in SELLING_STATUSES]
OPEN_STATUSES = (*SELLING_STATUSES, DealStatus.PAUSED)
"""Published and not yet ended: what the end of a sale window closes."""


def on_sale(moment: datetime) -> list[sa.ColumnElement[bool]]:
    """Conditions (for a query joining ``Deal.merchant``) for a deal a shopper can buy at
    ``moment``: live with units left, from a live merchant, inside its sale window.

    "Units left" is the status: a selling deal is ``live`` exactly while ``stock_left`` is
    above zero (``status_for_stock`` moves it in the same UPDATE as the counter), so no
    caller adds a stock condition of its own. Checkout, which must tell a sold-out deal
    (409 sold_out) from one not on sale, reads the status of a deal this misses."""
    return [
        Deal.status == DealStatus.LIVE.value,
        Merchant.stage == Stage.LIVE.value,
        sa.or_(Deal.sale_starts_at.is_(None), Deal.sale_starts_at <= moment),
        sa.or_(Deal.sale_ends_at.is_(None), Deal.sale_ends_at > moment),
    ]


class Verdict(enum.Enum):
    """Whether a deal can be bought at a moment, and if not, why (what the shopper is told)."""

    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    NOT_SELLING = "not_selling"  # paused, not yet published, ended, or its merchant not live
    NOT_OPEN = "not_open"  # before its sale window
    CLOSED = "closed"  # after its sale window
    NOT_FOUND = "not_found"


def verdict(
    status: str,
    merchant_stage: str,
    sale_starts_at: datetime | None,
    sale_ends_at: datetime | None,
    moment: datetime,
) -> Verdict:
    """``on_sale`` in Python, over a deal's cached sale state (``deals.sale_state``): ON_SALE
    exactly when ``on_sale(moment)`` matches the deal (a test holds the two together on
    both databases). A sold-out deal is SOLD_OUT whatever its window, as checkout has always
    said; "units left" is again the status (the flash gate counts units on top)."""
    if status == DealStatus.SOLD_OUT.value:
        return Verdict.SOLD_OUT
    if status != DealStatus.LIVE.value or merchant_stage != Stage.LIVE.value:
        return Verdict.NOT_SELLING
    if sale_starts_at is not None and moment < sale_starts_at:
        return Verdict.NOT_OPEN
    if sale_ends_at is not None and moment >= sale_ends_at:
        return Verdict.CLOSED
    return Verdict.ON_SALE


def still_selling(deal: Deal, moment: datetime) -> bool:
    """Whether units given back to ``deal`` at ``moment`` can still be sold: it is selling
    (live or sold out, not paused or ended) and its sale window is not over."""
    return deal.status in SELLING and (deal.sale_ends_at is None or deal.sale_ends_at > moment)


def selling_status(stock_left: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """The sold-out rule, as SQL: a selling deal is ``sold_out`` exactly when ``stock_left``
    is zero, ``live`` otherwise. A deal put on sale (published, resumed) takes this status."""
    return sa.case((stock_left == 0, DealStatus.SOLD_OUT.value), else_=DealStatus.LIVE.value)


def status_for_stock(stock_left: sa.ColumnElement[int]) -> sa.ColumnElement[str]:
    """The sold-out transition, as SQL over the ``deals`` row being updated: a selling deal
    follows ``selling_status`` of ``stock_left`` (the value after the update); any other
    status stays. Every change of a deal's stock sets ``status`` to this in the same UPDATE,
    so a counter and its transition never disagree."""
    return sa.case((Deal.status.in_(SELLING), selling_status(stock_left)), else_=Deal.status)


def unavailable_reason(deal: Deal, moment: datetime) -> str | None:
    """Why a shopper cannot buy ``deal`` at ``moment``, as a stable code the pages put in
    words, or None when it is on sale. It reads checkout's own ``verdict`` (so a buy button
    and checkout never disagree, a sold-out deal included) and only names the
    not-selling case more finely: paused, ended, or otherwise not on sale. The shopper's own
    limit is not a property of the deal (``orders.stock`` knows it)."""
    answer = verdict(
        deal.status, deal.merchant.stage, deal.sale_starts_at, deal.sale_ends_at, moment
    )
    if answer is Verdict.ON_SALE:
        return None
    if answer is Verdict.SOLD_OUT:
        return "sold_out"
    if answer is Verdict.NOT_OPEN:
        return "sale_not_started"
    if answer is Verdict.CLOSED or deal.status == DealStatus.ENDED.value:
        return "sale_ended"
    if deal.status == DealStatus.PAUSED.value:
        return "deal_paused"
    return "deal_not_on_sale"
