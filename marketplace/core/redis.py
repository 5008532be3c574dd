"""The shared Redis connection (RQ, rate limits, hot counters)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from redis.commands.core import Script


def init_redis(app: Flask) -> None:
    app.extensions["linli.redis"] = Redis.from_url(
        app.config["LINLI_REDIS_URL"],
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


def redis_client() -> Redis:
    return current_app.extensions["linli.redis"]


def lua(source: str) -> Script:
    """A Lua script run by its SHA (EVALSHA, loaded again after a Redis restart); call it
    with ``client=redis_client()``."""
    return Script(None, source.encode())
