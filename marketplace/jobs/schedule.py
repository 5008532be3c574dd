"""What runs when: one list, read by `rq cron` (cron_config.py) and by /api/v1/ops/jobs.

Cron expressions are Asia/Shanghai wall-clock times; `rq cron` reads them in its process's
local zone, so it is started with TZ=Asia/Shanghai (make run, the deployment docs). Each entry
names a function taking no arguments that runs inside an app context and returns a summary.
Jobs are the top layer: they import the domains' public functions and hold no rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketplace.care import service as care
from marketplace.deals import popup, publishing, weekly
from marketplace.deals import service as deals
from marketplace.giveaway import service as giveaway
from marketplace.orders import actions, stock
from marketplace.payments import sync
from marketplace.refunds import service as refunds
from marketplace.settlement import service as settlement
from marketplace.tickets import service as tickets


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    description: str
    run: Callable[[], Any]
    cron: str | None = None  # Asia/Shanghai
    interval: int | None = None  # seconds; runs at once when the scheduler starts
    retries: tuple[int, ...] = (30, 120, 600)  # RQ Retry intervals (seconds)


def _popup() -> Any:
    row = popup.ensure()
    return (
        {"day": row.day.isoformat(), "deal_id": row.deal_id, "source": row.source} if row else None
    )


def _publish() -> Any:
    report = publishing.publish_due()
    return {"published": report.published, "held": report.held}


def _empty_slots() -> Any:
    return {"empty": publishing.empty_slot_alert()}


def _digest() -> Any:
    return weekly.push_category_digest()


def _hot_page() -> Any:
    return weekly.push_hot_page()


def _hits() -> Any:
    return weekly.push_weekly_hits()


def _expire_orders() -> Any:
    return sync.expire_unpaid()


def _reconcile() -> Any:
    return sync.reconcile_pending()


def _expire_vouchers() -> Any:
    return {"expired": actions.expire_vouchers()}


def _end_deals() -> Any:
    return {"ended": deals.end_finished()}


def _flash_gates() -> Any:
    return {"rebuilt": stock.rebuild_gates()}


def _sla() -> Any:
    return {"breached": tickets.flag_breaches()}


def _refunds() -> Any:
    return refunds.retry_approved()


def _auto_refund_expired() -> Any:  # [care]
    return care.auto_refund_expired()


def _settle() -> Any:
    return settlement.close_month()


def _giveaways() -> Any:
    return giveaway.close_due()


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "popup_rotation",
        "today's popup deal: chosen at midnight, replaced if it "
        "sells out or is paused, filled after a missed day",
        _popup,
        cron="* * * * *",
    ),
    ScheduledJob(
        "publish_slots",
        "deals go live at 10:00 and 15:00 (and any missed slot within five minutes)",
        _publish,
        cron="0,5,10,15,20,25,30,35,40,45,50,55 * * * *",
    ),
    ScheduledJob(
        "empty_slot_alert",
        "20:00: tell the team about tomorrow's empty slots",
        _empty_slots,
        cron="0 20 * * *",
    ),
    ScheduledJob(
        "category_digest",
        "Thursday 17:00: live deals by category for the official account",
        _digest,
        cron="0 17 * * 4",
    ),
    ScheduledJob(
        "weekly_hot_page",
        "Friday 17:00: the hot, high-commission page, stored and pushed to WeCom",
        _hot_page,
        cron="0 17 * * 5",
    ),
    ScheduledJob(
        "weekly_hits_push",
        "Saturday 12:00: the week's hits again to the community groups",
        _hits,
        cron="0 12 * * 6",
    ),
    ScheduledJob(
        "expire_unpaid_orders",
        "unpaid orders past 15 minutes expire and release stock",
        _expire_orders,
        cron="* * * * *",
    ),
    ScheduledJob(
        "reconcile_payments",
        "ask the provider about orders pending over 2 minutes",
        _reconcile,
        cron="*/5 * * * *",
    ),
    ScheduledJob(
        "expire_vouchers",
        "vouchers past validity become expired",
        _expire_vouchers,
        cron="10 0 * * *",
    ),
    ScheduledJob(
        "end_deals", "deals past their sale window become ended", _end_deals, cron="*/5 * * * *"
    ),
    ScheduledJob(
        "rebuild_flash_gates",
        "rebuild the Redis gates of flash deals from the database (also at start-up)",
        _flash_gates,
        interval=600,
    ),
    ScheduledJob(
        "sla_breaches", "flag tickets past their first-response deadline", _sla, cron="* * * * *"
    ),
    ScheduledJob(
        "retry_refunds", "carry out approved refunds not yet paid", _refunds, cron="*/5 * * * *"
    ),
    ScheduledJob(  # [care] after expire_vouchers (00:10)
        "auto_refund_expired",
        "00:40: unused vouchers of auto-refund deals, expired yesterday, are refunded",
        _auto_refund_expired,
        cron="40 0 * * *",
    ),
    ScheduledJob(
        "monthly_settlement",
        "the 1st at 02:00: last month's streak bonuses, then every party's statement",
        _settle,
        cron="0 2 1 * *",
    ),
    ScheduledJob(
        "close_giveaways",
        "free-meal giveaways past their window: winners' free vouchers and everyone's message",
        _giveaways,
        cron="* * * * *",
    ),
)
BY_NAME = {job.name: job for job in SCHEDULE}
QUEUE = "linli"
