"""Who may see and change what of a merchant. One place for the rules, so the API and the
pages ask the same questions: ``can_…(user, merchant)`` answers yes or no and never
raises; the services and views decide what a "no" looks like (a 404 where another shop's
existence is not to be revealed, a 403 otherwise)."""

from __future__ import annotations

import sqlalchemy as sa

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


def can_list_merchants(user: User) -> bool:
    """BD and admin list every merchant, merchant staff their own shop; nobody else lists."""
    return is_bd(user) or membership(user) is not None


def visible_merchants(user: User) -> sa.ColumnElement[bool]:
    """``can_see_merchant`` as a condition on ``Merchant`` rows, for a query listing them:
    every merchant for BD and admin, the user's own shop for its staff, none otherwise."""
    if is_bd(user):
        return sa.true()
    member = membership(user)
    return Merchant.id == member.merchant_id if member is not None else sa.false()


def editable_fields(user: User, merchant: Merchant) -> frozenset[str]:
    """The profile fields the user may change: BD all of them, the shop's owner its own
    contact details and hours, anyone else none."""
    if is_bd(user):
        return BD_EDITABLE
    if is_owner_of(user, merchant.id):
        return OWNER_EDITABLE
    return frozenset()


def can_edit_merchant(user: User, merchant: Merchant) -> bool:
    """Whether the user may change anything of the profile (a page's edit button;
    ``editable_fields`` then says what)."""
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
