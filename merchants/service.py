"""The rules of merchant onboarding: categories, profiles, the pipeline and its contract
gate, grading, revisits and portal accounts.

Functions take plain values and the acting user, flush rather than commit, write the
merchant's audit trail, and raise domain errors; views only parse, call and serialise.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from marketplace.accounts import service as accounts
from marketplace.accounts.models import Role, User, UserRole
from marketplace.core import audit
from marketplace.core.cache import catalog_changed
from marketplace.core.clock import local_today, now
from marketplace.core.db import db, escape_like
from marketplace.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from marketplace.providers.storage import file_storage, save_upload
from merchants import access
from merchants.access import membership
from merchants.errors import (
    CategoryRetired,
    ContractsMissing,
    FileNotAllowed,
    FileTooLarge,
    IllegalStageTransition,
    StaleVersion,
)
from merchants.models import (
    Category,
    ContractKind,
    Merchant,
    MerchantContract,
    MerchantGrade,
    MerchantStaff,
    MerchantVisit,
    StaffRole,
    Stage,
)

# lead → negotiating → contracted → live ⇄ suspended; churned from any stage.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.LEAD: frozenset({Stage.NEGOTIATING, Stage.CHURNED}),
    Stage.NEGOTIATING: frozenset({Stage.CONTRACTED, Stage.CHURNED}),
    Stage.CONTRACTED: frozenset({Stage.LIVE, Stage.CHURNED}),
    Stage.LIVE: frozenset({Stage.SUSPENDED, Stage.CHURNED}),
    Stage.SUSPENDED: frozenset({Stage.LIVE, Stage.CHURNED}),
    Stage.CHURNED: frozenset(),
}
STAGES_NEEDING_CONTRACTS = frozenset({Stage.CONTRACTED, Stage.LIVE})
CONTRACT_MAX_BYTES = 10 * 1024 * 1024
# Checked by content, not by the name or the header the client sent.
CONTRACT_FILE_TYPES = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
)


# -- who sees what (the rules are in ``merchants.access``) ----------------------------------


# The merchant's BD owner, joined in where merchants are shown (the profile and the lists
# show it); deals, orders and vouchers that join a merchant leave it unloaded.
WITH_OWNER = joinedload(Merchant.owner)


def get_merchant(merchant_id: int, viewer: User) -> Merchant:
    """A merchant the viewer may see (``access.can_see_merchant``). Another merchant's id is
    a 404, as if it did not exist."""
    merchant = db.session.get(Merchant, merchant_id, options=[WITH_OWNER])
    if merchant is None or not access.can_see_merchant(viewer, merchant):
        raise NotFound("No such merchant.", code="merchant_not_found")
    return merchant


def _require_bd(user: User) -> None:
    if not access.can_work_pipeline(user):
        raise PermissionDenied("Only business-development staff can do this.")


# -- categories ----------------------------------------------------------------------------


def list_categories(*, include_retired: bool = False) -> list[Category]:
    query = sa.select(Category).order_by(Category.sort_order, Category.id)
    if not include_retired:
        query = query.where(Category.retired_at.is_(None))
    return list(db.session.scalars(query))


def get_category(slug: str) -> Category:
    category = db.session.scalars(sa.select(Category).where(Category.slug == slug)).first()
    if category is None:
        raise NotFound(f"No category {slug!r}.", code="category_not_found")
    return category


def _category_for_new_merchant(slug: str) -> Category:
    category = db.session.scalars(sa.select(Category).where(Category.slug == slug)).first()
    if category is None:
        raise InvalidInput(code="unknown_category", fields={"category": [f"No category {slug!r}."]})
    if category.is_retired:
        raise CategoryRetired(fields={"category": [f"{slug!r} is retired."]})
    return category


def create_category(data: dict[str, Any], actor: User) -> Category:
    if db.session.scalars(sa.select(Category.id).where(Category.slug == data["slug"])).first():
        raise Conflict(f"The slug {data['slug']!r} is taken.", code="category_exists")
    category = Category(**data)
    db.session.add(category)
    db.session.flush()
    audit.record("category", category.id, "category.created", actor_id=actor.id, data=data)
    return category


def update_category(category: Category, changes: dict[str, Any], actor: User) -> Category:
    retire = changes.pop("retired", None)
    for field, value in changes.items():
        setattr(category, field, value)
    if retire is True and category.retired_at is None:
        category.retired_at = now()
    elif retire is False:
        category.retired_at = None
    audit.record(
        "category",
        category.id,
        "category.updated",
        actor_id=actor.id,
        data={**changes, **({"retired": retire} if retire is not None else {})},
    )
    catalog_changed()
    return category


# -- merchant profiles ---------------------------------------------------------------------


def _bd_owner(owner_id: int) -> User:
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.is_active or not owner.has_role(Role.BD):
        raise InvalidInput(fields={"owner_id": ["The owner must be an active BD user."]})
    return owner


def _apply_profile(merchant: Merchant, data: dict[str, Any]) -> None:
    for field, value in data.items():
        if field == "category":
            merchant.category = _category_for_new_merchant(value)
        elif field == "location":
            merchant.latitude = value["lat"] if value else None
            merchant.longitude = value["lng"] if value else None
        elif field == "owner_id":
            merchant.owner = _bd_owner(value) if value is not None else None
        else:
            setattr(merchant, field, value)


def create_merchant(data: dict[str, Any], actor: User) -> Merchant:
    """A new lead. Its BD owner is the creator unless another BD user is named."""
    _require_bd(actor)
    data = dict(data)
    owner_id = data.pop("owner_id", None)
    merchant = Merchant(stage=Stage.LEAD.value, stage_changed_at=now())
    _apply_profile(merchant, data)
    merchant.owner = _bd_owner(owner_id) if owner_id is not None else actor
    db.session.add(merchant)
    db.session.flush()
    audit.record(
        "merchant",
        merchant.id,
        "merchant.created",
        actor_id=actor.id,
        data={"name": merchant.name, "category": merchant.category.slug},
    )
    return merchant


def update_merchant(
    merchant: Merchant, changes: dict[str, Any], expected_version: int, actor: User
) -> Merchant:
    """Edit the profile. BD may edit everything; a merchant's owner only the shop's own
    contact details and hours; a clerk nothing. ``expected_version`` must match, so one
    editor never silently overwrites another."""
    if not access.can_edit_merchant(actor, merchant):
        raise PermissionDenied("Only the shop's owner or BD staff can edit the shop.")
    allowed = access.editable_fields(actor, merchant)
    forbidden = sorted(set(changes) - allowed)
    if forbidden:
        raise PermissionDenied(
            "You may not change: " + ", ".join(forbidden) + ".",
            fields={f: ["Not editable by you."] for f in forbidden},
        )
    if expected_version != merchant.version:
        raise StaleVersion(fields={"version": [f"Current version is {merchant.version}."]})
    before = {f: _audit_value(merchant, f) for f in changes}
    _apply_profile(merchant, changes)
    after = {f: _audit_value(merchant, f) for f in changes}
    changed = {f: {"from": before[f], "to": after[f]} for f in changes if before[f] != after[f]}
    if changed:
        audit.record("merchant", merchant.id, "merchant.updated", actor_id=actor.id, data=changed)
        catalog_changed()
    return merchant


def _audit_value(merchant: Merchant, field: str) -> Any:
    if field == "category":
        return merchant.category.slug if merchant.category else None
    if field == "owner_id":
        return merchant.owner.id if merchant.owner else None
    return getattr(merchant, field)


def bd_owners() -> list[User]:
    """The active BD users a merchant may be owned by (the pipeline's owner filter and the
    profile's owner choice; admin counts as BD but owns no shops unless named)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.BD.value, User.is_active.is_(True))
            .order_by(User.username)
        ).unique()
    )


