"""Who may see what of distribution. ``can_…(user, obj)`` answers yes or no and never
raises, so a page can show or hide with it; the API turns a "no" into its 403 or 404."""

from __future__ import annotations

from marketplace.accounts.models import Role, User
from marketplace.distribution.distributors import distributor_of
from marketplace.distribution.models import Distributor, ShareLink


def is_distributor(user: User, distributor_id: int) -> bool:
    """The user is that distributor: the one spelling of "this is theirs" in distribution
    (their dashboard, their links, their statements, not their own customer)."""
    mine = distributor_of(user)
    return mine is not None and mine.id == distributor_id


def can_see_dashboard(user: User, distributor: Distributor) -> bool:
    """A distributor sees their own dashboard; customer service and admin see any."""
    return user.has_role(Role.CS) or is_distributor(user, distributor.id)


def owns_link(user: User, link: ShareLink | None) -> bool:
    """The link is one of the user's own (for its QR poster)."""
    return link is not None and is_distributor(user, link.distributor_id)
