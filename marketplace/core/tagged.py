"""Copies of database rows in Redis that are valid only while the generations they were
read under are current: the cache behind authentication (a token's principal) and a deal's
sale state, which must never outlive a change to their rows — not even a change that
commits while a request is between reading the rows and storing its copy.

The rule that makes it race-free:

- every change bumps the generation of what it changed, *after* its transaction commits
  (``bump_after_commit``), so whoever sees the new generation can also see the change;
- a reader that misses reads the current generations first (``generations``), *then* the
  database, and stores its copy tagged with those generations only if they are still
  current (``store``, a compare-and-set in one Lua script). A change that commits after
  the reader's database read bumps a generation either before the store (the store is
  refused) or after it (the stored tag is stale at once); a change that committed before
  the database read is in what was read;
- a hit is valid only if each of its tags equals the current generation (``read``: one
  round trip, the script finds the generation keys in the entry's own tag fields).

Generations start at a random number, and a missing generation matches no tag, so losing
generation keys (eviction, expiry, FLUSHDB, a restart) only ever turns entries into
misses. Entries also expire (``ttl``): a Redis restored from an older snapshot brings back
entries consistent with its own older generations, and those live at most ``ttl`` seconds.

The scripts read keys named inside the entries, which a single Redis (what Linli runs)
allows; a Redis Cluster would need them hash-tagged to one slot.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from redis import Redis
from redis.exceptions import RedisError

from marketplace.core.db import db, on_commit, on_rollback
from marketplace.core.redis import lua, redis_client

log = logging.getLogger(__name__)
GENERATION_TTL = 24 * 3600  # far longer than any entry; a lost generation is only a miss
TAG = "@"  # fields holding a generation: "@<generation key>" -> the value it was read at

# Reads tagged entries (the first ARGV[1] of KEYS) and plain values (the rest) in one round
# trip -> for each key, in order: a tagged entry's fields if every tag is current (else
# false); a plain value: GET, or HGET of the field ARGV[i + 1] when that is not ''. A key or
# field may name a field of the FIRST entry as {name} (the user of a token's principal, say):
# filled in from it, or false when that entry missed.
_READ = lua(
    """
local tagged = tonumber(ARGV[1])
local first = nil
local function fill(text)
  if not string.find(text, '{', 1, true) then return text end
  if not first then return nil end
  local missing = false
  local filled = string.gsub(text, '{([%w_]+)}', function(name)
    local value = first[name]
    if not value then missing = true return '' end
    return value
  end)
  if missing then return nil end
  return filled
end
local out = {}
for i = 1, #KEYS do
  local key, field = fill(KEYS[i]), fill(ARGV[i + 1])
  if not key or not field then out[i] = false
  elseif i <= tagged then
    local entry = redis.call('HGETALL', key)
    out[i] = false
    if #entry > 0 then
      out[i] = entry
      for j = 1, #entry, 2 do
        if string.sub(entry[j], 1, 1) == '@' then
          if redis.call('GET', string.sub(entry[j], 2)) ~= entry[j + 1] then
            out[i] = false
            break
          end
        end
      end
    end
    if i == 1 and out[i] then
      first = {}
      for j = 1, #entry, 2 do first[entry[j]] = entry[j + 1] end
    end
  elseif field == '' then out[i] = redis.call('GET', key)
  else out[i] = redis.call('HGET', key, field) end
end
return out
"""
)
_GENERATIONS = lua(
    """
local current = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if not value then
    value = ARGV[i + 1]
    redis.call('SET', key, value, 'EX', ARGV[1])
  end
  current[i] = value
end
return current
"""
)
_STORE = lua(
    """
