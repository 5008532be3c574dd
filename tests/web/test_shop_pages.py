"""The shoppers' pages say what the API says: the same catalog functions, the same data."""

from __future__ import annotations

from marketplace.accounts.models import Role
from tests.factories import live_deal, live_merchant, make_deal, staff


def test_the_deal_page_shows_what_the_api_serves(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd, name="老灶火锅", category="hotpot-bbq")
    deal = live_deal(app, client, bd, shop["id"], "small_set", title="火锅四人餐")
    draft = make_deal(client, bd, shop["id"], "small_set", title="还没上线")

    api = client.get(f"/api/v1/deals/{deal['id']}").get_json()
    page = client.get(f"/deals/{deal['id']}")
    hidden = client.get(f"/deals/{draft['id']}")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for shown in (
        api["title"],
        "¥158.00",  # 15800 fen
        "¥268.00",
        f"剩余 {api['stock_left']} 份",
        api["merchant"]["name"],
        "4 人套餐",
        "购买后 30 天内有效",
        f"tel:{api['cs_phone']}",
    ):
        assert shown in html, shown
    assert 'aria-describedby="buy-reason"' not in html  # on sale: no reason
    assert hidden.status_code == 404 and "这个团购不存在或已经下架。" in hidden.get_data(
        as_text=True
    )


def test_a_paused_deal_says_so_on_its_button(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"])
    client.post(
        f"/api/v1/deals/{deal['id']}/pause", json={"reason": "店内装修"}, headers=bd.headers
    )

    html = client.get(f"/deals/{deal['id']}").get_data(as_text=True)

    assert "disabled" in html and "这个团购暂停销售了，晚些再来看看。" in html


def test_home_and_lists_count_what_the_api_counts(app, client, clock):
    bd = staff(app, client, Role.BD)
    hotpot = live_merchant(client, bd, category="hotpot-bbq")
    tea = live_merchant(client, bd, category="milk-tea-desserts")
    live_deal(app, client, bd, hotpot["id"], title="火锅四人餐")
    live_deal(app, client, bd, hotpot["id"], "large_set", title="火锅六人宴")
    live_deal(app, client, bd, tea["id"], title="奶茶三人套餐", party_size=3)

    api = client.get("/api/v1/home").get_json()
    home = client.get("/").get_data(as_text=True)
    hotpot_list = client.get("/deals?category=hotpot-bbq").get_data(as_text=True)
    search = client.get("/deals?q=奶茶").get_data(as_text=True)

    counts = {c["name_zh"]: c["live_deals"] for c in api["categories"]}
    assert counts["火锅烧烤"] == 2 and counts["奶茶甜品"] == 1
    for name, count in counts.items():
        assert f'{name}</span>\n        <span class="category-count">{count} 个团购' in home
    assert "共 2 个" in hotpot_list and "火锅六人宴" in hotpot_list
    assert "奶茶三人套餐" not in hotpot_list
    assert "共 1 个" in search and "奶茶三人套餐" in search


def test_the_next_page_of_a_list_comes_alone_for_htmx(app, client, clock):
    bd = staff(app, client, Role.BD)
    shop = live_merchant(client, bd)
    for n in range(12):
        live_deal(app, client, bd, shop["id"], title=f"套餐{n:02d}")

    first = client.get("/deals").get_data(as_text=True)
    second = client.get("/deals?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert first.count('class="deal-card"') == 10 and 'hx-get="/deals?page=2' in first
    assert second.count('class="deal-card"') == 2 and "<html" not in second
    assert "没有更多了" in second