def deal_ready_merchants() -> list[Merchant]:
    """Merchants that may have deals (``deals.service.create_deal``: negotiating and on,
    not churned), by name: the choice of shop in the deal editor."""
    return list(
        db.session.scalars(
            sa.select(Merchant)
            .where(Merchant.stage.not_in([Stage.LEAD.value, Stage.CHURNED.value]))
            .order_by(Merchant.name, Merchant.id)
        )
    )


def list_merchants(viewer: User, filters: dict[str, Any]) -> sa.Select:
    """The merchants the viewer may see, filtered; the caller paginates."""
    if not access.can_list_merchants(viewer):
        raise PermissionDenied()
    query = sa.select(Merchant).where(access.visible_merchants(viewer)).options(WITH_OWNER)
    if "category" in filters:
        query = query.join(Category).where(Category.slug == filters["category"])
    if "grade" in filters:
        query = query.where(Merchant.current_grade == filters["grade"])
    if "min_grade" in filters:
        query = query.where(Merchant.current_grade >= filters["min_grade"])
    if "stage" in filters:
        query = query.where(Merchant.stage == filters["stage"])
    if "owner" in filters:
        owner = viewer.id if filters["owner"] == "me" else int(filters["owner"])
        query = query.where(Merchant.owner_id == owner)
    if "headliner" in filters:
        query = query.where(Merchant.is_headliner.is_(filters["headliner"]))
    if filters.get("q"):
        pattern = "%" + escape_like(filters["q"].lower()) + "%"
        query = query.where(
            sa.or_(
                sa.func.lower(Merchant.name).like(pattern, escape="\\"),
                sa.func.lower(Merchant.address).like(pattern, escape="\\"),
            )
        )
    order = {
        "newest": (Merchant.created_at.desc(), Merchant.id.desc()),
        "name": (Merchant.name, Merchant.id),
        "grade": (Merchant.current_grade.desc().nulls_last(), Merchant.id),
    }[filters.get("sort", "newest")]
    return query.order_by(*order)


