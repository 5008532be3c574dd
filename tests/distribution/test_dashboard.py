"""What a distributor sees of their own work: customers (phones masked) with what they
bought, today's sharing, the Moments run, and one link per deal when sharing from a page."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import Conflict, NotFound
from marketplace.distribution import binding, links, streaks
from marketplace.distribution.models import Distributor, MomentsProof
from tests.distribution.conftest import link, new_distributor, purchase
from tests.distribution.test_binding_and_commission import login_with_ref
from tests.factories import quick_shopper, staff


def _distributor(app, distributor_id: int) -> Distributor:
    return db.session.get(Distributor, distributor_id)


def test_my_customers_are_masked_and_show_what_they_bought(app, client, shop, clock):
    seller, _ = new_distributor(app, client)
    other, _ = new_distributor(app, client)
    buyer, looker, stranger = quick_shopper(app), quick_shopper(app), quick_shopper(app)
    code = link(client, seller, shop["deal"]["id"])
    purchase(app, client, buyer, shop["deal"]["id"], quantity=2, ref=code)
    clock.advance(minutes=5)
    login_with_ref(app, client, looker, code)
    login_with_ref(app, client, stranger, link(client, other))

    page = client.get("/api/v1/distributors/me/customers", headers=seller.headers).get_json()
    not_one = client.get("/api/v1/distributors/me/customers", headers=buyer.headers)

    assert page["total"] == 2
    newest, first = page["items"]
    assert (newest["shopper_id"], newest["orders"], newest["amount"]) == (looker.id, 0, 0)
    assert (first["shopper_id"], first["orders"], first["channel"]) == (buyer.id, 1, "order")
    assert first["amount"] == 2 * shop["deal"]["sale_price"]
    assert first["phone"] == f"{buyer.phone[:3]}****{buyer.phone[-4:]}"
    assert buyer.phone not in str(page)
    assert not_one.status_code == 404
    assert not_one.get_json()["error"]["code"] == "not_a_distributor"


def test_masked_phone():
    assert binding.masked_phone("13812345678") == "138****5678"
    assert binding.masked_phone(None) == "" and binding.masked_phone("12345") == "****"


def test_the_dashboard_counts_todays_sharing_and_the_moments_run(app, client, shop, clock):
    cs = staff(app, client, Role.CS)
    account, row = new_distributor(app, client)
    verified = client.patch(
        f"/api/v1/distributors/{row['id']}", json={"wechat_friends": 1200}, headers=cs.headers
    )
    assert verified.status_code == 200, verified.get_json()
    code = link(client, account, shop["deal"]["id"])
    link(client, account)
    client.get(f"/s/{code}")
    client.get(f"/s/{code}")
    clock.advance(days=1)  # 2026-11-24: yesterday's links and clicks are not today's
    link(client, account, shop["deal"]["id"])
    client.get(f"/s/{code}")
    with app.app_context():
        for day, status in (
            (20, "verified"),
            (21, "rejected"),
            (22, "verified"),
            (23, "submitted"),
        ):
            db.session.add(
                MomentsProof(
                    distributor_id=row["id"],
                    day=date(2026, 11, day),
                    file_key=f"moments/{day}.png",
                    status=status,
                )
            )
        db.session.commit()

    before = client.get("/api/v1/distributors/me", headers=account.headers).get_json()
    with app.app_context():
        db.session.add(
            MomentsProof(distributor_id=row["id"], day=date(2026, 11, 24), file_key="m/24.png")
        )
        db.session.commit()
    after = client.get("/api/v1/distributors/me", headers=account.headers).get_json()

    assert before["shares_today"] == {"links": 1, "visits": 1}
    # 22 and 23 in a row (21 was rejected), ending yesterday while today's is to come
    assert before["moments"] == {"days": 2, "today": None, "eligible": True}
    assert after["moments"] == {"days": 3, "today": "submitted", "eligible": True}


def test_a_run_that_missed_yesterday_is_over(app, client, clock):
    _, row = new_distributor(app, client)
    with app.app_context():
        db.session.add(
            MomentsProof(distributor_id=row["id"], day=date(2026, 11, 21), file_key="m/21.png")
        )
        db.session.commit()
        run = streaks.current_streak(_distributor(app, row["id"]), date(2026, 11, 23))

    assert run == {"days": 0, "today": None, "eligible": False}


def test_sharing_a_deal_twice_gives_the_same_link(app, client, shop):
    cs = staff(app, client, Role.CS)
    _, row = new_distributor(app, client)
    deal_id = shop["deal"]["id"]

    with app.app_context():
        distributor = _distributor(app, row["id"])
        first = links.share_deal(distributor, deal_id).code
        again = links.share_deal(distributor, deal_id).code
        with pytest.raises(NotFound) as missing:
            links.share_deal(distributor, 999_999)
        made = db.session.scalar(
            sa.select(sa.func.count()).select_from(links.links_of(distributor).subquery())
        )
        db.session.commit()
    client.post(
        f"/api/v1/distributors/{row['id']}/suspend", json={"reason": "刷单"}, headers=cs.headers
    )
    with app.app_context(), pytest.raises(Conflict) as suspended:
        links.share_deal(_distributor(app, row["id"]), deal_id)

    assert first == again and made == 1
    assert missing.value.code == "deal_not_found"
    assert suspended.value.code == "distributor_not_active"
