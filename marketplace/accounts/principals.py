"""Who a request is: the principal of a bearer token (its user, roles and flags), kept in
Redis so that authenticating a request reads no database.

A principal is a copy of the token's row and its user's rows, tagged with the user's
generation (``core.tagged``): a hit is used only while that generation is current, and
every change that matters to authentication moves it once its transaction commits —

- ORM changes, through the session hook at the bottom (so no caller can forget one): a
  token revoked (logout) or its expiry changed; a user deactivated, reactivated, made to
  change their password or given a new one; a role granted or removed;
- Core UPDATEs the hook cannot see, by calling ``user_changed`` (revoking every token of
  a user).

So a revoked token, a suspended account or a lost role is refused by the very next
request, including one that read the database just before the change committed (its copy
is refused or stale at once). Copies expire after ``TTL_SECONDS`` as well, so a Redis
brought back from an old snapshot cannot bring a revoked token back for longer. Without
Redis, every request reads the database (and authentication keeps working).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from redis.exceptions import RedisError

from marketplace.accounts.models import STAFF_ROLES, AuthToken, Role, User, UserRole, holds_role
from marketplace.core import tagged
from marketplace.core.db import db

log = logging.getLogger(__name__)
TTL_SECONDS = 300
# What a principal is made of; a change to any of these moves the user's generation.
# The profile ``GET /me`` shows (``profile_key``) is tagged with the same generation, so its
# fields are watched too.
WATCHED_USER = (
    "is_active",
    "must_change_password",
    "password_hash",
    "phone",
    "username",
    "display_name",
)
WATCHED_TOKEN = ("revoked_at", "expires_at", "user_id")


@dataclass(frozen=True)
class Principal:
    """The authenticated side of a request: enough to authorise it (who, roles) without
    loading the user. Views that need the ``User`` row ask ``auth.current_user()``."""

    token_id: int
    user_id: int
    roles: frozenset[Role]
    is_active: bool
    must_change_password: bool
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool = False

    @property
    def id(self) -> int:
        """The user's id: a principal reads like a ``User`` for rules that need only who
        and which roles."""
        return self.user_id

    def has_role(self, *roles: Role) -> bool:
        return holds_role(self.roles, *roles)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entry_key(hashed: str) -> str:
    return f"linli:auth:{hashed}"


def generation_key(user_id: int) -> str:
    return f"linli:user:{user_id}:generation"


# A user's own profile as ``GET /me`` sends it (its JSON), tagged with the user's
# generation; ``{user_id}`` is filled in from the principal read in the same round trip.
PROFILE_KEY = "linli:user:{user_id}:profile"


def profile_key(user_id: int) -> str:
    return PROFILE_KEY.replace("{user_id}", str(user_id))


@dataclass(frozen=True)
class Reads:
    """What a request reads from Redis in the same round trip as its token's principal:
    tagged entries (``core.tagged``) and plain values, whose keys and fields may name the
    principal's user as ``{user_id}``. ``entries``/``values`` hold what was read (None:
    missing, out of date, or Redis unavailable)."""

    entries: tuple[str, ...] = ()
    also: tuple[tuple[str, str | None], ...] = ()


# What ``GET /me`` reads with the principal (its view, and its lane at the front door).
ME_READS = Reads(entries=(PROFILE_KEY,))


def principal_with(
    hashed: str, reads: Reads
) -> tuple[Principal | None, list[dict[str, str] | None], list[bytes | None]]:
    """``principal_for``, and what ``reads`` names, in one Redis round trip while the
    principal's copy is current (a second one after reading the database when it is not).
    Without Redis: the database's principal and nothing read."""
    nothing: tuple[list, list] = ([None] * len(reads.entries), [None] * len(reads.also))
    try:
        entries, values = tagged.read_many([entry_key(hashed), *reads.entries], reads.also)
    except RedisError:
        log.warning("token cache unavailable; authenticating from the database")
        return _loaded(hashed, stored=False), *nothing
    if entries[0] is not None:
        return _decode(entries[0]), entries[1:], values
    principal = _loaded(hashed)
    if principal is None or not (reads.entries or reads.also):
        return principal, *nothing

    def filled(text: str | None) -> str | None:
        return text and text.replace("{user_id}", str(principal.user_id))

    try:
        entries, values = tagged.read_many(
            [filled(key) for key in reads.entries],
            [(filled(key), filled(field)) for key, field in reads.also],
        )
    except RedisError:
        return principal, *nothing
    return principal, entries, values


def cached_with(
    hashed: str, reads: Reads
) -> tuple[Principal, list[dict[str, str] | None], list[bytes | None]] | None:
    """``principal_with`` from Redis alone, in one round trip: the principal while its copy
    is current (revoked ones included, marked) and what ``reads`` names; None when the copy
    is missing or stale or Redis is unavailable (only the database can tell then)."""
    try:
        entries, values = tagged.read_many([entry_key(hashed), *reads.entries], reads.also)
    except RedisError:
        return None
    if entries[0] is None:
        return None
    return _decode(entries[0]), entries[1:], values


def principal_for(hashed: str) -> Principal | None:
    """The principal of the token with SHA-256 ``hashed`` (revoked ones included, marked),
    or None for a token never issued: from Redis when the copy is current, else from the
    database (and the copy refreshed)."""
    try:
        cached = tagged.read(entry_key(hashed))
    except RedisError:
        log.warning("token cache unavailable; authenticating from the database")
        return _loaded(hashed, stored=False)
    if cached is not None:
        return _decode(cached)
    return _loaded(hashed)