# -- pipeline ------------------------------------------------------------------------------


def missing_contracts(merchant: Merchant) -> list[ContractKind]:
    signed = set(
        db.session.scalars(
            sa.select(MerchantContract.kind).where(MerchantContract.merchant_id == merchant.id)
        )
    )
    return [kind for kind in ContractKind if kind.value not in signed]


def change_stage(
    merchant: Merchant,
    to: Stage,
    actor: User,
    *,
    reason: str = "",
    expected_version: int | None = None,
) -> Merchant:
    _require_bd(actor)
    if expected_version is not None and expected_version != merchant.version:
        raise StaleVersion()
    current = Stage(merchant.stage)
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise IllegalStageTransition(
            f"A {current.value} merchant cannot become {to.value} (allowed: {allowed})."
        )
    if to in STAGES_NEEDING_CONTRACTS:
        missing = missing_contracts(merchant)
        if missing:
            raise ContractsMissing(
                "Record the signed "
                + ", ".join(k.value for k in missing)
                + f" before moving to {to.value}.",
                fields={"missing_contracts": [k.value for k in missing]},
            )
    merchant.stage = to.value
    merchant.stage_changed_at = now()
    audit.record(
        "merchant",
        merchant.id,
        "merchant.stage_changed",
        actor_id=actor.id,
        reason=reason or None,
        data={"from": current.value, "to": to.value},
    )
    catalog_changed()  # a suspended merchant's deals leave the catalog
    return merchant


# -- grading -------------------------------------------------------------------------------


def grade_merchant(
    merchant: Merchant, grade: int, note: str, actor: User, *, reference: str = ""
) -> MerchantGrade:
    _require_bd(actor)
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        raise InvalidInput(fields={"grade": ["A whole number of stars from 1 to 5."]})
    if not note.strip():
        raise InvalidInput(fields={"note": ["Say why this grade."]})
    record = MerchantGrade(
        merchant_id=merchant.id,
        grade=grade,
        previous_grade=merchant.current_grade,
        note=note.strip(),
        reference=reference.strip(),
        graded_by=actor,
        graded_at=now(),
    )
    db.session.add(record)
    merchant.current_grade = grade
    db.session.flush()
    audit.record(
        "merchant",
        merchant.id,
        "merchant.graded",
        actor_id=actor.id,
        reason=record.note,
        data={"from": record.previous_grade, "to": grade, "reference": record.reference},
    )
    catalog_changed()
    return record


