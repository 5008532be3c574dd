"""Binding a shopper to a distributor: first come, permanent by default (time-limited if
the admin says so), never to oneself or into a cycle; an admin may rebind with a reason."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import Role, User
from marketplace.core import audit
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.distribution import access
from marketplace.distribution.distributors import distributor_of, get_distributor
from marketplace.distribution.links import link_by_code
from marketplace.distribution.models import (
    CustomerBinding,
    Distributor,
    DistributorStatus,
    ShareLink,
)
from marketplace.distribution.settings import setting


def _upline(distributor: Distributor) -> list[int]:
    """The distributor and everyone above them (ids), nearest first."""
    chain, seen = [], set()
    current: Distributor | None = distributor
    while current is not None and current.id not in seen:
        chain.append(current.id)
        seen.add(current.id)
        current = current.recruiter
    return chain


def _refuse_reason(shopper: User, distributor: Distributor) -> str | None:
    if access.is_distributor(shopper, distributor.id):
        return "A distributor cannot be their own customer."
    mine = distributor_of(shopper)
    if mine is not None and mine.id in _upline(distributor):
        return "That binding would make a cycle: this distributor is in the shopper's downline."
    return None


def customers(distributor: Distributor) -> sa.Select:
    """The shoppers bound to the distributor, most recently bound first; the caller
    paginates (``orders.attribution.customers`` adds what each bought)."""
    return (
        sa.select(CustomerBinding)
        .where(CustomerBinding.distributor_id == distributor.id)
        .order_by(CustomerBinding.bound_at.desc(), CustomerBinding.shopper_id.desc())
    )


def masked_phone(phone: str | None) -> str:
    """What a distributor sees of a customer's number: 138****5678. Their customers are
    people their links brought, not contacts they may call or sell on."""
    if not phone:
        return ""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "****"


def binding_of(shopper_id: int) -> CustomerBinding | None:
    return db.session.get(CustomerBinding, shopper_id)


def bind_customer(
    shopper: User, ref: str | None, channel: str
) -> tuple[CustomerBinding | None, ShareLink | None]:
    """Bind ``shopper`` to the distributor of link ``ref`` if they are not bound yet (or,
    in time-limited mode, if their binding is older than the setting allows). Returns the
    shopper's binding and the link used. Unknown links, suspended distributors, self and
    cycles are ignored: binding never fails a login or a purchase."""
    link = link_by_code(ref) if ref else None
    current = binding_of(shopper.id)
    if link is None or link.distributor.status != DistributorStatus.ACTIVE.value:
        return current, None
    distributor = link.distributor
    if _refuse_reason(shopper, distributor):
        return current, None
    if current is not None:
        if current.distributor_id == distributor.id:
            return current, link
        if setting("binding_mode") != "time_limited":
            return current, None  # 永久绑定: the first distributor keeps the customer
        if now() - current.bound_at < timedelta(days=setting("rebind_after_days")):
            return current, None
        previous = current.distributor_id
        current.distributor_id, current.link_id = distributor.id, link.id
        current.channel, current.bound_at = channel, now()
        audit.record(
            "customer_binding",
            shopper.id,
            "binding.rebound",
            actor_id=shopper.id,
            data={"from": previous, "to": distributor.id, "link": link.code},
        )
        return current, link
    binding = CustomerBinding(
        shopper_id=shopper.id,
        distributor_id=distributor.id,
        link_id=link.id,
        channel=channel,
        bound_at=now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(binding)
            db.session.flush()
    except IntegrityError:  # a concurrent first visit bound them a moment ago
        return binding_of(shopper.id), None
    audit.record(
        "customer_binding",
        shopper.id,
        "binding.created",
        actor_id=shopper.id,
        data={"distributor_id": distributor.id, "link": link.code, "channel": channel},
    )
    return binding, link


def admin_rebind(shopper_id: int, distributor_id: int, reason: str, actor: User) -> CustomerBinding:
    shopper = db.session.get(User, shopper_id)
    if shopper is None or not shopper.has_role(Role.SHOPPER):
        raise NotFound("No such shopper.", code="shopper_not_found")
    distributor = get_distributor(distributor_id)
    why = _refuse_reason(shopper, distributor)
    if why:
        raise Conflict(why, code="binding_refused")
    if not reason.strip():
        raise InvalidInput(fields={"reason": ["Say why."]})
    binding = binding_of(shopper_id)
    previous = binding.distributor_id if binding else None
    if binding is None:
        binding = CustomerBinding(
            shopper_id=shopper_id, distributor_id=distributor.id, channel="admin", bound_at=now()
        )
        db.session.add(binding)
    else:
        binding.distributor_id, binding.link_id = distributor.id, None
        binding.channel, binding.bound_at = "admin", now()
    db.session.flush()
    audit.record(
        "customer_binding",
        shopper_id,
        "binding.admin_rebound",
        actor_id=actor.id,
        reason=reason,
        data={"from": previous, "to": distributor.id},
    )
    return binding
