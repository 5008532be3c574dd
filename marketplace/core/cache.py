"""Read-through caching of the public catalog in Redis, invalidated by generation.

Every key carries the catalog's current generation; any change a shopper could see (a deal
edited, published, paused, its stock or sales moving, a merchant renamed or regraded)
bumps the generation after its transaction commits, so the next read misses and rebuilds.
Old generations simply expire. Keys also carry the current minute of the app's clock, so
what changes with the passage of time alone (a sale window closing, a new day's home page)
is at most a minute stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from marketplace.core.clock import now
from marketplace.core.db import on_commit
from marketplace.core.redis import redis_client

log = logging.getLogger(__name__)
GENERATION_KEY = "linli:catalog:generation"
TTL_SECONDS = 60


def catalog_changed() -> None:
    """Invalidate the catalog once the current transaction commits."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def bump() -> None:
        try:
            app.extensions["linli.redis"].incr(GENERATION_KEY)
        except RedisError:
            # Reads fall back to the database while Redis is down; entries left from
            # before expire within TTL_SECONDS.
            log.exception("could not invalidate the catalog cache")

    on_commit(bump)


def cached_json(name: str, params: dict[str, Any], build: Callable[[], Any]) -> str:
    """The JSON text for ``name``/``params``, from Redis when fresh, else built and stored.
    Redis trouble never fails a read: it is served from the database."""
    if not current_app.config["LINLI_CATALOG_CACHE"]:
        return json.dumps(build(), ensure_ascii=False)
    redis = redis_client()
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    try:
        generation = int(redis.get(GENERATION_KEY) or 0)
        minute = int(now().timestamp() // TTL_SECONDS)
        key = f"linli:catalog:{generation}:{minute}:{name}:{digest[:32]}"
        hit = redis.get(key)
        if hit is not None:
            return hit.decode()
    except RedisError:
        log.warning("catalog cache unavailable; serving from the database")
        return json.dumps(build(), ensure_ascii=False)
    text = json.dumps(build(), ensure_ascii=False)
    try:
        redis.set(key, text, ex=TTL_SECONDS)
    except RedisError:
        log.warning("could not store a catalog cache entry")
    return text
