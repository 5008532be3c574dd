"""Read-through caching of the public catalog in Redis, invalidated by generation.

Every entry is stored with a tag: the catalog's generation and the minute of the app's
clock it was built in. Any change to what a shopper sees listed (a deal edited, published,
paused or sold out, a merchant renamed or regraded) bumps the generation after its
transaction commits, so the next read finds the tag out of date and rebuilds; what changes
with the passage of time alone (a sale window closing, a new day's home page) is at most a
minute stale, because an entry from another minute is out of date too. A sale that only
moves the figures (units left, units sold) bumps a second generation, which an entry may
lag by up to FIGURES_LAG_SECONDS: in a flash opening the catalog is rebuilt every few
seconds, not on every purchase (the sell-out itself is a catalog change, seen at once).

A hit is one Redis round trip (``MGET`` of the generation and the entry) and is answered
with the stored bytes as they are: no query, no object, no serialisation. Each entry
carries an ETag (a hash of its bytes), so a client that sends ``If-None-Match`` gets a
304 without the body.

When an entry is out of date, the first reader takes a short lock and rebuilds it; readers
arriving while that rebuild runs get the previous entry instead of all rebuilding at once
(a purchase bumps the generation, and during a flash opening purchases come every few
milliseconds). A reader that finds no entry at all, or no Redis, builds for itself. Redis
trouble never fails a read: it is served from the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request
from redis.exceptions import RedisError
from werkzeug.http import parse_etags

from marketplace.core.clock import now
from marketplace.core.db import on_commit
from marketplace.core.redis import redis_client

log = logging.getLogger(__name__)
GENERATION_KEY = "linli:catalog:generation"
# Moved by sales that change only figures (units left, units sold), not what is listed or
# how: an entry may lag it by up to FIGURES_LAG_SECONDS, so a flash opening that sells
# every few milliseconds rebuilds the catalog a few times, not hundreds of times a second.
FIGURES_KEY = "linli:catalog:figures"
FIGURES_LAG_SECONDS = 5
TTL_SECONDS = 60
# An entry outlives its minute by one more, so a reader has the previous one to serve
# while another rebuilds it; a rebuild that dies holds its lock no longer than this.
ENTRY_TTL_SECONDS = 2 * TTL_SECONDS
REBUILD_LOCK_MS = 5000
# Catalog answers are the same for everyone and may be stored anywhere, but only used once
# revalidated (the ETag makes that a 304): stock and prices change without notice.
CACHE_CONTROL = "public, no-cache"


@dataclass(frozen=True)
class CachedJSON:
    """A catalog answer as sent: UTF-8 JSON bytes and their ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, value: Any) -> CachedJSON:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(body, hashlib.blake2b(body, digest_size=12).hexdigest())

    def held_by(self, if_none_match: str | None) -> bool:
        """The client already holds these bytes: its ``If-None-Match`` names the ETag,
        compared weakly as RFC 9110 says (then the answer is a 304 without the body)."""
        return bool(if_none_match) and parse_etags(if_none_match).contains_weak(self.etag)

    def headers(self) -> dict[str, str]:
        return {"ETag": f'"{self.etag}"', "Cache-Control": CACHE_CONTROL}

    def response(self) -> Response:
        """The answer to the current request: 200 with the bytes, or 304 (``held_by``)."""
        if self.held_by(request.headers.get("If-None-Match")):
            return Response(status=304, headers=self.headers())
        return Response(self.body, mimetype="application/json", headers=self.headers())


def catalog_changed() -> None:
    """Invalidate the catalog once the current transaction commits: something a shopper
    sees listed changed (a deal edited, published, paused, sold out, a merchant...)."""
    _bump_after_commit(GENERATION_KEY)


def figures_moved() -> None:
    """Once the current transaction commits, the catalog's figures (units left, units
    sold) are out of date — and nothing else: entries may lag by FIGURES_LAG_SECONDS."""
    _bump_after_commit(FIGURES_KEY)


def _bump_after_commit(key: str) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def bump() -> None:
        try:
            app.extensions["linli.redis"].incr(key)
        except RedisError:
            # Reads fall back to the database while Redis is down; entries left from
            # before are out of date within TTL_SECONDS (their minute passes).
            log.exception("could not invalidate the catalog cache")

    on_commit(bump)


