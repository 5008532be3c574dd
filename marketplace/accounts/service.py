"""The rules of accounts: who may log in how, and what a token is worth.

Functions take plain values (never ``flask.request``), flush rather than commit, and raise
domain errors; the API layer commits once per request.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from marketplace.accounts import principals
from marketplace.accounts.errors import (
    AccountDisabled,
    InvalidCredentials,
    InvalidToken,
    OtpExhausted,
    OtpExpired,
    OtpInvalid,
    PasswordLoginRequired,
    TokenExpired,
)
from marketplace.accounts.models import AuthToken, OtpChallenge, Role, User
from marketplace.accounts.principals import Principal
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db, on_commit
from marketplace.core.errors import AuthenticationRequired, Conflict, InvalidInput
from marketplace.core.ratelimit import enforce
from marketplace.providers.sms import sms_sender

OTP_TTL = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5
OTP_DIGITS = 6
# Carriers and users expect about these: one code a minute, a handful an hour.
OTP_LIMIT_PER_PHONE = "1/minute;5/hour;10/day"
OTP_LIMIT_PER_IP = "20/hour;100/day"
PASSWORD_LIMIT_PER_USERNAME_IP = "10/15minutes"  # noqa: S105 - a rate, not a secret
PASSWORD_LIMIT_PER_IP = "60/minute"  # noqa: S105
PASSWORD_MIN_LENGTH = 10
TOKEN_PREFIX = "lnl_"  # noqa: S105 - marks our tokens, e.g. for secret scanners
TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)

_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,39}")
# What a person may type, as the API documents it: an optional +86/0086, and a single space
# or dash between groups (13812345678, +86 138 1234 5678, 138-1234-5678).
PHONE_INPUT = r"^(\+86|0086)?[ -]?1[3-9][0-9]([ -]?[0-9]){8}$"
USERNAME_INPUT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,39}$"
# RFC 9106's second recommendation (argon2id, 64 MiB, t=3): ~0.12 s a hash on one core here.
# The test suite, which hashes thousands of times, uses argon2's cheapest profile instead.
_HASHERS = {
    "standard": PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    "testing": PasswordHasher.from_parameters(profiles.CHEAPEST),
}


def _hasher() -> PasswordHasher:
    return _HASHERS["testing" if current_app.config["LINLI_ENV"] == "testing" else "standard"]


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Verified against when a username does not exist, so both paths cost the same."""
    return hasher.hash("linli-timing-equaliser")


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown to the client once; only its hash is stored
    record: AuthToken

    @property
    def user(self) -> User:
        return self.record.user


# -- phone numbers, usernames, passwords ---------------------------------------------------


def normalize_phone(raw: str) -> str:
    """A mainland mobile number as 11 digits; accepts +86/0086 and spaces or dashes."""
    digits = re.sub(r"[\s-]", "", raw or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise InvalidInput(
            "Not a mainland China mobile number.",
            fields={"phone": ["Enter an 11-digit mainland mobile number, e.g. 13812345678."]},
        )
    return digits


def normalize_username(raw: str) -> str:
    username = (raw or "").strip().lower()
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            fields={"username": ["2–40 characters: letters, digits, '.', '_' or '-'."]}
        )
    return username


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(fields={field: [f"Use at least {PASSWORD_MIN_LENGTH} characters."]})
    if len(password) > 128:
        raise InvalidInput(fields={field: ["Use at most 128 characters."]})


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _verify_password(user: User | None, password: str) -> bool:
    hasher = _hasher()
    if user is None or not user.password_hash:
        try:
            hasher.verify(_dummy_hash(hasher), password)
        except VerificationError:
            pass
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


# -- one-time codes ------------------------------------------------------------------------


