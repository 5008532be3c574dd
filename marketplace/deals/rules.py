"""The economics of the three deal types, checked on every create and edit.

All amounts are integer fen per unit. The platform takes ``sale_price`` from the shopper,
pays exactly ``settlement_price`` to the merchant for each redeemed voucher and pays
commission to two levels of distributors (level 1 plus their tier's bonus). ``subsidy`` is
platform money per unit on top of its margin: it may fund commission (on a zero-margin flash
deal, all of it) and a sale price below the settlement price (launch deals of headliners).
The rule that ties them together:

    commission (L1 + L2 + the largest tier bonus) + max(0, settlement − sale)
        ≤ max(0, sale − settlement) + subsidy
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marketplace.core.clock import to_local
from marketplace.deals.errors import DealRuleViolated
from marketplace.deals.models import DealType

STREET_PROMOTION_MIN_MARGIN = 990  # ¥9.90 gross margin per unit for street teams (地推)
SMALL_SET_PARTY = range(3, 5)  # 3–4 people
LARGE_SET_PARTY = 6


@dataclass
class Violations:
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (code, field, message)

    def add(self, code: str, field_name: str, message: str) -> None:
        self.items.append((code, field_name, message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        fields: dict[str, list[str]] = {}
        for _, name, message in self.items:
            fields.setdefault(name, []).append(message)
        codes = {code for code, _, _ in self.items}
        code = codes.pop() if len(codes) == 1 else DealRuleViolated.code
        raise DealRuleViolated(
            "; ".join(message for _, _, message in self.items), code=code, fields=fields
        )


def shortfall(sale: int, settlement: int) -> int:
    """Per unit, what the platform adds when a deal sells below its settlement price."""
    return max(0, settlement - sale)


def commission_budget(sale: int, settlement: int, subsidy: int) -> int:
    """Per unit, what commission (with any tier bonus) may cost: the positive margin plus
    the subsidy, less the part of the subsidy a sale below settlement already spends."""
    return max(0, sale - settlement) + subsidy - shortfall(sale, settlement)


def committed_commission(l1: int, l2: int, max_tier_bonus: int) -> int:
    """Per unit, the most commission a deal may have to pay: both levels plus the largest
    tier bonus, which rides on level 1 (a deal that pays no level-1 commission promises no
    bonus; a bound distributor then gets only what the budget leaves, capped at purchase)."""
    return l1 + l2 + (max_tier_bonus if l1 > 0 else 0)


def subsidy_spent(unit_price: int, settlement_price: int, commission: int) -> int:
    """Platform money beyond the margin that one delivered unit cost: commission over the
    margin, and the whole gap of a sale below settlement."""
    return max(0, commission - (unit_price - settlement_price))


def check(
    deal: Mapping[str, Any], *, flash_stock_cap: int, max_tier_bonus: int = 0, min_charge: int = 1
) -> None:
    """Raise ``DealRuleViolated`` listing every rule ``deal`` (the merged field values)
    breaks. ``max_tier_bonus`` is the largest level-1 bonus of any distributor tier;
    ``min_charge`` the payment provider's smallest charge (LINLI_MIN_CHARGE)."""
    violations(
        deal, flash_stock_cap=flash_stock_cap, max_tier_bonus=max_tier_bonus, min_charge=min_charge
    ).raise_if_any()


