"""Rate limits kept in Redis (the ``limits`` library's moving windows), shared by every
web process."""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from marketplace.core.errors import RateLimited


def init_rate_limits(app: Flask) -> None:
    storage = RedisStorage(
        app.config["LINLI_REDIS_URL"],
        key_prefix="linli:limits",
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    app.extensions["linli.limiter"] = MovingWindowRateLimiter(storage)


def enforce(limits: str, scope: str, identity: str, *, message: str) -> None:
    """Count one request of ``identity`` against every limit in ``limits``
    (e.g. ``"1/minute;5/hour"``), or raise ``RateLimited`` without counting it."""
    limiter: MovingWindowRateLimiter = current_app.extensions["linli.limiter"]
    items: list[RateLimitItem] = parse_many(limits)
    for item in items:
        if not limiter.test(item, scope, identity):
            raise RateLimited(message, retry_after=_retry_after(limiter, item, scope, identity))
    for item in items:
        if not limiter.hit(item, scope, identity):
            raise RateLimited(message, retry_after=_retry_after(limiter, item, scope, identity))


def _retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, *ids: str) -> int:
    reset = limiter.get_window_stats(item, *ids).reset_time
    return max(1, math.ceil(reset - time.time()))