def grade_history(merchant: Merchant) -> list[MerchantGrade]:
    return list(
        db.session.scalars(
            sa.select(MerchantGrade)
            .where(MerchantGrade.merchant_id == merchant.id)
            .order_by(MerchantGrade.id.desc())
        )
    )


# -- signed documents ----------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def _sniff(data: bytes) -> tuple[str, str]:
    for magic, content_type, extension in CONTRACT_FILE_TYPES:
        if data.startswith(magic):
            return content_type, extension
    raise FileNotAllowed(fields={"file": ["Upload a PDF, JPEG or PNG file."]})


def record_contract(
    merchant: Merchant,
    kind: ContractKind,
    signatory: str,
    signed_on: date,
    upload: Upload,
    actor: User,
) -> MerchantContract:
    """Record a signed document with its scan. The file is stored before the row is
    written and removed again if the transaction does not commit."""
    _require_bd(actor)
    if len(upload.data) > CONTRACT_MAX_BYTES:
        raise FileTooLarge(
            f"The file is {len(upload.data) // 1024} KiB; the limit is "
            f"{CONTRACT_MAX_BYTES // (1024 * 1024)} MiB.",
            fields={"file": ["Too large."]},
        )
    if not upload.data:
        raise InvalidInput(fields={"file": ["The file is empty."]})
    content_type, extension = _sniff(upload.data)
    if signed_on > local_today():
        raise InvalidInput(fields={"signed_on": ["A signing date cannot be in the future."]})
    if not signatory.strip():
        raise InvalidInput(fields={"signatory": ["Who signed for the merchant?"]})
    key = f"contracts/{merchant.id}/{uuid.uuid4().hex}.{extension}"
    save_upload(key, upload.data)
    contract = MerchantContract(
        merchant_id=merchant.id,
        kind=kind.value,
        signatory=signatory.strip(),
        signed_on=signed_on,
        recorded_by=actor,
        recorded_at=now(),
        file_key=key,
        file_name=(upload.filename or f"{kind.value}.{extension}")[-200:],
        content_type=content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
    )
    db.session.add(contract)
    db.session.flush()
    audit.record(
        "merchant",
        merchant.id,
        "merchant.contract_recorded",
        actor_id=actor.id,
        data={
            "contract_id": contract.id,
            "kind": kind.value,
            "signatory": contract.signatory,
            "signed_on": signed_on.isoformat(),
        },
    )
    return contract


def list_contracts(merchant: Merchant) -> list[MerchantContract]:
    return list(
        db.session.scalars(
            sa.select(MerchantContract)
            .where(MerchantContract.merchant_id == merchant.id)
            .order_by(MerchantContract.id.desc())
        )
    )


def contract_file(
    merchant: Merchant, contract_id: int, viewer: User
) -> tuple[MerchantContract, bytes]:
    if not access.can_read_contracts(viewer, merchant):
        raise PermissionDenied("Only BD staff and the shop's owner can read contracts.")
    contract = db.session.get(MerchantContract, contract_id)
    if contract is None or contract.merchant_id != merchant.id:
        raise NotFound("No such contract.", code="contract_not_found")
    return contract, file_storage().read(contract.file_key)


# -- revisits ------------------------------------------------------------------------------


