"""A deal's sale state for checkout: the Python verdict agrees with ``on_sale`` in SQL, and
the Redis copy follows every change at once."""

from __future__ import annotations

import itertools
from datetime import timedelta

import sqlalchemy as sa

from marketplace.core.clock import now
from marketplace.core.db import db
from marketplace.deals import sale_state
from marketplace.deals.availability import Verdict, on_sale, verdict
from marketplace.deals.models import Deal, DealStatus
from merchants.models import Merchant, Stage
from tests.dbtouch import database_touches
from tests.factories import live_deal, live_merchant, staff


def test_the_verdict_is_on_sale_exactly_when_the_sql_says_so(app, client, clock):
    from marketplace.accounts.models import Role

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal_id = live_deal(app, client, bd, merchant["id"], "flash")["id"]
    with app.app_context():
        moment = now()
        hour = timedelta(hours=1)
        windows = [
            (None, None),
            (moment - hour, moment + hour),
            (moment + hour, None),
            (None, moment - hour),
            (moment, moment + hour),  # opens this very moment: on sale
            (moment - hour, moment),  # ends this very moment: over
        ]
        cases = itertools.product(
            [s.value for s in DealStatus], [Stage.LIVE.value, Stage.SUSPENDED.value], windows
        )
        checked = 0
        for status, stage, (starts, ends) in cases:
            db.session.execute(
                sa.update(Deal.__table__)
                .where(Deal.__table__.c.id == deal_id)
                .values(status=status, sale_starts_at=starts, sale_ends_at=ends)
            )
            db.session.execute(
                sa.update(Merchant.__table__)
                .where(Merchant.__table__.c.id == merchant["id"])
                .values(stage=stage)
            )
            in_sql = db.session.scalar(
                sa.select(Deal.id).join(Deal.merchant).where(Deal.id == deal_id, *on_sale(moment))
            )
            said = verdict(status, stage, starts, ends, moment)
            assert (in_sql is not None) == (said is Verdict.ON_SALE), (status, stage, starts, ends)
            checked += 1
        db.session.rollback()
    assert checked == 6 * 2 * 6


def test_the_sale_state_is_read_from_redis_until_the_deal_changes(app, client, clock):
    from marketplace.accounts.models import Role, User
    from marketplace.deals import service as deals

    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal_id = live_deal(app, client, bd, merchant["id"], "flash")["id"]

    with app.app_context():
        first = sale_state.current(deal_id)
    with app.app_context(), database_touches(app) as touches:
        cached = sale_state.current(deal_id)
    with app.app_context():
        deals.pause(deals.get_deal(deal_id), db.session.get(User, bd.id))
        db.session.commit()
        after_pause = sale_state.current(deal_id)
        missing = sale_state.current(deal_id + 1)  # no such deal: that is cached too
    created = live_deal(app, client, bd, merchant["id"], "flash")["id"]
    with app.app_context():
        found = sale_state.current(created)

    assert first == cached and cached.verdict(now_of(app)) is Verdict.ON_SALE
    assert touches == []
    assert after_pause.status == DealStatus.PAUSED.value
    assert missing.verdict(now_of(app)) is Verdict.NOT_FOUND
    assert created == deal_id + 1 and found.verdict(now_of(app)) is Verdict.ON_SALE


def now_of(app):
    with app.app_context():
        return now()
