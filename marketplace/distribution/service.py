"""The rules of distribution: who may join, links and bindings (first come, permanent by
default), commission on paid orders (two levels, tier bonus, capped by the deal), and the
Moments streak bonus."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import Role, User
from marketplace.core import audit
from marketplace.core.clock import (
    day_start,
    local_today,
    month_bounds,
    month_days,
    month_of,
    now,
    shift_month,
)
from marketplace.core.db import db, on_rollback
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.core.files import image_extension
from marketplace.deals import rules
from marketplace.distribution.models import (
    CommissionEntry,
    CommissionKind,
    CommissionState,
    CustomerBinding,
    Distributor,
    DistributorStatus,
    DistributorTier,
    LinkVisit,
    MomentsProof,
    PlatformSetting,
    ProofStatus,
    ShareLink,
)
from marketplace.ledger import service as ledger
from marketplace.providers.storage import file_storage

SETTINGS: dict[str, tuple[Any, Any]] = {
    # key: (default, validator)
    "join_policy": ("open", lambda v: v in ("open", "application", "invitation")),
    "binding_mode": ("permanent", lambda v: v in ("permanent", "time_limited")),
    "rebind_after_days": (30, lambda v: isinstance(v, int) and 1 <= v <= 365),
    "self_purchase_commission": (False, lambda v: isinstance(v, bool)),
}
STREAK_MIN_FRIENDS = 1000
STREAK_RATES = ((30, 300), (10, 200))  # (days in a row, fen per converted order)
_ALPHABET = string.ascii_letters + string.digits


def _code(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


# -- settings ------------------------------------------------------------------------------


def setting(key: str) -> Any:
    row = db.session.get(PlatformSetting, key)
    return SETTINGS[key][0] if row is None else row.value


def all_settings() -> dict[str, Any]:
    return {key: setting(key) for key in SETTINGS}


def update_settings(changes: dict[str, Any], actor: User) -> dict[str, Any]:
    """Admin changes run-time settings. Changing the binding mode never rewrites past
    bindings or the attribution already on orders: it only governs future links."""
    bad = {k: ["Not a valid value."] for k, v in changes.items() if not SETTINGS[k][1](v)}
    if bad:
        raise InvalidInput(fields=bad)
    for key, value in changes.items():
        row = db.session.get(PlatformSetting, key)
        before = setting(key)
        if row is None:
            db.session.add(PlatformSetting(key=key, value=value, updated_by_id=actor.id))
        else:
            row.value, row.updated_by_id, row.updated_at = value, actor.id, now()
        audit.record(
            "setting", key, "setting.changed", actor_id=actor.id, data={"from": before, "to": value}
        )
    db.session.flush()
    return all_settings()


# -- distributors --------------------------------------------------------------------------


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
        invite_code=_code(8),
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


# -- links and visits ----------------------------------------------------------------------


def create_link(distributor: Distributor, deal_id: int | None) -> ShareLink:
    if distributor.status != DistributorStatus.ACTIVE.value:
        raise Conflict(
            "Only an active distributor can create links.", code="distributor_not_active"
        )
    if deal_id is not None:
        from marketplace.deals.models import VISIBLE_STATUSES, Deal

        deal = db.session.get(Deal, deal_id)
        if deal is None or deal.status not in [s.value for s in VISIBLE_STATUSES]:
            raise InvalidInput(fields={"deal_id": ["No such deal on sale."]})
    link = ShareLink(code=_code(8), distributor_id=distributor.id, deal_id=deal_id)
    db.session.add(link)
    db.session.flush()
    return link


def link_by_code(code: str) -> ShareLink | None:
    if not code or len(code) > 16:
        return None
    return db.session.scalars(sa.select(ShareLink).where(ShareLink.code == code)).first()


def record_visit(code: str, *, ip: str | None, user_agent: str | None) -> ShareLink:
    link = link_by_code(code)
    if link is None:
        raise NotFound("That link does not exist.", code="link_not_found")
    db.session.add(LinkVisit(link_id=link.id, ip=ip, user_agent=(user_agent or "")[:200] or None))
    table = ShareLink.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == link.id).values(visits=table.c.visits + 1)
    )
    return link


# -- binding -------------------------------------------------------------------------------


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
    if distributor.user_id == shopper.id:
        return "A distributor cannot be their own customer."
    mine = distributor_of(shopper)
    if mine is not None and mine.id in _upline(distributor):
        return "That binding would make a cycle: this distributor is in the shopper's downline."
    return None


def binding_of(shopper_id: int) -> CustomerBinding | None:
    return db.session.get(CustomerBinding, shopper_id)


def attribute(
    shopper: User, ref: str | None, channel: str
) -> tuple[CustomerBinding | None, ShareLink | None]:
    """Bind ``shopper`` to the distributor of link ``ref`` if they are not bound yet (or,
    in time-limited mode, if their binding is older than the setting allows). Returns the
    shopper's binding and the link used. Unknown links, suspended distributors, self and
    cycles are ignored: attribution never fails a login or a purchase."""
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


# -- commission ----------------------------------------------------------------------------


def snapshot_attribution(order, shopper: User, ref: str | None) -> None:
    """Fill the order's distributor attribution at purchase (and bind the shopper if this
    is their first attributed visit). The snapshot never changes afterwards."""
    binding, link = attribute(shopper, ref, "order")
    level1: Distributor | None = None
    if setting("self_purchase_commission"):
        mine = distributor_of(shopper)
        if mine is not None and mine.status == DistributorStatus.ACTIVE.value:
            level1 = mine
    if level1 is None and binding is not None:
        level1 = db.session.get(Distributor, binding.distributor_id)
    if level1 is None or level1.status != DistributorStatus.ACTIVE.value:
        return
    order.distributor_l1_id = level1.id
    recruiter = level1.recruiter
    if recruiter is not None and recruiter.status == DistributorStatus.ACTIVE.value:
        order.distributor_l2_id = recruiter.id
    if link is not None and link.distributor_id == level1.id:
        order.share_link_id = link.id
    # The tier bonus, capped so the deal's commission budget holds (margin + subsidy, less
    # what the subsidy already spends on a sale below settlement).
    budget = rules.commission_budget(order.unit_price, order.settlement_price, order.subsidy)
    l2 = order.commission_l2 if order.distributor_l2_id else 0
    bonus = level1.tier.level1_bonus if level1.tier else 0
    order.tier_bonus = max(0, min(bonus, budget - order.commission_l1 - l2))


def on_order_paid(order, vouchers) -> None:
    """Pending commission per voucher and level for an attributed order. A distributor
    suspended since the purchase earns nothing new."""
    levels = []
    if order.distributor_l1_id:
        levels.append(
            (
                CommissionKind.LEVEL1,
                order.distributor_l1_id,
                order.commission_l1 + (order.tier_bonus or 0),
            )
        )
    if order.distributor_l2_id:
        levels.append((CommissionKind.LEVEL2, order.distributor_l2_id, order.commission_l2))
    for kind, distributor_id, amount in levels:
        distributor = db.session.get(Distributor, distributor_id)
        if amount <= 0 or distributor.status != DistributorStatus.ACTIVE.value:
            continue
        for voucher in vouchers:
            db.session.add(
                CommissionEntry(
                    distributor_id=distributor_id,
                    kind=kind.value,
                    state=CommissionState.PENDING.value,
                    amount=amount,
                    order_id=order.id,
                    voucher_id=voucher.id,
                )
            )
    db.session.flush()


def on_voucher_redeemed(voucher) -> None:
    """The voucher was used: its pending commission is earned (and owed, in the ledger)."""
    table = CommissionEntry.__table__
    db.session.execute(
        sa.update(table)
        .where(
            table.c.voucher_id == voucher.id,
            table.c.state == CommissionState.PENDING.value,
            table.c.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
        .values(state=CommissionState.EARNED.value, earned_at=now())
    )
    for entry in db.session.scalars(
        sa.select(CommissionEntry).where(
            CommissionEntry.voucher_id == voucher.id,
            CommissionEntry.state == CommissionState.EARNED.value,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
    ):
        ledger.commission(
            entry.id, entry.distributor_id, entry.amount, "earned", order_id=entry.order_id
        )


def on_voucher_refunded(voucher, *, actor_id: int | None) -> None:
    """A refund cancels the voucher's commission; what was already settled is clawed back
    (a negative entry) against the distributor's next statement."""
    entries = db.session.scalars(
        sa.select(CommissionEntry)
        .where(
            CommissionEntry.voucher_id == voucher.id,
            CommissionEntry.kind.in_([CommissionKind.LEVEL1.value, CommissionKind.LEVEL2.value]),
        )
        .with_for_update()
    ).all()
    moment = now()
    for entry in entries:
        if entry.state in (CommissionState.PENDING.value, CommissionState.EARNED.value):
            if entry.state == CommissionState.EARNED.value:  # it was owed: reverse it
                ledger.commission(
                    entry.id,
                    entry.distributor_id,
                    -entry.amount,
                    "reversed",
                    order_id=entry.order_id,
                )
            entry.state, entry.cancelled_at = CommissionState.CANCELLED.value, moment
            audit.record(
                "commission",
                entry.id,
                "commission.cancelled",
                actor_id=actor_id,
                data={"voucher_id": voucher.id},
            )
        elif entry.state == CommissionState.SETTLED.value:
            exists = db.session.scalars(
                sa.select(CommissionEntry.id).where(
                    CommissionEntry.voucher_id == voucher.id,
                    CommissionEntry.kind == CommissionKind.CLAWBACK.value,
                    CommissionEntry.distributor_id == entry.distributor_id,
                )
            ).first()
            if exists:
                continue
            clawback = CommissionEntry(
                distributor_id=entry.distributor_id,
                kind=CommissionKind.CLAWBACK.value,
                state=CommissionState.EARNED.value,
                amount=-entry.amount,
                order_id=entry.order_id,
                voucher_id=voucher.id,
                earned_at=moment,
                note=f"refund after settlement of entry {entry.id}",
            )
            db.session.add(clawback)
            db.session.flush()
            ledger.commission(
                clawback.id,
                clawback.distributor_id,
                clawback.amount,
                "clawback",
                order_id=clawback.order_id,
            )
            audit.record(
                "commission",
                clawback.id,
                "commission.clawback",
                actor_id=actor_id,
                data={"of": entry.id, "amount": clawback.amount},
            )