for i = 2, #ARGV, 2 do
  local field = ARGV[i]
  if string.sub(field, 1, 1) == '@' and redis.call('GET', string.sub(field, 2)) ~= ARGV[i + 1]
  then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
)
_BUMP = lua(
    """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCR', key)
  else redis.call('SET', key, ARGV[i + 1]) end
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""
)
_SET_FIELD = lua(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_instant(value: datetime | None) -> str:
    """An aware instant as a field: whole microseconds since the epoch (exact both ways)."""
    return "" if value is None else str((value - _EPOCH) // timedelta(microseconds=1))


def decode_instant(text: str) -> datetime | None:
    return None if not text else _EPOCH + timedelta(microseconds=int(text))


def _fresh() -> int:
    """A generation's first value: random, so a lost and re-created generation never
    repeats one an old entry was tagged with (INCR keeps counting up from it)."""
    return secrets.randbelow(2**60)


def read(key: str) -> dict[str, str] | None:
    """The entry at ``key`` if every generation it is tagged with is current (tags left
    out), else None. Raises RedisError."""
    return read_with(key)[0]


def read_with(
    key: str, *also: tuple[str, str | None]
) -> tuple[dict[str, str] | None, list[bytes | None]]:
    """``read``, and in the same round trip the plain values ``also`` names: ``(key,
    None)`` for a string, ``(key, field)`` for a hash field (None when missing). Raises
    RedisError."""
    entries, values = read_many([key], also)
    return entries[0], values


def read_many(
    keys: Sequence[str], also: Iterable[tuple[str, str | None]] = ()
) -> tuple[list[dict[str, str] | None], list[bytes | None]]:
    """Several tagged entries (each as ``read`` gives it) and the plain values ``also``
    names (as ``read_with``), in one round trip. A later key or field may name a field of
    the first entry as ``{name}`` (``"linli:user:{user_id}:profile"``): it is filled in
    from that entry, and read as missing when the first entry is. Raises RedisError."""
    also = list(also)
    names = [*keys, *(k for k, _ in also)]
    fields = [len(keys), *("" for _ in keys), *(field or "" for _, field in also)]
    flat = _READ(keys=names, args=fields, client=redis_client())
    entries = [_fields(item) if item else None for item in flat[: len(keys)]]
    return entries, flat[len(keys) :]


def _fields(flat: list[bytes]) -> dict[str, str]:
    pairs = zip(flat[::2], flat[1::2], strict=True)
    return {k.decode(): v.decode() for k, v in pairs if not k.startswith(TAG.encode())}


def generations(*keys: str) -> dict[str, str]:
    """The current value of each generation, created if missing. Read these *before*
    the database rows a copy is made of. Raises RedisError."""
    values = _GENERATIONS(
        keys=list(keys), args=[GENERATION_TTL, *(_fresh() for _ in keys)], client=redis_client()
    )
    return {key: value.decode() for key, value in zip(keys, values, strict=True)}


def store(key: str, fields: Mapping[str, object], tags: Mapping[str, str], ttl: int) -> bool:
    """Store ``fields`` at ``key`` for ``ttl`` seconds, tagged with the generations read
    before the database (``tags``, from ``generations``) — only if each is still current.
    False when one moved (the copy may be stale: nothing is stored). Raises RedisError."""
    args: list[object] = [ttl]
    for name, value in tags.items():
        args += [TAG + name, value]
    for name, value in fields.items():
        args += [name, "" if value is None else value]
    return bool(_STORE(keys=[key], args=args, client=redis_client()))


def set_field(key: str, field: str, value: object) -> None:
    """Change one field of an entry that exists (bookkeeping such as a last-use time, which
    no generation guards). Raises RedisError."""
    _SET_FIELD(keys=[key], args=[field, value], client=redis_client())


def bump(*keys: str, client: Redis | None = None) -> None:
    """Move generations on now (a change that is already committed, or made outside the
    database). Raises RedisError."""
    if keys:
        _BUMP(
            keys=list(keys),
            args=[GENERATION_TTL, *(_fresh() for _ in keys)],
            client=client or redis_client(),
        )


_PENDING = "linli.tagged.pending"


def bump_after_commit(*keys: str, session: sa.orm.Session | None = None) -> None:
    """Move generations on once the current transaction commits (nothing on rollback).
    One Redis call per transaction, however many changes asked. ``session``: the one a
    session event handler was given (default: the request's)."""
    session = session or db.session()
    if not session.in_transaction():
        session.begin()  # no statement yet; its end, commit or not, is then always seen
    pending: set[str] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()
        client = redis_client()

        def flush_pending() -> None:
            keys = session.info.pop(_PENDING, set())
            try:
                bump(*sorted(keys), client=client)
            except RedisError:
                # Entries tagged with these generations stay valid until they expire (their
                # ttl): the one window in which a change can be late.
                log.exception("could not move generations %s on", sorted(keys))

        on_commit(flush_pending, session=session)
        on_rollback(lambda: session.info.pop(_PENDING, None), session=session)
    pending.update(keys)
