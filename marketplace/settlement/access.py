"""Who may read a statement: admin, or the party it belongs to (the merchant's staff, the
distributor). ``can_read_statement`` never raises, so a page can show or hide with it."""

from __future__ import annotations

from marketplace.accounts.models import Role, User
from marketplace.distribution.access import is_distributor
from marketplace.settlement.models import Statement
from merchants.access import works_at


def can_read_statement(user: User, statement: Statement) -> bool:
    if user.has_role(Role.ADMIN):
        return True
    if statement.party_type == "merchant":
        return works_at(user, statement.party_id)
    return is_distributor(user, statement.party_id)
