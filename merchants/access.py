"""Who may see and change what of a merchant. One place for the rules, so the API and the
pages ask the same questions: ``can_…(user, merchant)`` answers yes or no and never
raises; the services and views decide what a "no" looks like (a 404 where another shop's
existence is not to be revealed, a 403 otherwise)."""

from __future__ import annotations

from marketplace.accounts.models import Role, User
from merchants.models import Merchant, MerchantStaff, StaffRole

# What an owner may change in the portal; everything else is BD's.
OWNER_EDITABLE = frozenset({"description", "phone", "business_hours", "hours_note"})
BD_EDITABLE = frozenset(
    {"name", "category", "description", "address", "location", "phone", "business_hours",
     "hours_note", "is_headliner", "owner_id"}
)  # fmt: skip


def membership(user: User) -> MerchantStaff | None:
    """The user's place in a shop (merchant staff only)."""
    return user.merchant_membership if user.has_role(Role.MERCHANT_STAFF) else None


def is_bd(user: User) -> bool:
    """Business development (and admin) work on every merchant."""
    return user.has_role(Role.BD)


def works_at(user: User, merchant_id: int) -> bool:
    """The user is on the staff of that shop (owner or clerk)."""
    member = membership(user)
    return member is not None and member.merchant_id == merchant_id


def is_owner_of(user: User, merchant_id: int) -> bool:
    member = membership(user)
    return (
        member is not None and member.merchant_id == merchant_id and member.role == StaffRole.OWNER
    )


def can_see_merchant(user: User, merchant: Merchant) -> bool:
    """BD and admin see every merchant, merchant staff only their own shop."""
    return is_bd(user) or works_at(user, merchant.id)


def editable_fields(user: User, merchant: Merchant) -> frozenset[str]:
    """The profile fields the user may change: BD all of them, the shop's owner its own
    contact details and hours, anyone else none."""
    if is_bd(user):
        return BD_EDITABLE
    if is_owner_of(user, merchant.id):
        return OWNER_EDITABLE
    return frozenset()


def can_edit_merchant(user: User, merchant: Merchant) -> bool:
    return bool(editable_fields(user, merchant))


def can_read_contracts(user: User, merchant: Merchant) -> bool:
    """Signed documents: BD staff and the shop's owner."""
    return is_bd(user) or is_owner_of(user, merchant.id)


def can_see_staff(user: User, merchant: Merchant) -> bool:
    """The shop's portal accounts: BD staff and the shop's owner."""
    return is_bd(user) or is_owner_of(user, merchant.id)


def can_work_pipeline(user: User) -> bool:
    """Creating leads, moving stages, grading, contracts, visits, portal accounts: BD."""
    return is_bd(user)
