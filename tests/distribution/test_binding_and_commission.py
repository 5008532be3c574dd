"""Binding (first come, permanent by default) and two-level commission."""

from __future__ import annotations

import sqlalchemy as sa

from marketplace.accounts.models import Role, User
from marketplace.core.db import db
from marketplace.distribution import commission
from marketplace.distribution.models import CommissionEntry, CustomerBinding
from marketplace.orders.models import Order
from marketplace.vouchers.models import Voucher
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import portal_account, quick_shopper, staff


def login_with_ref(app, client, shopper, ref):
    """An OTP login carrying a share-link code, as the mobile web sends it."""
    from tests.factories import last_code

    sms = app.extensions["linli.sms"]
    client.post("/api/v1/auth/otp", json={"phone": shopper.phone})
    response = client.post(
        "/api/v1/auth/token",
        json={"phone": shopper.phone, "code": last_code(sms, shopper.phone), "ref": ref},
    )
    assert response.status_code == 201, response.get_json()
    app.extensions["linli.limiter"].storage.reset()


def bound_to(app, shopper_id: int) -> int | None:
    with app.app_context():
        binding = db.session.get(CustomerBinding, shopper_id)
        return binding.distributor_id if binding else None


def entries(app, **where) -> list[tuple[str, int, int, str]]:
    with app.app_context():
        query = sa.select(CommissionEntry).order_by(CommissionEntry.id)
        for key, value in where.items():
            query = query.where(getattr(CommissionEntry, key) == value)
        return [(e.kind, e.distributor_id, e.amount, e.state) for e in db.session.scalars(query)]


def test_binding_is_first_come_and_permanent(app, client, shop):
    a, a_row = new_distributor(app, client)
    b, _ = new_distributor(app, client)
    shopper = quick_shopper(app)

    login_with_ref(app, client, shopper, link(client, a))
    login_with_ref(app, client, shopper, link(client, b))
    purchase(app, client, shopper, shop["deal"]["id"], ref=link(client, b))

    assert bound_to(app, shopper.id) == a_row["id"]
    with app.app_context():
        order = db.session.scalars(sa.select(Order)).one()
        assert order.distributor_l1_id == a_row["id"] and order.share_link_id is None


def test_self_binding_and_cycles_are_refused(app, client, shop):
    parent, parent_row = new_distributor(app, client)
    child, child_row = new_distributor(app, client, parent_row["invite_code"])

    purchase(app, client, parent, shop["deal"]["id"], ref=link(client, parent))  # self
    purchase(app, client, parent, shop["deal"]["id"], ref=link(client, child))  # cycle

    assert bound_to(app, parent.id) is None
    admin = staff(app, client, Role.ADMIN)
    refused = client.put(
        f"/api/v1/customers/{parent.id}/binding",
        headers=admin.headers,
        json={"distributor_id": child_row["id"], "reason": "test"},
    )
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "binding_refused"
    assert entries(app) == []


def test_two_levels_with_the_tier_bonus_capped_by_the_deal(app, client, shop):
    admin = staff(app, client, Role.ADMIN)
    cs = staff(app, client, Role.CS)
    client.put(
        "/api/v1/distributor-tiers",
        headers=admin.headers,
        json={"slug": "gold", "name": "金牌", "level1_bonus": 500},
    )
    client.put(
        "/api/v1/distributor-tiers",
        headers=admin.headers,
        json={"slug": "diamond", "name": "钻石", "level1_bonus": 5000},
    )
    _, parent_row = new_distributor(app, client)
    child, child_row = new_distributor(app, client, parent_row["invite_code"])
    client.patch(
        f"/api/v1/distributors/{child_row['id']}", json={"tier": "gold"}, headers=cs.headers
    )
    shopper = quick_shopper(app)

    purchase(app, client, shopper, shop["deal"]["id"], 2, ref=link(client, child))

    assert entries(app) == [
        ("level1", child_row["id"], 1300, "pending"),
        ("level1", child_row["id"], 1300, "pending"),
        ("level2", parent_row["id"], 200, "pending"),
        ("level2", parent_row["id"], 200, "pending"),
    ]
    client.patch(
        f"/api/v1/distributors/{child_row['id']}", json={"tier": "diamond"}, headers=cs.headers
    )
    purchase(app, client, shopper, shop["deal"]["id"], 1)
    # margin 3000 - L1 800 - L2 200 leaves 2000 for the bonus, not 5000
    assert entries(app, kind="level1")[-1] == ("level1", child_row["id"], 2800, "pending")


def test_redemption_earns_the_commission(app, client, shop):
    a, a_row = new_distributor(app, client)
    shopper = quick_shopper(app)
    purchase(app, client, shopper, shop["deal"]["id"], ref=link(client, a))
    clerk = portal_account(app, client, shop["bd"], shop["merchant"]["id"], "clerk")
    code = client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"][0]["code"]

    client.post(f"/api/v1/vouchers/{code}/redeem", headers=clerk.headers)

    assert entries(app) == [("level1", a_row["id"], 800, "earned")]
    dashboard = client.get("/api/v1/distributors/me", headers=a.headers).get_json()
    assert dashboard["bound_customers"] == 1 and dashboard["orders"] == 1
    assert dashboard["commission"]["earned"] == 800
    assert dashboard["top_deals"][0]["units"] == 1
    listed = client.get("/api/v1/distributors/me/commissions?state=earned", headers=a.headers)
    assert listed.get_json()["total"] == 1