def violations(
    deal: Mapping[str, Any], *, flash_stock_cap: int, max_tier_bonus: int = 0, min_charge: int = 1
) -> Violations:
    """Every rule ``deal`` breaks, each as (code, field, message), without raising: what
    ``check`` raises, for a form that shows each rule beside its field as it is typed."""
    v = Violations()
    kind = DealType(deal["type"])
    sale, settlement, listed = deal["sale_price"], deal["settlement_price"], deal["list_price"]
    subsidy = deal.get("subsidy") or 0
    l1, l2 = deal.get("commission_l1") or 0, deal.get("commission_l2") or 0
    commission = committed_commission(l1, l2, max_tier_bonus)
    budget = commission_budget(sale, settlement, subsidy)
    bonus_note = f" with the largest tier bonus ({max_tier_bonus})" if commission > l1 + l2 else ""
    margin = sale - settlement
    party = deal.get("party_size")

    if sale < min_charge:
        v.add(
            "sale_price_below_minimum_charge",
            "sale_price",
            f"The payment provider cannot charge less than ¥{min_charge / 100:.2f}: the sale "
            f"price is at least {min_charge}.",
        )
    if listed < sale:
        v.add(
            "list_price_below_sale", "list_price", "The list price cannot be below the sale price."
        )
    if kind is DealType.FLASH:
        if sale != settlement:
            v.add(
                "flash_margin_not_zero",
                "settlement_price",
                "A flash deal is settled at its sale price (zero platform margin).",
            )
        if deal.get("stock") is None or deal["stock"] <= 0:
            v.add("flash_stock_required", "stock", "A flash deal needs a stock.")
        elif deal["stock"] > flash_stock_cap:
            v.add(
                "flash_stock_too_large",
                "stock",
                f"A flash deal's stock is small: at most {flash_stock_cap}.",
            )
        if not deal.get("sale_starts_at") or not deal.get("sale_ends_at"):
            v.add(
                "flash_window_required",
                "sale_starts_at",
                "A flash deal needs a sale window (starts and ends).",
            )
        if commission > subsidy:  # zero margin: the subsidy is the whole budget
            v.add(
                "flash_commission_unfunded",
                "commission_l1",
                f"A flash deal pays commission only out of a platform subsidy that covers it: "
                f"commission L1+L2{bonus_note} is {commission}, the subsidy {subsidy}.",
            )
        if party is not None and party < 1:
            v.add("party_size_invalid", "party_size", "Party size is at least 1.")
    else:
        if shortfall(sale, settlement) > subsidy:
            v.add(
                "settlement_above_sale",
                "settlement_price",
                f"A set sold below its settlement price needs a platform subsidy covering the "
                f"difference ({shortfall(sale, settlement)} per unit); the subsidy is {subsidy}.",
            )
        if kind is DealType.SMALL_SET and party not in SMALL_SET_PARTY:
            v.add("party_size_invalid", "party_size", "A small set is for 3–4 people.")
        if kind is DealType.LARGE_SET and party != LARGE_SET_PARTY:
            v.add("party_size_invalid", "party_size", "A large set is for 6 people.")
        # Checked where the prices themselves are sound (the subsidy covers any gap below
        # settlement); a flash deal's commission was checked against its subsidy above.
        if shortfall(sale, settlement) <= subsidy and commission > budget:
            v.add(
                "commission_exceeds_margin",
                "commission_l1",
                f"Commission L1+L2{bonus_note} ({commission}) exceeds the platform margin plus "
                f"the subsidy left after any sale below settlement ({budget}).",
            )
    if deal.get("street_promotion") and margin < STREET_PROMOTION_MIN_MARGIN:
        v.add(
            "street_margin_too_low",
            "street_promotion",
            "Street promotion needs at least ¥9.90 gross margin per unit.",
        )
    starts, ends = deal.get("sale_starts_at"), deal.get("sale_ends_at")
    if starts and ends and ends <= starts:
        v.add("sale_window_invalid", "sale_ends_at", "The sale ends after it starts.")
    limit = deal.get("per_shopper_limit")
    if limit is not None and limit < 1:
        v.add("per_shopper_limit_invalid", "per_shopper_limit", "The limit is at least 1.")
    days, valid_from, valid_until = (
        deal.get("validity_days"),
        deal.get("valid_from"),
        deal.get("valid_until"),
    )
    if (days is None) == (valid_until is None):
        v.add(
            "validity_required",
            "validity_days",
            "Give the voucher validity as days after purchase or as fixed dates, not both.",
        )
    if valid_from and valid_until and valid_until < valid_from:
        v.add("validity_invalid", "valid_until", "Vouchers stop being valid after they start.")
    if valid_until and ends and valid_until < to_local(ends).date():
        v.add(
            "validity_invalid",
            "valid_until",
            "Vouchers must stay valid at least until the sale ends.",
        )
    return v
