"""Accounts: users, their roles, bearer tokens and one-time login codes."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core.clock import now
from marketplace.core.db import TimestampMixin, db


class Role(enum.StrEnum):
    SHOPPER = "shopper"
    MERCHANT_STAFF = "merchant_staff"  # owner or clerk of one merchant (merchants/ links it)
    BD = "bd"  # business development: onboards and grades shops, negotiates deals
    CS = "cs"  # customer service: refunds, complaints
    EDITOR = "editor"  # writes deal copy
    ADMIN = "admin"  # the general manager: may do everything staff may


STAFF_ROLES = frozenset({Role.BD, Role.CS, Role.EDITOR, Role.ADMIN})


def holds_role(mine: frozenset[Role], *wanted: Role) -> bool:
    """True if ``mine`` includes any of ``wanted``; admin holds every staff role. The one
    rule, for a ``User`` and for a request's cached ``Principal`` alike."""
    if Role.ADMIN in mine and any(r in STAFF_ROLES for r in wanted):
        return True
    return any(r in mine for r in wanted)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Shoppers are known by a mainland mobile number (11 digits, no +86).
    phone: Mapped[str | None] = mapped_column(sa.String(11), unique=True)
    # Staff and merchant staff log in with a username and password.
    username: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(60), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None]

    # Loaded when asked (the caller's own roles, once per request): users shown in lists
    # (a merchant's owner, an author, a ticket's opener) never need theirs.
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.role_rows)

    def has_role(self, *roles: Role) -> bool:
        """True if the user holds any of ``roles``; admin holds every staff role."""
        return holds_role(self.roles, *roles)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def masked_name(self) -> str:
        """How a public page names a shopper (a review's author, a giveaway's winner): the
        first character of their display name and two stars, 张**; 用户** without a name.
        Never any part of their phone number."""
        name = (self.display_name or "").strip()
        return f"{name[0] if name else '用户'}**"

    def grant(self, role: Role) -> None:
        if role not in self.roles:
            self.role_rows.append(UserRole(role=role.value))


class UserRole(db.Model):
    __tablename__ = "user_roles"
    __table_args__ = (
        sa.CheckConstraint(sa.column("role").in_([r.value for r in Role]), name="known_role"),
    )

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=now)

    user: Mapped[User] = relationship(back_populates="role_rows")


class AuthToken(db.Model):
    """An opaque bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class OtpChallenge(db.Model):
    """A one-time login code sent by SMS. Only a keyed hash of the code is stored."""

    __tablename__ = "otp_challenges"
    __table_args__ = (sa.Index("ix_otp_challenges_phone_created", "phone", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(11))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    consumed_at: Mapped[datetime | None]
    requested_ip: Mapped[str | None] = mapped_column(sa.String(45))
