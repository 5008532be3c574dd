"""A double tap on a flash deal with a limit of 1: two (or three) posts of one checkout
with the same Idempotency-Key at the same moment. The flash gate admits one of them; the
twins must get that one's order (the same answer as a repeat after it committed), never
``purchase_limit_reached``. Real concurrent clients, on both databases."""

from __future__ import annotations

import threading
from collections import Counter

import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.orders.models import Order
from tests.factories import buy, live_deal, live_merchant, quick_shoppers, staff
from tests.orders.test_flash_sale import holdings


def taps(app, deal_id: int, shopper, key: str, copies: int) -> list:
    """``copies`` posts with the same key, each from its own thread, released together."""
    barrier = threading.Barrier(copies)
    answers: list = [None] * copies

    def tap(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        answers[i] = buy(client, shopper, deal_id, key=key)

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_twin_posts_with_one_key_get_the_one_order(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "flash", stock=50)
    shoppers = quick_shoppers(app, 12)
    outcomes: Counter = Counter()

    for n, shopper in enumerate(shoppers):
        answers = taps(app, deal["id"], shopper, f"checkout-form-{n}", 2 + n % 2)
        orders = {a.get_json()["order"]["id"] for a in answers if a.status_code in (200, 201)}
        statuses = sorted(a.status_code for a in answers)
        outcomes[tuple(statuses)] += 1
        codes = [a.get_json().get("error", {}).get("code") for a in answers]
        assert len(orders) == 1 and statuses[-1] == 201 and statuses.count(201) == 1, codes
        assert all(s in (200, 201) for s in statuses), codes

    units, per_shopper, left = holdings(app, deal["id"])
    assert units == len(shoppers) and set(per_shopper.values()) == {1}
    assert left == 50 - len(shoppers)
    with app.app_context():
        made = db.session.scalar(sa.select(sa.func.count()).where(Order.deal_id == deal["id"]))
    assert made == len(shoppers)
    # and a later tap with the same key is a repeat too, a new key is over the limit
    again = buy(client, shoppers[0], deal["id"], key="checkout-form-0")
    new = buy(client, shoppers[0], deal["id"], key="another-form")
    assert again.status_code == 200
    assert new.get_json()["error"]["code"] == "purchase_limit_reached"
