"""The WeChat Moments streak bonus: a distributor with 1000+ verified friends posts a proof
each day; customer service verifies it; for each run of ≥10 verified days in a row (≥30
pays more) the month's bonus is the rate times the orders converted through the
distributor's links during the run.

Distribution sits below orders, so the caller says how many orders converted
(``ConvertedOrders``); ``orders.attribution`` supplies it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.clock import day_start, local_today, month_days, now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.core.files import image_extension
from marketplace.distribution.models import (
    CommissionEntry,
    CommissionKind,
    CommissionState,
    Distributor,
    DistributorStatus,
    MomentsProof,
    ProofStatus,
)
from marketplace.ledger import service as ledger
from marketplace.providers.storage import file_storage, save_upload

STREAK_MIN_FRIENDS = 1000
STREAK_RATES = ((30, 300), (10, 200))  # (days in a row, fen per converted order)

# (distributor id, since, until) -> orders paid through the distributor's links in [since, until)
ConvertedOrders = Callable[[int, datetime, datetime], int]


def streak_eligible(distributor: Distributor) -> bool:
    """Customer service verified that the distributor has enough WeChat friends."""
    return (
        distributor.friends_verified_at is not None
        and (distributor.wechat_friends or 0) >= STREAK_MIN_FRIENDS
    )


def submit_proof(distributor: Distributor, day: date, screenshot: bytes) -> MomentsProof:
    """Store the day's screenshot and queue it for customer service to verify."""
    if distributor.status != DistributorStatus.ACTIVE.value:
        raise Conflict(
            "Only an active distributor can submit proofs.", code="distributor_not_active"
        )
    if not streak_eligible(distributor):
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
    save_upload(key, screenshot)
    return proof


def proofs(filters: dict[str, Any], *, distributor: Distributor | None = None) -> sa.Select:
    """Proofs filtered by status: one distributor's, newest day first, or (for the review
    queue) everyone's, oldest first. The caller paginates."""
    query = sa.select(MomentsProof)
    if "status" in filters:
        query = query.where(MomentsProof.status == filters["status"])
    if distributor is None:
        return query.order_by(MomentsProof.id)
    query = query.where(MomentsProof.distributor_id == distributor.id)
    return query.order_by(MomentsProof.day.desc())


def proof_screenshot(proof_id: int) -> tuple[MomentsProof, bytes]:
    """A proof and its screenshot, for customer service to look at before verifying it
    (the caller checks the reader is customer service)."""
    proof = db.session.get(MomentsProof, proof_id)
    if proof is None:
        raise NotFound("No such proof.", code="proof_not_found")
    return proof, file_storage().read(proof.file_key)


def current_streak(distributor: Distributor, today: date) -> dict[str, Any]:
    """The run of posting days the distributor is on: days in a row with a proof that was
    not rejected, ending today (or yesterday, while today's proof is still to come), and
    today's proof's status (None before it is sent). Proofs waiting for review count: the
    run shows effort; the bonus (``compute_streak_bonus``) counts verified days only."""
    rows = dict(
        db.session.execute(
            sa.select(MomentsProof.day, MomentsProof.status).where(
                MomentsProof.distributor_id == distributor.id,
                MomentsProof.day <= today,
                MomentsProof.day > today - timedelta(days=400),
            )
        ).all()
    )
    counted = {day for day, status in rows.items() if status != ProofStatus.REJECTED.value}
    day = today if today in counted else today - timedelta(days=1)
    days = 0
    while day in counted:
        days += 1
        day -= timedelta(days=1)
    return {
        "days": days,
        "today": rows.get(today),
        "eligible": streak_eligible(distributor),
    }


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


def compute_streak_bonus(
    distributor: Distributor, month: str, converted_orders: ConvertedOrders
) -> CommissionEntry | None:
    """The month's streak bonus: for each run of ≥10 verified days in a row (≥30 pays more),
    the rate times the orders converted through the distributor's links during the run.
    Recomputing an unsettled month replaces it; a settled month is left alone."""
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
        converted = converted_orders(distributor.id, since, until)
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


def compute_streak_bonuses(month: str, converted_orders: ConvertedOrders) -> int:
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
        if compute_streak_bonus(distributor, month, converted_orders) is not None:
            standing += 1
    return standing


def _post_bonus(entry: CommissionEntry) -> None:
    """Post what changed of a (re)computed bonus since its last posting."""
    ledger.commission_bonus(entry.id, entry.distributor_id, entry.amount)