def test_no_commission_for_unbound_shoppers_or_suspended_distributors(app, client, shop):
    cs = staff(app, client, Role.CS)
    a, a_row = new_distributor(app, client)
    bound = quick_shopper(app)
    purchase(app, client, quick_shopper(app), shop["deal"]["id"])  # nobody's customer
    login_with_ref(app, client, bound, link(client, a))

    client.post(f"/api/v1/distributors/{a_row['id']}/suspend", json={}, headers=cs.headers)
    purchase(app, client, bound, shop["deal"]["id"])

    assert entries(app) == []
    assert bound_to(app, bound.id) == a_row["id"]  # the binding stays


def test_refund_before_settlement_cancels_after_settlement_claws_back(app, client, shop):
    _, parent_row = new_distributor(app, client)
    child, child_row = new_distributor(app, client, parent_row["invite_code"])
    shopper = quick_shopper(app)
    purchase(app, client, shopper, shop["deal"]["id"], 2, ref=link(client, child))
    with app.app_context():
        first, second = db.session.scalars(sa.select(Voucher).order_by(Voucher.id)).all()
        # the monthly settlement paid out the second voucher's commission
        db.session.execute(
            sa.update(CommissionEntry.__table__)
            .where(CommissionEntry.voucher_id == second.id)
            .values(state="settled")
        )
        commission.on_voucher_refunded(first, actor_id=None)
        commission.on_voucher_refunded(second, actor_id=None)
        commission.on_voucher_refunded(second, actor_id=None)  # twice: still one clawback
        db.session.commit()
        first_id, second_id = first.id, second.id

    assert entries(app, voucher_id=first_id) == [
        ("level1", child_row["id"], 800, "cancelled"),
        ("level2", parent_row["id"], 200, "cancelled"),
    ]
    assert entries(app, voucher_id=second_id) == [
        ("level1", child_row["id"], 800, "settled"),
        ("level2", parent_row["id"], 200, "settled"),
        ("clawback", child_row["id"], -800, "earned"),
        ("clawback", parent_row["id"], -200, "earned"),
    ]


def test_time_limited_mode_rebinds_only_after_n_days(app, client, shop, clock):
    admin = staff(app, client, Role.ADMIN)
    a, a_row = new_distributor(app, client)
    b, b_row = new_distributor(app, client)
    early, late = quick_shopper(app), quick_shopper(app)
    login_with_ref(app, client, early, link(client, a))
    login_with_ref(app, client, late, link(client, a))
    client.patch(
        "/api/v1/distribution/settings",
        headers=admin.headers,
        json={"binding_mode": "time_limited", "rebind_after_days": 30},
    )
    assert bound_to(app, early.id) == a_row["id"]  # switching the mode rewrites nothing

    clock.advance(days=29)
    b_code = link(client, _fresh(app, b))
    login_with_ref(app, client, early, b_code)
    assert bound_to(app, early.id) == a_row["id"]
    clock.advance(days=2)
    login_with_ref(app, client, late, link(client, _fresh(app, b)))
    assert bound_to(app, late.id) == b_row["id"]


def test_permanent_mode_never_rebinds_even_after_years(app, client, shop, clock):
    a, a_row = new_distributor(app, client)
    b, _ = new_distributor(app, client)
    shopper = quick_shopper(app)
    login_with_ref(app, client, shopper, link(client, a))

    clock.advance(days=800)
    login_with_ref(app, client, shopper, link(client, _fresh(app, b)))

    assert bound_to(app, shopper.id) == a_row["id"]


def test_admin_rebind_is_audited(app, client, shop):
    from marketplace.core.audit import AuditEvent

    admin = staff(app, client, Role.ADMIN)
    a, a_row = new_distributor(app, client)
    _, b_row = new_distributor(app, client)
    shopper = quick_shopper(app)
    login_with_ref(app, client, shopper, link(client, a))

    no_reason = client.put(
        f"/api/v1/customers/{shopper.id}/binding",
        headers=admin.headers,
        json={"distributor_id": b_row["id"], "reason": ""},
    )
    moved = client.put(
        f"/api/v1/customers/{shopper.id}/binding",
        headers=admin.headers,
        json={"distributor_id": b_row["id"], "reason": "客户要求"},
    )

    assert no_reason.status_code == 422 and moved.status_code == 200
    assert bound_to(app, shopper.id) == b_row["id"]
    with app.app_context():
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "binding.admin_rebound")
        ).one()
        assert (event.reason, event.data["from"], event.data["to"]) == (
            "客户要求",
            a_row["id"],
            b_row["id"],
        )


def test_self_purchase_commission_is_a_setting(app, client, shop):
    admin = staff(app, client, Role.ADMIN)
    a, a_row = new_distributor(app, client)
    purchase(app, client, a, shop["deal"]["id"])
    assert entries(app) == []

    client.patch(
        "/api/v1/distribution/settings",
        headers=admin.headers,
        json={"self_purchase_commission": True},
    )
    purchase(app, client, a, shop["deal"]["id"])

    assert entries(app) == [("level1", a_row["id"], 800, "pending")]


def _fresh(app, account):
    """A new token after the clock moved far (shopper tokens last 30 days)."""
    from marketplace.accounts import service as accounts
    from tests.factories import Account

    with app.app_context():
        issued = accounts.issue_token(db.session.get(User, account.id))
        db.session.commit()
        return Account(account.id, None, account.phone, issued.token)
