"""``unavailable_reason``: the buy button's words agree with ``on_sale``, checkout's rule."""

from __future__ import annotations

import itertools
from datetime import timedelta

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.deals.availability import on_sale, unavailable_reason
from marketplace.deals.models import Deal, DealStatus
from merchants.models import Merchant, Stage
from tests.factories import live_deal, live_merchant, staff


def test_the_reason_is_none_exactly_when_on_sale_holds(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal_id = live_deal(app, client, bd, shop["id"])["id"]
    moment = clock.now()
    windows = (None, moment - timedelta(hours=1), moment + timedelta(hours=1))

    with app.app_context():
        deal = db.session.get(Deal, deal_id)
        disagreements = []
        for status, stage, start, end in itertools.product(
            DealStatus, (Stage.LIVE, Stage.SUSPENDED), windows, windows
        ):
            deal.status, deal.sale_starts_at, deal.sale_ends_at = status.value, start, end
            deal.merchant.stage = stage.value
            db.session.flush()
            listed = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Deal)
                .join(Deal.merchant)
                .where(Deal.id == deal_id, *on_sale(now()))
            )
            reason = unavailable_reason(deal, now())
            if (reason is None) != bool(listed):
                disagreements.append((status, stage, start, end, reason))
        db.session.rollback()

    assert disagreements == []


def test_each_reason_names_what_the_shopper_sees(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal_id = live_deal(app, client, bd, shop["id"])["id"]
    moment = clock.now()

    def reason(**changes) -> str | None:
        deal = db.session.get(Deal, deal_id)
        for name, value in changes.items():
            setattr(deal, name, value)
        answer = unavailable_reason(deal, moment)
        db.session.rollback()
        return answer

    with app.app_context():
        assert reason() is None
        assert reason(status="sold_out", stock_left=0) == "sold_out"
        assert reason(status="paused") == "deal_paused"
        assert reason(status="ended") == "sale_ended"
        assert reason(sale_ends_at=moment) == "sale_ended"  # the window is [start, end)
        # sold out is what checkout says, whatever the window (availability.verdict)
        assert reason(status="sold_out", sale_ends_at=moment) == "sold_out"
        assert reason(sale_starts_at=moment + timedelta(minutes=1)) == "sale_not_started"
        assert reason(status="scheduled") == "deal_not_on_sale"
        db.session.get(Merchant, shop["id"]).stage = Stage.SUSPENDED.value
        assert unavailable_reason(db.session.get(Deal, deal_id), moment) == "deal_not_on_sale"
        db.session.rollback()
