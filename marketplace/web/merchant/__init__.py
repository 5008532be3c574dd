"""The merchant portal at ``/merchant``: owners and clerks of one shop (role
``merchant_staff``), mobile first for the clerk at the counter, comfortable on a desktop
for the owner. Login and the forced change of an initial password come from
``web.console``; each page calls the merchants', vouchers', settlement and tickets domains
for the caller's own shop only (``merchants.service.my_merchant``): another shop's
voucher is refused by name at the counter (``wrong_merchant``), another shop's statement
or ticket is the 404 page.

- ``counter``: redeeming a voucher (type or scan, confirm, the result);
- ``today``: the landing page (today's figures and redemptions), this month, the unused
  vouchers;
- ``money``: statements and their CSV;
- ``shop``: the profile (the owner edits), the staff, tickets to customer service.
"""

from __future__ import annotations

from flask import Blueprint

from marketplace.accounts.models import Role
from marketplace.web.console import add_password_login

ROLES = (Role.MERCHANT_STAFF,)
bp = Blueprint("merchant", __name__, url_prefix="/merchant")
add_password_login(bp, roles=ROLES, home="merchant.home")

from marketplace.web.merchant import counter, money, shop, today  # noqa: E402, F401