# -- the distributor's view ----------------------------------------------------------------


def dashboard(distributor: Distributor) -> dict[str, Any]:
    from marketplace.deals.models import Deal
    from marketplace.orders.models import HOLDING_STATUSES, Order

    customers = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(CustomerBinding)
        .where(CustomerBinding.distributor_id == distributor.id)
    )
    orders = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Order)
        .where(
            Order.distributor_l1_id == distributor.id,
            Order.status.in_([s.value for s in HOLDING_STATUSES if s.value != "pending_payment"]),
        )
    )
    by_state = dict(
        db.session.execute(
            sa.select(CommissionEntry.state, sa.func.sum(CommissionEntry.amount))
            .where(CommissionEntry.distributor_id == distributor.id)
            .group_by(CommissionEntry.state)
        ).all()
    )
    # Asia/Shanghai months (a bonus counts in the month it is for), the last twelve, summed
    # in SQL: each entry's month is its bonus month or the local month it was made in.
    months = [shift_month(month_of(now()), -offset) for offset in range(12)]
    made_in = sa.case(
        *[
            (sa.and_(CommissionEntry.created_at >= start, CommissionEntry.created_at < end), m)
            for m, (start, end) in ((m, month_bounds(m)) for m in months)
        ],
        else_=None,
    )
    month = sa.func.coalesce(CommissionEntry.month, made_in)
    since, _ = month_bounds(months[-1])
    by_month = [
        {"month": m, "amount": int(a)}
        for m, a in db.session.execute(
            sa.select(month, sa.func.sum(CommissionEntry.amount))
            .where(
                CommissionEntry.distributor_id == distributor.id,
                CommissionEntry.state != CommissionState.CANCELLED.value,
                CommissionEntry.created_at >= since,
                month.in_(months),
            )
            .group_by(month)
            .order_by(month.desc())
        ).all()
    ]
    top = [
        {"deal_id": d, "title": t, "units": int(u)}
        for d, t, u in db.session.execute(
            sa.select(Order.deal_id, Deal.title, sa.func.sum(Order.quantity))
            .join(Deal, Deal.id == Order.deal_id)
            .where(
                Order.distributor_l1_id == distributor.id,
                Order.status.in_(["paid", "completed", "partially_refunded"]),
            )
            .group_by(Order.deal_id, Deal.title)
            .order_by(sa.func.sum(Order.quantity).desc())
            .limit(5)
        ).all()
    ]
    return {
        "distributor": distributor,
        "bound_customers": customers,
        "orders": orders,
        "commission": {s.value: int(by_state.get(s.value) or 0) for s in CommissionState},
        "commission_by_month": by_month,
        "top_deals": top,
    }


