"""The three deal types and their economics (all money in fen)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.deals.models import Deal
from tests.factories import deal_body, live_merchant, staff


@pytest.fixture
def setup(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    return bd, shop["id"]


def create(client, bd, merchant_id, kind, **overrides):
    return client.post(
        "/api/v1/deals", json=deal_body(merchant_id, kind, **overrides), headers=bd.headers
    )


def deals_in_db(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Deal))


@pytest.mark.parametrize("kind", ["flash", "small_set", "large_set"])
def test_a_valid_deal_of_each_type_is_created_as_a_draft(app, client, setup, kind):
    bd, merchant_id = setup

    response = create(client, bd, merchant_id, kind)

    assert response.status_code == 201, response.get_json()
    deal = response.get_json()
    assert deal["status"] == "draft" and deal["type"] == kind
    assert deal["stock_left"] == deal["stock"] and deal["sold_count"] == 0
    assert deal["margin"] == deal["sale_price"] - deal["settlement_price"]


def test_flash_defaults_to_one_per_shopper(client, setup):
    bd, merchant_id = setup

    deal = create(client, bd, merchant_id, "flash").get_json()

    assert deal["per_shopper_limit"] == 1
    assert deal["margin"] == 0


@pytest.mark.parametrize(
    ("kind", "overrides", "code", "field"),
    [
        ("flash", {"settlement_price": 800}, "flash_margin_not_zero", "settlement_price"),
        ("flash", {"stock": 201}, "flash_stock_too_large", "stock"),
        ("flash", {"sale_starts_at": None}, "flash_window_required", "sale_starts_at"),
        ("flash", {"sale_ends_at": None}, "flash_window_required", "sale_starts_at"),
        ("flash", {"commission_l1": 100}, "flash_commission_unfunded", "commission_l1"),
        (
            "flash",
            {"commission_l1": 100, "commission_l2": 50, "subsidy": 120},
            "flash_commission_unfunded",
            "commission_l1",
        ),
        ("small_set", {"party_size": 2}, "party_size_invalid", "party_size"),
        ("small_set", {"party_size": 5}, "party_size_invalid", "party_size"),
        ("small_set", {"party_size": None}, "party_size_invalid", "party_size"),
        ("small_set", {"settlement_price": 15900}, "settlement_above_sale", "settlement_price"),
        ("large_set", {"party_size": 5}, "party_size_invalid", "party_size"),
        (
            "large_set",
            {"commission_l1": 6000, "commission_l2": 1801},
            "commission_exceeds_margin",
            "commission_l1",
        ),
        ("small_set", {"list_price": 15000}, "list_price_below_sale", "list_price"),
        ("small_set", {"validity_days": None}, "validity_required", "validity_days"),
        ("small_set", {"valid_until": "2026-12-31"}, "validity_required", "validity_days"),
        (
            "small_set",
            {"validity_days": None, "valid_from": "2026-12-31", "valid_until": "2026-12-01"},
            "validity_invalid",
            "valid_until",
        ),
        (
            "small_set",
            {
                "sale_starts_at": "2026-11-25T10:00:00+08:00",
                "sale_ends_at": "2026-11-24T10:00:00+08:00",
            },
            "sale_window_invalid",
            "sale_ends_at",
        ),
    ],
)
def test_type_rules_are_422_with_a_stable_code(app, client, setup, kind, overrides, code, field):
    bd, merchant_id = setup

    response = create(client, bd, merchant_id, kind, **overrides)

    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert deals_in_db(app) == 0


def test_flash_commission_funded_by_a_subsidy_is_allowed(client, setup):
    bd, merchant_id = setup

    response = create(
        client, bd, merchant_id, "flash", commission_l1=100, commission_l2=50, subsidy=150
    )

    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    ("l1", "l2", "subsidy", "ok"),
    [
        (2000, 1000, 0, True),  # exactly the margin (15800 - 12800 = 3000)
        (2000, 1001, 0, False),
        (2500, 1000, 500, True),  # margin + subsidy
        (2500, 1001, 500, False),
    ],
)
def test_commission_may_not_exceed_margin_plus_subsidy(client, setup, l1, l2, subsidy, ok):
    bd, merchant_id = setup

    response = create(
        client, bd, merchant_id, "small_set", commission_l1=l1, commission_l2=l2, subsidy=subsidy
    )

    assert response.status_code == (201 if ok else 422), response.get_json()
    if not ok:
        assert response.get_json()["error"]["code"] == "commission_exceeds_margin"


@pytest.mark.parametrize(("settlement", "ok"), [(14810, True), (14811, False)])
def test_street_promotion_needs_a_990_fen_margin(client, setup, settlement, ok):
    bd, merchant_id = setup

    response = create(
        client,
        bd,
        merchant_id,
        "small_set",
        settlement_price=settlement,
        street_promotion=True,
        commission_l1=0,
        commission_l2=0,
    )

    assert response.status_code == (201 if ok else 422), response.get_json()
    if not ok:
        assert response.get_json()["error"]["code"] == "street_margin_too_low"


def test_several_broken_rules_are_reported_together(client, setup):
    bd, merchant_id = setup

    response = create(client, bd, merchant_id, "large_set", party_size=4, list_price=100)

    error = response.get_json()["error"]
    assert response.status_code == 422 and error["code"] == "deal_rules_violated"
    assert {"party_size", "list_price"} <= set(error["fields"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sale_price": 158.0}, "sale_price"),
        ({"sale_price": "15800"}, "sale_price"),
        ({"sale_price": -1}, "sale_price"),
        ({"type": "mystery_box"}, "type"),
        ({"title": "好" * 61}, "title"),
        ({"images": ["javascript:alert(1)"]}, "images"),
        ({"stock": 0}, "stock"),
        ({"unavailable_weekdays": [0]}, "unavailable_weekdays"),
        ({"usage_hours": {"open": "9am", "close": "22:00"}}, "usage_hours"),
        ({"sale_ends_at": "next tuesday"}, "sale_ends_at"),
    ],
)
def test_malformed_fields_are_422(app, client, setup, overrides, field):
    bd, merchant_id = setup

    response = create(client, bd, merchant_id, "small_set", **overrides)

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert deals_in_db(app) == 0


def test_a_lead_merchant_cannot_have_deals_and_only_editors_and_bd_create(app, client, clock):
    from tests.factories import make_merchant

    bd = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)
    editor = staff(app, client, Role.EDITOR)
    lead = make_merchant(client, bd)
    shop = live_merchant(client, bd)

    assert create(client, bd, lead["id"], "small_set").get_json()["error"]["code"] == (
        "merchant_not_ready"
    )
    assert create(client, cs, shop["id"], "small_set").status_code == 403
    assert create(client, editor, shop["id"], "small_set").status_code == 201


# -- the subsidy rule, as plain functions ---------------------------------------------------
# commission (L1 + L2 + the largest tier bonus) + max(0, settlement − sale)
#     ≤ max(0, sale − settlement) + subsidy

SMALL_SET = {"type": "small_set", "party_size": 4, "list_price": 26800, "sale_price": 15800,
             "settlement_price": 12800, "subsidy": 0, "commission_l1": 800,
             "commission_l2": 200, "validity_days": 30}  # fmt: skip
FLASH = {"type": "flash", "list_price": 5800, "sale_price": 990, "settlement_price": 990,
         "stock": 50, "validity_days": 30, "sale_starts_at": "2026-11-23T02:00:00Z",
         "sale_ends_at": "2026-11-26T14:00:00Z"}  # fmt: skip


def broken(values: dict, *, max_tier_bonus: int = 0, min_charge: int = 400) -> set[str]:
    from marketplace.deals import rules
    from marketplace.deals.errors import DealRuleViolated

    try:
        rules.check(
            values, flash_stock_cap=200, max_tier_bonus=max_tier_bonus, min_charge=min_charge
        )
    except DealRuleViolated as exc:
        return {exc.code}
    return set()


@pytest.mark.parametrize(
    ("sale", "settlement", "subsidy", "l1", "l2", "expected"),
    [
        (10000, 12000, 2000, 0, 0, set()),  # the subsidy covers the gap exactly
        (10000, 12000, 1999, 0, 0, {"settlement_above_sale"}),
        (10000, 12000, 2500, 400, 100, set()),  # gap 2000 + commission 500 = 2500
        (10000, 12000, 2500, 400, 101, {"commission_exceeds_margin"}),
        (15800, 12800, 0, 2000, 1000, set()),  # a margin alone still funds commission
        (15800, 12800, 500, 2500, 1001, {"commission_exceeds_margin"}),
    ],
)
def test_a_sale_below_settlement_is_allowed_when_the_subsidy_covers_it(
    sale, settlement, subsidy, l1, l2, expected
):
    values = {**SMALL_SET, "sale_price": sale, "settlement_price": settlement,
              "list_price": max(sale, 26800), "subsidy": subsidy, "commission_l1": l1,
              "commission_l2": l2}  # fmt: skip

    assert broken(values) == expected


@pytest.mark.parametrize(
    ("values", "max_tier_bonus", "expected"),
    [
        (SMALL_SET, 2000, set()),  # margin 3000 = 800 + 200 + 2000
        (SMALL_SET, 2001, {"commission_exceeds_margin"}),
        ({**SMALL_SET, "commission_l1": 0, "commission_l2": 0}, 5000, set()),  # no L1: no bonus
        ({**FLASH, "commission_l1": 100, "commission_l2": 50, "subsidy": 150}, 0, set()),
        (
            {**FLASH, "commission_l1": 100, "commission_l2": 50, "subsidy": 150},
            1,
            {"flash_commission_unfunded"},
        ),
        (FLASH, 600, set()),  # a flash deal paying no commission needs no subsidy
    ],
)
def test_the_largest_tier_bonus_counts_as_commission(values, max_tier_bonus, expected):
    assert broken(values, max_tier_bonus=max_tier_bonus) == expected


def test_the_budget_and_the_subsidy_spent_per_unit():
    from marketplace.deals import rules

    assert rules.commission_budget(15800, 12800, 500) == 3500
    assert rules.commission_budget(10000, 12000, 3000) == 1000
    assert rules.subsidy_spent(10000, 12000, 1000) == 3000  # the gap and all the commission
    assert rules.subsidy_spent(15800, 12800, 3500) == 500  # commission over the margin
    assert rules.subsidy_spent(15800, 12800, 1000) == 0


def test_a_tier_bonus_too_large_for_a_deal_is_refused_when_the_deal_is_made(app, client, setup):
    bd, merchant_id = setup
    admin = staff(app, client, Role.ADMIN)
    tier = client.put(
        "/api/v1/distributor-tiers",
        headers=admin.headers,
        json={"slug": "gold", "name": "金牌", "level1_bonus": 2001},
    )

    refused = create(client, bd, merchant_id, "small_set")  # margin 3000, L1+L2 1000
    subsidised = create(client, bd, merchant_id, "small_set", subsidy=1)
    below = create(
        client, bd, merchant_id, "small_set", sale_price=10000, subsidy=5801, list_price=26800
    )  # gap 2800 + L1 800 + L2 200 + bonus 2001

    assert tier.status_code == 200, tier.get_json()
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "commission_exceeds_margin"
    assert "2001" in refused.get_json()["error"]["message"]
    assert subsidised.status_code == 201 and below.status_code == 201, below.get_json()


# -- the payment provider's minimum charge (LINLI_MIN_CHARGE) --------------------------------


@pytest.mark.parametrize(
    ("values", "min_charge", "expected"),
    [
        ({**FLASH, "sale_price": 400, "settlement_price": 400}, 400, set()),
        (
            {**FLASH, "sale_price": 399, "settlement_price": 399},
            400,
            {"sale_price_below_minimum_charge"},
        ),
        (
            {**SMALL_SET, "sale_price": 300, "settlement_price": 300, "commission_l1": 0,
             "commission_l2": 0},
            400,
            {"sale_price_below_minimum_charge"},
        ),
        (FLASH, 1000, {"sale_price_below_minimum_charge"}),  # 990 under a ¥10 minimum
    ],
)  # fmt: skip
def test_the_sale_price_is_at_least_the_minimum_charge(values, min_charge, expected):
    assert broken(values, min_charge=min_charge) == expected


def test_a_flash_deal_below_the_minimum_charge_is_a_clear_422(app, client, setup):
    bd, merchant_id = setup

    response = create(client, bd, merchant_id, "flash", sale_price=100, settlement_price=100)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "sale_price_below_minimum_charge"
    assert "¥4.00" in error["message"] and "sale_price" in error["fields"]
    assert deals_in_db(app) == 0


def test_an_edit_below_the_minimum_charge_is_refused_and_the_minimum_is_a_setting(
    app, client, setup, monkeypatch
):
    bd, merchant_id = setup
    deal = create(client, bd, merchant_id, "flash").get_json()  # ¥9.90

    lowered = client.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"version": deal["version"], "sale_price": 399, "settlement_price": 399},
        headers=bd.headers,
    )
    monkeypatch.setitem(app.config, "LINLI_MIN_CHARGE", 1000)
    under_ten = create(client, bd, merchant_id, "flash")

    assert lowered.status_code == 422
    assert lowered.get_json()["error"]["code"] == "sale_price_below_minimum_charge"
    assert under_ten.status_code == 422
    assert "¥10.00" in under_ten.get_json()["error"]["message"]


def test_an_unknown_expiry_policy_is_refused_by_the_api_and_by_the_database(app, client, setup):
    bd, merchant_id = setup
    refused = create(client, bd, merchant_id, "small_set", expiry_policy="never")
    assert refused.status_code == 422
    assert "expiry_policy" in refused.get_json()["error"]["fields"]

    made = create(client, bd, merchant_id, "small_set", expiry_policy="auto_refund")
    assert made.status_code == 201
    with app.app_context():
        deals = Deal.__table__
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.update(deals)
                .where(deals.c.id == made.get_json()["id"])
                .values(expiry_policy="never")
            )
            db.session.flush()
        db.session.rollback()
        assert db.session.get(Deal, made.get_json()["id"]).expiry_policy == "auto_refund"