def _loaded(hashed: str, *, stored: bool = True) -> Principal | None:
    """The principal from the database, its copy stored in Redis (unless ``stored`` is
    False: Redis is known to be down)."""
    if not stored:
        return _from_database(hashed)
    # The user id first (a token never changes hands), then that user's generation, THEN
    # the rows the copy is made of: see core.tagged for why this order is race-free.
    user_id = db.session.scalar(sa.select(AuthToken.user_id).where(AuthToken.token_hash == hashed))
    if user_id is None:
        return None
    try:
        tags = tagged.generations(generation_key(user_id))
    except RedisError:
        tags = None
    principal = _from_database(hashed)  # after the generation: see core.tagged
    if principal is not None and tags is not None:
        try:
            tagged.store(entry_key(hashed), _encode(principal), tags, TTL_SECONDS)
        except RedisError:
            log.warning("could not store a token's principal")
    return principal


def profile(
    principal: Principal, cached: Mapping[str, str] | None, build: Callable[[], str]
) -> str:
    """The JSON text of the principal's own profile (``GET /me``): ``cached``, the copy
    read with the principal (``PROFILE_KEY``), while it is current; else ``build()``'s,
    stored tagged with the user's generation read before building it (``core.tagged``),
    so any change to the user, their roles or their tokens makes the copy stale."""
    if cached is not None:
        return cached["json"]
    try:
        tags = tagged.generations(generation_key(principal.user_id))
    except RedisError:
        tags = None
    text = build()
    if tags is not None:
        try:
            tagged.store(profile_key(principal.user_id), {"json": text}, tags, TTL_SECONDS)
        except RedisError:
            log.warning("could not store a profile")
    return text


def touched(hashed: str, principal: Principal, moment: datetime) -> Principal:
    """The token was just used at ``moment`` (recorded in the database by the caller): keep
    the copy's last use in step, so the next use is not written again."""
    try:
        tagged.set_field(entry_key(hashed), "last_used", tagged.encode_instant(moment))
    except RedisError:
        log.warning("could not record a token's last use in its cached principal")
    return replace(principal, last_used_at=moment)


def user_changed(user_id: int) -> None:
    """Every cached principal of the user goes stale when the current transaction commits
    (for changes the session hook cannot see, such as a Core UPDATE of their tokens)."""
    tagged.bump_after_commit(generation_key(user_id))


def user_of(who: User | Principal) -> User:
    """The ``User`` row behind a principal (one primary-key read, then the session's)."""
    if isinstance(who, User):
        return who
    user = db.session.get(User, who.user_id)
    if user is None:  # users are never deleted while they hold a token; be explicit anyway
        raise LookupError(f"user {who.user_id} is gone")
    return user


def _from_database(hashed: str) -> Principal | None:
    """The token, its user and their roles in one statement (a row per role)."""
    rows = db.session.execute(
        sa.select(
            AuthToken.id,
            AuthToken.user_id,
            AuthToken.expires_at,
            AuthToken.revoked_at,
            AuthToken.last_used_at,
            User.is_active,
            User.must_change_password,
            UserRole.role,
        )
        .join(User, User.id == AuthToken.user_id)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(AuthToken.token_hash == hashed)
    ).all()
    if not rows:
        return None
    row = rows[0]
    return Principal(
        token_id=row.id,
        user_id=row.user_id,
        roles=frozenset(Role(r.role) for r in rows if r.role is not None),
        is_active=row.is_active,
        must_change_password=row.must_change_password,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


def _encode(principal: Principal) -> dict[str, object]:
    return {
        "token_id": principal.token_id,
        "user_id": principal.user_id,
        "roles": ",".join(sorted(r.value for r in principal.roles)),
        "active": int(principal.is_active),
        "pending_password": int(principal.must_change_password),
        "expires": tagged.encode_instant(principal.expires_at),
        "last_used": tagged.encode_instant(principal.last_used_at),
        "revoked": int(principal.revoked),
    }


def _decode(fields: dict[str, str]) -> Principal:
    return Principal(
        token_id=int(fields["token_id"]),
        user_id=int(fields["user_id"]),
        roles=frozenset(Role(r) for r in fields["roles"].split(",") if r),
        is_active=fields["active"] == "1",
        must_change_password=bool(int(fields["pending_password"])),
        expires_at=tagged.decode_instant(fields["expires"]),
        last_used_at=tagged.decode_instant(fields["last_used"]),
        revoked=fields["revoked"] == "1",
    )


def _changed(obj: object, names: tuple[str, ...]) -> bool:
    attrs = sa.inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in names)


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _authentication_changes(
    session: sa.orm.Session, flush_context: object, instances: object
) -> None:
    """Every change a principal is made of moves its user's generation once the
    transaction commits. Seen before the flush, while the attributes' history is whole."""
    users: set[int] = set()
    for obj in session.dirty:
        if isinstance(obj, User) and _changed(obj, WATCHED_USER):
            users.add(obj.id)
        elif isinstance(obj, AuthToken) and _changed(obj, WATCHED_TOKEN):
            users.add(obj.user_id)
    for obj in session.deleted:
        if isinstance(obj, User):
            users.add(obj.id)
        elif isinstance(obj, AuthToken | UserRole):
            users.add(obj.user_id)
    users.discard(None)
    if users:
        tagged.bump_after_commit(*(generation_key(u) for u in users), session=session)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _roles_granted(session: sa.orm.Session, flush_context: object) -> None:
    """A role granted (its user id is known after the flush, also for a new user): the
    user's other tokens' copies list the old roles. A new token needs nothing."""
    users = {obj.user_id for obj in session.new if isinstance(obj, UserRole)}
    if users:
        tagged.bump_after_commit(*(generation_key(u) for u in users), session=session)