def _code_hash(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"otp:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def request_login_code(raw_phone: str, *, ip: str | None) -> OtpChallenge:
    """Create a login code for ``raw_phone`` and send it by SMS once the transaction commits.

    Rate-limited per number and per client IP; a new code replaces any earlier one."""
    phone = normalize_phone(raw_phone)
    enforce(
        OTP_LIMIT_PER_IP,
        "otp-ip",
        ip or "unknown",
        message="Too many codes requested from this network; try again later.",
    )
    enforce(
        OTP_LIMIT_PER_PHONE,
        "otp-phone",
        phone,
        message="A code was sent to this number recently; wait before asking again.",
    )
    code = f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"
    challenge = OtpChallenge(
        phone=phone,
        code_hash=_code_hash(phone, code),
        expires_at=now() + OTP_TTL,
        requested_ip=ip,
    )
    db.session.add(challenge)
    db.session.flush()
    minutes = int(OTP_TTL.total_seconds() // 60)
    text = f"【邻里】您的登录验证码是{code},{minutes}分钟内有效。请勿告诉他人。"
    on_commit(lambda: sms_sender().send(phone, text))
    return challenge


def login_with_code(
    raw_phone: str, code: str, *, ip: str | None, user_agent: str | None
) -> IssuedToken:
    """Exchange the latest code sent to a phone for a token; a new number becomes a shopper.

    A wrong guess is committed on its own before the error is raised: the failed request
    rolls back, but the attempt must still count towards burning the code."""
    phone = normalize_phone(raw_phone)
    challenge = db.session.scalars(
        sa.select(OtpChallenge)
        .where(OtpChallenge.phone == phone)
        .order_by(OtpChallenge.created_at.desc(), OtpChallenge.id.desc())
        .limit(1)
    ).first()
    if challenge is None or challenge.consumed_at is not None:
        raise OtpInvalid()
    if challenge.attempts >= OTP_MAX_ATTEMPTS:
        raise OtpExhausted()
    if now() >= challenge.expires_at:
        raise OtpExpired()

    table = OtpChallenge.__table__
    unspent = sa.and_(
        table.c.id == challenge.id,
        table.c.consumed_at.is_(None),
        table.c.attempts < OTP_MAX_ATTEMPTS,
    )
    if not hmac.compare_digest(challenge.code_hash, _code_hash(phone, code or "")):
        db.session.execute(sa.update(table).where(unspent).values(attempts=table.c.attempts + 1))
        db.session.commit()
        db.session.refresh(challenge)
        left = OTP_MAX_ATTEMPTS - challenge.attempts
        if left <= 0:
            raise OtpExhausted()
        raise OtpInvalid(f"That code is not right; {left} tries left before it stops working.")
    used = db.session.execute(sa.update(table).where(unspent).values(consumed_at=now()))
    if used.rowcount != 1:  # a concurrent request spent or burned it first
        raise OtpInvalid()

    user = db.session.scalars(sa.select(User).where(User.phone == phone)).first()
    if user is None:
        user = User(phone=phone, display_name=f"用户{phone[-4:]}")
        user.grant(Role.SHOPPER)
        db.session.add(user)
        db.session.flush()
        audit.record("user", user.id, "user.registered", actor_id=user.id, data={"via": "otp"})
    elif set(user.roles) - {Role.SHOPPER}:
        raise PasswordLoginRequired()
    else:
        user.grant(Role.SHOPPER)
    return _start_session(user, ip=ip, user_agent=user_agent, method="otp")


def login_with_password(
    raw_username: str, password: str, *, ip: str | None, user_agent: str | None
) -> IssuedToken:
    username = (raw_username or "").strip().lower()
    enforce(
        PASSWORD_LIMIT_PER_IP,
        "pw-ip",
        ip or "unknown",
        message="Too many login attempts from this network; try again later.",
    )
    enforce(
        PASSWORD_LIMIT_PER_USERNAME_IP,
        "pw-user",
        f"{username}|{ip}",
        message="Too many login attempts for this account; try again in a few minutes.",
    )
    user = db.session.scalars(sa.select(User).where(User.username == username)).first()
    if not _verify_password(user, password or ""):
        raise InvalidCredentials()
    return _start_session(user, ip=ip, user_agent=user_agent, method="password")


def _start_session(
    user: User, *, ip: str | None, user_agent: str | None, method: str
) -> IssuedToken:
    if not user.is_active:
        raise AccountDisabled()
    user.last_login_at = now()
    issued = issue_token(user, ip=ip, user_agent=user_agent)
    audit.record(
        "user",
        user.id,
        "user.logged_in",
        actor_id=user.id,
        data={"method": method, "ip": ip, "token_id": issued.record.id},
    )
    return issued


# -- tokens --------------------------------------------------------------------------------


def token_ttl(user: User) -> timedelta:
    config = current_app.config
    if user.roles - {Role.SHOPPER}:
        return timedelta(hours=config["LINLI_STAFF_TOKEN_TTL_HOURS"])
    return timedelta(hours=config["LINLI_SHOPPER_TOKEN_TTL_HOURS"])


def issue_token(user: User, *, ip: str | None = None, user_agent: str | None = None) -> IssuedToken:
    """A new bearer token for ``user``. Its last use starts at its creation, so the first
    requests that use it write nothing (the use is recorded once an interval passes)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    moment = now()
    record = AuthToken(
        user=user,
        token_hash=principals.token_hash(token),
        created_at=moment,
        expires_at=moment + token_ttl(user),
        last_used_at=moment,
        created_ip=ip,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(record)
    db.session.flush()
    return IssuedToken(token=token, record=record)


def authenticate(token: str) -> Principal:
    """The principal of a live bearer token (or of a session cookie holding one), or an
    authentication error: 401 unknown, revoked or expired, 403 a disabled account.

    From Redis while the token's cached principal is current (``principals``: revocation,
    suspension and role changes make it stale the moment they commit), else from the
    database. The token's use is recorded at most once per TOKEN_TOUCH_INTERVAL, with a
    commit of its own: call this first in a request, before the request's own work."""
    return authenticate_with(token, principals.Reads())[0]


def authenticate_with(
    token: str, reads: principals.Reads
) -> tuple[Principal, list[dict[str, str] | None], list[bytes | None]]:
    """``authenticate``, and what ``reads`` names read in the same Redis round trip as the
    token's principal (``principals.principal_with``)."""
    if not _well_formed(token):
        raise InvalidToken()
    hashed = principals.token_hash(token)
    principal, entries, values = principals.principal_with(hashed, reads)
    moment = now()
    _check(principal, moment)
    if _touch_due(principal, moment):
        # Throttled so a busy client costs one write per interval, not one per request;
        # conditional, so a burst of requests that all saw the old time writes it once.
        table = AuthToken.__table__
        db.session.execute(
            sa.update(table)
            .where(
                table.c.id == principal.token_id,
                sa.or_(
                    table.c.last_used_at.is_(None),
                    table.c.last_used_at < moment - TOKEN_TOUCH_INTERVAL,
                ),
            )
            .values(last_used_at=moment)
        )
        db.session.commit()
        principal = principals.touched(hashed, principal, moment)
    return principal, entries, values


def authenticated_in_cache(
    token: str, reads: principals.Reads
) -> tuple[Principal, list[dict[str, str] | None], list[bytes | None]] | None:
    """``authenticate_with`` when Redis alone can say yes: the token's cached principal is
    current (``principals.cached_with``), the token live, the account active, and its last
    use recorded recently enough. None in every other case, so the caller takes
    ``authenticate_with``, which reads the database and gives the exact error: a front door
    (``orders.door``) answers from this without the database, never more leniently."""
    if not _well_formed(token):
        return None
    cached = principals.cached_with(principals.token_hash(token), reads)
    if cached is None:
        return None
    principal, entries, values = cached
    moment = now()
    try:
        _check(principal, moment)
    except AuthenticationRequired:
        return None
    if _touch_due(principal, moment):
        return None
    return principal, entries, values


def _well_formed(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


def _check(principal: Principal | None, moment: datetime) -> None:
    """The token may be used at ``moment``: 401 unknown, revoked or expired; 403 (the
    account's ``AccountDisabled``) a disabled account."""
    if principal is None or principal.revoked:
        raise InvalidToken()
    if moment >= principal.expires_at:
        raise TokenExpired()
    if not principal.is_active:
        raise AccountDisabled()


def _touch_due(principal: Principal, moment: datetime) -> bool:
    """The token's last use is older than TOKEN_TOUCH_INTERVAL: record this one."""
    last = principal.last_used_at
    return last is None or moment - last > TOKEN_TOUCH_INTERVAL


def revoke_token(record: AuthToken, *, actor_id: int | None, reason: str = "logout") -> None:
    if record.revoked_at is None:
        record.revoked_at = now()
        audit.record(
            "auth_token",
            record.id,
            "token.revoked",
            actor_id=actor_id,
            reason=reason,
            data={"user_id": record.user_id},
        )


def revoke_all_tokens(
    user: User, *, actor_id: int | None, reason: str, keep: AuthToken | None = None
) -> int:
    query = sa.update(AuthToken).where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
    if keep is not None:
        query = query.where(AuthToken.id != keep.id)
    revoked = db.session.execute(query.values(revoked_at=now())).rowcount
    principals.user_changed(user.id)  # a Core UPDATE: the session hook cannot see it
    audit.record(
        "user", user.id, "tokens.revoked", actor_id=actor_id, reason=reason, data={"count": revoked}
    )
    return revoked


# -- staff accounts ------------------------------------------------------------------------


def create_user_with_password(
    username: str,
    password: str,
    roles: Iterable[Role],
    *,
    display_name: str = "",
    actor_id: int | None = None,
    must_change_password: bool = False,
) -> User:
    username = normalize_username(username)
    check_password_strength(password)
    roles = list(roles)
    if not roles:
        raise InvalidInput(fields={"roles": ["Give the account at least one role."]})
    if db.session.scalars(sa.select(User.id).where(User.username == username)).first():
        raise Conflict(f"The username {username!r} is taken.", code="username_taken")
    user = User(
        username=username,
        password_hash=hash_password(password),
        display_name=display_name or username,
        must_change_password=must_change_password,
    )
    for role in roles:
        user.grant(Role(role))
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user",
        user.id,
        "user.created",
        actor_id=actor_id,
        data={"username": username, "roles": sorted(r.value for r in user.roles)},
    )
    return user


def set_password(
    user: User, new_password: str, *, actor_id: int | None, must_change: bool = False
) -> None:
    check_password_strength(new_password)
    user.password_hash = hash_password(new_password)
    user.must_change_password = must_change
    audit.record("user", user.id, "password.set", actor_id=actor_id)


def change_own_password(
    user: User, current_password: str, new_password: str, *, session: AuthToken
) -> None:
    """A user replaces their password; every other session of theirs is logged out."""
    if not _verify_password(user, current_password):
        raise InvalidCredentials("The current password is wrong.")
    if current_password == new_password:
        raise InvalidInput(fields={"new_password": ["Choose a different password."]})
    check_password_strength(new_password, field="new_password")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    audit.record("user", user.id, "password.changed", actor_id=user.id)
    revoke_all_tokens(user, actor_id=user.id, reason="password changed", keep=session)


class OwnAccountUnchanged(Conflict):
    code = "own_account_unchanged"
    message = "Not your own account."


def set_active(user: User, active: bool, *, actor_id: int | None, reason: str) -> bool:
    """Suspend (``active`` False) or restore an account; False if it already was. Every
    token of a suspended account is refused from its next request on (``principals``);
    the tokens themselves are kept, so restoring the account restores them. Nobody
    suspends or restores their own account (409 ``own_account_unchanged``)."""
    if actor_id == user.id:
        raise OwnAccountUnchanged()
    if user.is_active == active:
        return False
    user.is_active = active
    action = "user.reactivated" if active else "user.suspended"
    audit.record("user", user.id, action, actor_id=actor_id, reason=reason)
    return True


def set_roles(user: User, roles: Iterable[Role], *, actor_id: int | None) -> None:
    """Give ``user`` exactly ``roles``; a role taken away stops working from the user's next
    request on (``principals``). Tokens keep the lifetime they were issued with. An admin
    cannot take the admin role from themselves (409 ``own_account_unchanged``): the
    platform would be left without anyone to give it back."""
    wanted = {Role(r) for r in roles}
    if not wanted:
        raise InvalidInput(fields={"roles": ["Give the account at least one role."]})
    if actor_id == user.id and Role.ADMIN in user.roles and Role.ADMIN not in wanted:
        raise OwnAccountUnchanged()
    before = sorted(r.value for r in user.roles)
    user.role_rows = [row for row in user.role_rows if Role(row.role) in wanted]
    for role in sorted(wanted):
        user.grant(role)
    after = sorted(r.value for r in user.roles)
    if after != before:
        audit.record(
            "user", user.id, "roles.changed", actor_id=actor_id, data={"from": before, "to": after}
        )


def expires_in_seconds(moment: datetime) -> int:
    return max(0, math.ceil((moment - now()).total_seconds()))