def commission_entries(distributor: Distributor, filters: dict[str, Any]) -> sa.Select:
    query = sa.select(CommissionEntry).where(CommissionEntry.distributor_id == distributor.id)
    for key in ("state", "kind"):
        if key in filters:
            query = query.where(getattr(CommissionEntry, key) == filters[key])
    return query.order_by(CommissionEntry.id.desc())


# -- Moments streaks -----------------------------------------------------------------------


def submit_proof(distributor: Distributor, day: date, screenshot: bytes) -> MomentsProof:
    """Store the day's screenshot and queue it for customer service to verify."""
    if distributor.status != DistributorStatus.ACTIVE.value:
        raise Conflict(
            "Only an active distributor can submit proofs.", code="distributor_not_active"
        )
    if (
        not distributor.friends_verified_at
        or (distributor.wechat_friends or 0) < STREAK_MIN_FRIENDS
    ):
        raise Conflict(
            f"Streak bonuses need {STREAK_MIN_FRIENDS}+ WeChat friends verified by "
            "customer service.",
            code="friends_not_verified",
        )
    today = local_today()
    if day > today or day < today - timedelta(days=2):
        raise InvalidInput(fields={"day": ["Submit the proof for today (or the two days before)."]})
    key = f"moments/{distributor.id}/{uuid.uuid4().hex}.{image_extension(screenshot)}"
    proof = MomentsProof(distributor_id=distributor.id, day=day, file_key=key)
    try:
        with db.session.begin_nested():
            db.session.add(proof)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict("There is already a proof for that day.", code="proof_exists") from exc
    storage = file_storage()
    storage.save(key, screenshot)
    on_rollback(lambda: storage.delete(key))
    return proof


