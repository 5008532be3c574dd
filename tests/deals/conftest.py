"""Fixtures of the catalog's tests: a small city of shops and deals."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import live_deal, live_merchant, make_deal, staff

# Points around Zhaotong's centre (27.3383 N, 103.7172 E).
CENTRE = (27.3383, 103.7172)
NEAR = {"lat": 27.3393, "lng": 103.7172}  # ~111 m north
MID = {"lat": 27.3563, "lng": 103.7172}  # ~2 km north
FAR = {"lat": 27.4283, "lng": 103.7172}  # ~10 km north


@pytest.fixture
def city(app, client, clock):
    bd = staff(app, client, Role.BD)
    hotpot = live_merchant(client, bd, name="老灶火锅", category="hotpot-bbq", location=MID)
    tea = live_merchant(client, bd, name="一点点奶茶", category="milk-tea-desserts", location=NEAR)
    park = live_merchant(client, bd, name="大山包景区", category="attractions", location=FAR)
    for merchant_id, grade in ((hotpot["id"], 5), (tea["id"], 3), (park["id"], 4)):
        client.post(
            f"/api/v1/merchants/{merchant_id}/grades",
            headers=bd.headers,
            json={"grade": grade, "note": "n"},
        )
    made = {
        "hotpot_set": live_deal(app, client, bd, hotpot["id"], "small_set", title="火锅四人餐"),
        "hotpot_flash": live_deal(app, client, bd, hotpot["id"], "flash", title="秒杀锅底"),
        "tea_set": live_deal(
            app, client, bd, tea["id"], "small_set", title="奶茶三人套餐", party_size=3
        ),
        "park_large": live_deal(app, client, bd, park["id"], "large_set", title="景区六人票"),
        "draft": make_deal(client, bd, tea["id"], "small_set", title="还没上线"),
    }
    return bd, {k: v["id"] for k, v in made.items()}, {"hotpot": hotpot, "tea": tea, "park": park}
