"""Distributors and their tiers: joining under the join policy, staff review, suspension,
tier and friend-count changes (all audited)."""

from __future__ import annotations

import secrets
import string
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.distribution.models import Distributor, DistributorStatus, DistributorTier
from marketplace.distribution.settings import setting

_ALPHABET = string.ascii_letters + string.digits


def new_code(length: int) -> str:
    """A random code for invites and share links."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def distributor_of(user: User) -> Distributor | None:
    return db.session.scalars(sa.select(Distributor).where(Distributor.user_id == user.id)).first()


def my_distributor(user: User) -> Distributor:
    d = distributor_of(user)
    if d is None:
        raise NotFound("You are not a distributor.", code="not_a_distributor")
    return d


def get_distributor(distributor_id: int) -> Distributor:
    d = db.session.get(Distributor, distributor_id)
    if d is None:
        raise NotFound("No such distributor.", code="distributor_not_found")
    return d


def join(
    user: User, *, invite_code: str | None = None, wechat_friends: int | None = None
) -> Distributor:
    """A shopper becomes a distributor; a recruiter's invite code makes the recruiter the
    new distributor's level-2 parent. The join policy decides who may join."""
    if distributor_of(user) is not None:
        raise Conflict("You already joined the distribution programme.", code="already_joined")
    recruiter = None
    if invite_code:
        recruiter = db.session.scalars(
            sa.select(Distributor).where(Distributor.invite_code == invite_code)
        ).first()
        if recruiter is None or recruiter.status != DistributorStatus.ACTIVE.value:
            raise InvalidInput(
                code="invalid_invite_code",
                fields={"invite_code": ["No active distributor has that code."]},
            )
    policy = setting("join_policy")
    if policy == "invitation" and recruiter is None:
        raise PermissionDenied(
            "Joining is by invitation only: ask a distributor for a code.",
            code="invitation_required",
        )
    status = DistributorStatus.APPLIED if policy == "application" else DistributorStatus.ACTIVE
    tier = db.session.scalars(
        sa.select(DistributorTier).order_by(DistributorTier.sort_order, DistributorTier.id)
    ).first()
    distributor = Distributor(
        user=user,
        status=status.value,
        recruiter=recruiter,
        tier=tier,
        invite_code=new_code(8),
        wechat_friends=wechat_friends,
    )
    db.session.add(distributor)
    db.session.flush()
    audit.record(
        "distributor",
        distributor.id,
        "distributor.joined",
        actor_id=user.id,
        data={"status": status.value, "recruiter_id": recruiter.id if recruiter else None},
    )
    return distributor


def review_application(
    distributor: Distributor, approve: bool, actor: User, *, reason: str = ""
) -> Distributor:
    if distributor.status != DistributorStatus.APPLIED.value:
        raise Conflict(
            "Only an application can be approved or rejected.", code="not_an_application"
        )
    distributor.status = (DistributorStatus.ACTIVE if approve else DistributorStatus.REJECTED).value
    distributor.status_reason = reason or None
    audit.record(
        "distributor",
        distributor.id,
        "distributor.approved" if approve else "distributor.rejected",
        actor_id=actor.id,
        reason=reason or None,
    )
    return distributor


def set_suspended(
    distributor: Distributor, suspended: bool, actor: User, *, reason: str = ""
) -> Distributor:
    """A suspended distributor makes no new links and earns no new commission; their
    customers stay bound to them."""
    wanted = DistributorStatus.SUSPENDED if suspended else DistributorStatus.ACTIVE
    expected = DistributorStatus.ACTIVE if suspended else DistributorStatus.SUSPENDED
    if distributor.status != expected.value:
        raise Conflict(
            f"A {distributor.status} distributor cannot become {wanted.value}.",
            code="illegal_distributor_transition",
        )
    distributor.status = wanted.value
    distributor.status_reason = reason or None
    audit.record(
        "distributor",
        distributor.id,
        "distributor.suspended" if suspended else "distributor.reinstated",
        actor_id=actor.id,
        reason=reason or None,
    )
    return distributor


def update_distributor(
    distributor: Distributor, changes: dict[str, Any], actor: User
) -> Distributor:
    """Staff set the tier and record the verified WeChat friend count."""
    if "tier" in changes:
        tier = db.session.scalars(
            sa.select(DistributorTier).where(DistributorTier.slug == changes["tier"])
        ).first()
        if tier is None:
            raise InvalidInput(fields={"tier": ["No such tier."]})
        distributor.tier = tier
    if "wechat_friends" in changes:
        distributor.wechat_friends = changes["wechat_friends"]
        distributor.friends_verified_at = now()
    audit.record(
        "distributor",
        distributor.id,
        "distributor.updated",
        actor_id=actor.id,
        data={k: v for k, v in changes.items()},
    )
    return distributor


def save_tier(data: dict[str, Any], actor: User) -> DistributorTier:
    tier = db.session.scalars(
        sa.select(DistributorTier).where(DistributorTier.slug == data["slug"])
    ).first()
    if tier is None:
        tier = DistributorTier(slug=data["slug"])
        db.session.add(tier)
    for key in ("name", "level1_bonus", "sort_order"):
        if key in data:
            setattr(tier, key, data[key])
    db.session.flush()
    audit.record("distributor_tier", tier.id, "tier.saved", actor_id=actor.id, data=data)
    return tier


def list_tiers() -> list[DistributorTier]:
    return list(
        db.session.scalars(
            sa.select(DistributorTier).order_by(DistributorTier.sort_order, DistributorTier.id)
        )
    )


def largest_tier_bonus() -> int:
    """The largest level-1 bonus of any tier: every deal that pays level-1 commission must
    budget for it (the deal rules take it as ``max_tier_bonus``; deals sit below
    distribution, so the caller reads it here and passes it in)."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(DistributorTier.level1_bonus), 0))
    )


def list_distributors(status: str | None = None) -> sa.Select:
    """Every distributor (or those in ``status``: ``applied`` is customer service's queue
    of applications), newest first; the caller paginates."""
    query = sa.select(Distributor)
    if status:
        query = query.where(Distributor.status == status)
    return query.order_by(Distributor.id.desc())