def _key(name: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    return f"linli:catalog:{name}:{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class _Tag:
    """What an entry was built under: the catalog's generation and the minute (both must
    still be current), the figures' generation and the second it was built (a figures
    generation that moved since is tolerated for FIGURES_LAG_SECONDS)."""

    generation: bytes
    minute: int
    figures: bytes
    second: int

    @classmethod
    def now(cls, generation: bytes | None, figures: bytes | None) -> _Tag:
        seconds = int(now().timestamp())
        return cls(generation or b"0", seconds // TTL_SECONDS, figures or b"0", seconds)

    def encode(self) -> bytes:
        return b"%s:%d:%s:%d" % (self.generation, self.minute, self.figures, self.second)

    @classmethod
    def decode(cls, text: bytes) -> _Tag | None:
        try:
            generation, minute, figures, second = text.split(b":")
            return cls(generation, int(minute), figures, int(second))
        except ValueError:
            return None  # an entry in an older format: out of date

    def serves(self, current: _Tag) -> bool:
        """An entry built under ``self`` may answer a reader at ``current``."""
        if (self.generation, self.minute) != (current.generation, current.minute):
            return False
        return self.figures == current.figures or current.second - self.second < (
            FIGURES_LAG_SECONDS
        )


def _unpack(stored: bytes) -> tuple[_Tag | None, CachedJSON]:
    header, _, body = stored.partition(b"\n")
    tag, _, etag = header.partition(b" ")
    return _Tag.decode(tag), CachedJSON(body, etag.decode())


def _read(redis: Any, key: str) -> tuple[_Tag, bytes | None]:
    """The current tag and the stored entry: one round trip."""
    generation, figures, stored = redis.mget(GENERATION_KEY, FIGURES_KEY, key)
    return _Tag.now(generation, figures), stored


def fresh(name: str, params: dict[str, Any]) -> CachedJSON | None:
    """The entry for ``name``/``params`` if it is up to date, else None (also with the cache
    off or Redis down): one round trip, for a view that answers before doing anything else."""
    if not current_app.config["LINLI_CATALOG_CACHE"]:
        return None
    try:
        current, stored = _read(redis_client(), _key(name, params))
    except RedisError:
        return None
    if stored is None:
        return None
    tag, entry = _unpack(stored)
    return entry if tag is not None and tag.serves(current) else None


def cached_json(name: str, params: dict[str, Any], build: Callable[[], Any]) -> str:
    """The JSON text for ``name``/``params`` (``cached_answer``'s), for a caller that reads
    it rather than sending it (the shoppers' pages)."""
    return cached_answer(name, params, build).body.decode()


def cached_answer(name: str, params: dict[str, Any], build: Callable[[], Any]) -> CachedJSON:
    """The answer for ``name``/``params``: from Redis when up to date, else built (by
    ``build``, which returns what to send as JSON) and stored."""
    if not current_app.config["LINLI_CATALOG_CACHE"]:
        return CachedJSON.of(build())
    redis = redis_client()
    key = _key(name, params)
    try:
        tag, stored = _read(redis, key)
    except RedisError:
        log.warning("catalog cache unavailable; serving from the database")
        return CachedJSON.of(build())
    previous = None
    if stored is not None:
        stored_tag, previous = _unpack(stored)
        if stored_tag is not None and stored_tag.serves(tag):
            return previous
    lock = f"{key}:lock"
    try:
        rebuilding = not redis.set(lock, 1, nx=True, px=REBUILD_LOCK_MS)
    except RedisError:
        rebuilding = False
    if rebuilding and previous is not None:
        return previous  # another reader is rebuilding it right now
    try:
        fresh = CachedJSON.of(build())
    except BaseException:
        _release(redis, lock, rebuilding)
        raise
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.set(
            key,
            b"%s %s\n%s" % (tag.encode(), fresh.etag.encode(), fresh.body),
            ex=ENTRY_TTL_SECONDS,
        )
        if not rebuilding:
            pipe.delete(lock)
        pipe.execute()
    except RedisError:
        log.warning("could not store a catalog cache entry")
    return fresh


def _release(redis: Any, lock: str, rebuilding: bool) -> None:
    """Let the next reader rebuild at once after a build that failed (a 404, a crash)."""
    if rebuilding:
        return  # the lock is another reader's
    try:
        redis.delete(lock)
    except RedisError:
        pass  # it expires by itself