def review_proof(proof_id: int, verified: bool, actor: User, *, note: str = "") -> MomentsProof:
    proof = db.session.get(MomentsProof, proof_id)
    if proof is None:
        raise NotFound("No such proof.", code="proof_not_found")
    proof.status = (ProofStatus.VERIFIED if verified else ProofStatus.REJECTED).value
    proof.reviewed_by_id, proof.reviewed_at, proof.note = actor.id, now(), note
    audit.record(
        "moments_proof", proof.id, f"proof.{proof.status}", actor_id=actor.id, reason=note or None
    )
    return proof


def streak_runs(days: list[date]) -> list[tuple[date, date]]:
    """Maximal runs of consecutive days, as (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def streak_rate(length: int) -> int:
    for minimum, rate in STREAK_RATES:
        if length >= minimum:
            return rate
    return 0


def compute_streak_bonus(distributor: Distributor, month: str) -> CommissionEntry | None:
    """The month's streak bonus: for each run of ≥10 verified days in a row (≥30 pays more),
    the rate times the orders converted through the distributor's links during the run.
    Recomputing an unsettled month replaces it; a settled month is left alone."""
    from marketplace.orders.models import Order

    try:
        first, last = month_days(month)
    except ValueError as exc:
        raise InvalidInput(fields={"month": ["Use YYYY-MM."]}) from exc
    verified = db.session.scalars(
        sa.select(MomentsProof.day).where(
            MomentsProof.distributor_id == distributor.id,
            MomentsProof.status == ProofStatus.VERIFIED.value,
            MomentsProof.day.between(first, last),
        )
    ).all()
    total, detail = 0, []
    for start, end in streak_runs(list(verified)):
        rate = streak_rate((end - start).days + 1)
        if not rate:
            continue
        since, until = day_start(start), day_start(end + timedelta(days=1))
        converted = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Order)
            .join(ShareLink, ShareLink.id == Order.share_link_id)
            .where(
                ShareLink.distributor_id == distributor.id,
                Order.status.in_(["paid", "completed", "partially_refunded"]),
                Order.paid_at >= since,
                Order.paid_at < until,
            )
        )
        total += rate * converted
        detail.append(f"{start}..{end}: {converted} × {rate}")
    entry = db.session.scalars(
        sa.select(CommissionEntry).where(
            CommissionEntry.distributor_id == distributor.id,
            CommissionEntry.kind == CommissionKind.STREAK_BONUS.value,
            CommissionEntry.month == month,
        )
    ).first()
    if entry is not None and entry.state == CommissionState.SETTLED.value:
        return entry
    if total <= 0:
        if entry is not None:
            entry.amount = 0
            _post_bonus(entry)
            db.session.delete(entry)
        return None
    if entry is None:
        entry = CommissionEntry(
            distributor_id=distributor.id,
            kind=CommissionKind.STREAK_BONUS.value,
            month=month,
            state=CommissionState.EARNED.value,
            amount=total,
            earned_at=now(),
        )
        db.session.add(entry)
    entry.amount, entry.note = total, "; ".join(detail)[:200]
    db.session.flush()
    _post_bonus(entry)
    audit.record(
        "commission",
        entry.id,
        "commission.streak_bonus",
        actor_id=None,
        data={"month": month, "amount": total},
    )
    return entry


def compute_streak_bonuses(month: str) -> int:
    """Every distributor's streak bonus for ``month`` (the monthly close runs this before
    the statements): those with verified proofs in the month, and those whose unsettled
    bonus a recomputation may cancel. Returns how many bonuses stand."""
    first, last = month_days(month)
    with_proofs = sa.select(MomentsProof.distributor_id).where(
        MomentsProof.status == ProofStatus.VERIFIED.value,
        MomentsProof.day.between(first, last),
    )
    with_bonus = sa.select(CommissionEntry.distributor_id).where(
        CommissionEntry.kind == CommissionKind.STREAK_BONUS.value,
        CommissionEntry.month == month,
    )
    ids = sorted(set(db.session.scalars(with_proofs.union(with_bonus))))
    standing = 0
    for distributor_id in ids:
        distributor = db.session.get(Distributor, distributor_id)
        if compute_streak_bonus(distributor, month) is not None:
            standing += 1
    return standing


def _post_bonus(entry: CommissionEntry) -> None:
    """Post what changed of a (re)computed bonus since its last posting."""
    from marketplace.ledger.models import LedgerEntry, LedgerTxn

    prefix = f"commission:bonus:{entry.id}:"
    posted = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount), 0))
        .join(LedgerTxn, LedgerTxn.id == LedgerEntry.txn_id)
        .where(
            LedgerTxn.event_key.like(prefix + "%"),
            LedgerEntry.account == ledger.distributor(entry.distributor_id),
        )
    )
    revisions = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LedgerTxn)
        .where(LedgerTxn.event_key.like(prefix + "%"))
    )
    delta = entry.amount + int(posted)  # posted is negative (owed to the distributor)
    if delta:
        ledger.commission(f"{entry.id}:{revisions}", entry.distributor_id, delta, "bonus")
