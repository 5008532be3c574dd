"""The shared Redis connection (RQ, rate limits, hot counters)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import BlockingConnectionPool, Redis
from redis.commands.core import Script

# Connections per process. redis-py 8 caps its default pool at 100 and then *fails* a
# request ("Too many connections"); a blocking pool makes a burst wait its turn instead.
MAX_CONNECTIONS = 100


def init_redis(app: Flask) -> None:
    pool = BlockingConnectionPool.from_url(
        app.config["LINLI_REDIS_URL"],
        max_connections=MAX_CONNECTIONS,
        timeout=2,  # seconds a request waits for a free connection before it is an error
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    app.extensions["linli.redis"] = Redis(connection_pool=pool)


def redis_client() -> Redis:
    return current_app.extensions["linli.redis"]


def lua(source: str) -> Script:
    """A Lua script run by its SHA (EVALSHA, loaded again after a Redis restart); call it
    with ``client=redis_client()``."""
    return Script(None, source.encode())