def record_visit(
    merchant: Merchant,
    visited_on: date,
    channel: str,
    notes: str,
    actor: User,
    *,
    follow_up_due: date | None = None,
) -> MerchantVisit:
    _require_bd(actor)
    if visited_on > local_today():
        raise InvalidInput(fields={"visited_on": ["A visit cannot be in the future."]})
    if follow_up_due is not None and follow_up_due < visited_on:
        raise InvalidInput(fields={"follow_up_due": ["A follow-up comes after the visit."]})
    visit = MerchantVisit(
        merchant_id=merchant.id,
        visited_on=visited_on,
        channel=channel,
        notes=notes.strip(),
        follow_up_due=follow_up_due,
        recorded_by=actor,
        recorded_at=now(),
    )
    db.session.add(visit)
    db.session.flush()
    # The merchant's pending follow-up is the one promised at its latest visit.
    latest = db.session.scalars(
        sa.select(MerchantVisit)
        .where(MerchantVisit.merchant_id == merchant.id)
        .order_by(MerchantVisit.visited_on.desc(), MerchantVisit.id.desc())
        .limit(1)
    ).one()
    merchant.follow_up_due = latest.follow_up_due
    audit.record(
        "merchant",
        merchant.id,
        "merchant.visit_recorded",
        actor_id=actor.id,
        data={
            "visit_id": visit.id,
            "channel": channel,
            "follow_up_due": follow_up_due.isoformat() if follow_up_due else None,
        },
    )
    return visit


def list_visits(merchant: Merchant) -> list[MerchantVisit]:
    return list(
        db.session.scalars(
            sa.select(MerchantVisit)
            .where(MerchantVisit.merchant_id == merchant.id)
            .order_by(MerchantVisit.visited_on.desc(), MerchantVisit.id.desc())
        )
    )


def overdue_follow_ups(viewer: User, *, owner: str | int | None = None) -> sa.Select:
    """Merchants whose promised follow-up date has passed (today in Asia/Shanghai is not
    overdue yet), most overdue first; churned merchants are left alone."""
    _require_bd(viewer)
    query = (
        sa.select(Merchant)
        .where(Merchant.follow_up_due < local_today(), Merchant.stage != Stage.CHURNED.value)
        .options(WITH_OWNER)
    )
    if owner is not None:
        query = query.where(Merchant.owner_id == (viewer.id if owner == "me" else int(owner)))
    return query.order_by(Merchant.follow_up_due, Merchant.id)


# -- portal accounts -----------------------------------------------------------------------


def create_portal_account(
    merchant: Merchant,
    username: str,
    role: StaffRole,
    actor: User,
    *,
    display_name: str = "",
    password: str | None = None,
) -> tuple[MerchantStaff, str]:
    """A merchant-staff login for ``merchant``; returns the link and the initial password,
    which the holder must change at first login."""
    _require_bd(actor)
    if merchant.stage == Stage.CHURNED.value:
        raise Conflict("A churned merchant gets no new portal accounts.", code="merchant_churned")
    initial = password or secrets.token_urlsafe(9)
    user = accounts.create_user_with_password(
        username,
        initial,
        [Role.MERCHANT_STAFF],
        display_name=display_name,
        actor_id=actor.id,
        must_change_password=True,
    )
    link = MerchantStaff(
        user=user, merchant_id=merchant.id, role=role.value, created_by_id=actor.id
    )
    db.session.add(link)
    db.session.flush()
    audit.record(
        "merchant",
        merchant.id,
        "merchant.staff_created",
        actor_id=actor.id,
        data={"user_id": user.id, "username": user.username, "role": role.value},
    )
    return link, initial


def list_staff(merchant: Merchant, viewer: User) -> list[MerchantStaff]:
    if not access.can_see_staff(viewer, merchant):
        raise PermissionDenied("Only BD staff and the shop's owner can see its accounts.")
    return list(
        db.session.scalars(
            sa.select(MerchantStaff)
            .where(MerchantStaff.merchant_id == merchant.id)
            .options(joinedload(MerchantStaff.user))
            .order_by(MerchantStaff.created_at)
        )
    )


def my_merchant(user: User) -> MerchantStaff:
    """The user's place in their shop (404 if the user is not a merchant's staff)."""
    member = membership(user)
    if member is None:
        raise NotFound("This account does not belong to a merchant.", code="no_merchant")
    return member


def audit_trail(merchant: Merchant) -> sa.Select:
    return (
        sa.select(audit.AuditEvent)
        .where(
            audit.AuditEvent.entity_type == "merchant",
            audit.AuditEvent.entity_id == str(merchant.id),
        )
        .order_by(audit.AuditEvent.id.desc())
    )
