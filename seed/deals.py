"""Deals for the seeded shops: all three types, most on sale, a few waiting in the coming
publishing slots, some sales for popularity, and today's popup promised to a headliner.

Every deal goes the way staff and the publishing job take it: created under the type rules
(``marketplace.deals.service``; flash deals too are priced at or above LINLI_MIN_CHARGE, the
provider's minimum charge), put in a free publishing slot, published when its slot comes.
The deals on sale took the slots of the last days: the seed plays that history back on the
platform's clock (each is created and slotted an hour before its slot and goes live at it),
so no rule is skipped and the past calendar is as full as the platform promises. A flash
deal's sale window opens with its slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.clock import frozen, local_today, now
from marketplace.core.db import db
from marketplace.deals import publishing, service
from marketplace.deals.models import Deal, PopupBooking
from marketplace.distribution.distributors import largest_tier_bonus
from merchants.models import Merchant

# shop, type, title, list, sale, settlement, stock, party, commission (l1, l2), extra
DEALS = [
    ("老昭通炭火烧烤", "flash", "9.9元抢烤串双人拼盘", 6800, 990, 990, 100, 2, (0, 0), {}),
    (
        "老昭通炭火烧烤",
        "small_set",
        "烧烤四人畅享套餐",
        29800,
        16800,
        13800,
        300,
        4,
        (1200, 300),
        {"street_promotion": True},
    ),
    (
        "乌蒙山羊肉火锅",
        "large_set",
        "羊肉火锅六人招牌宴",
        68800,
        45800,
        36800,
        120,
        6,
        (2000, 600),
        {},
    ),
    ("乌蒙山羊肉火锅", "small_set", "羊肉火锅三人餐", 25800, 15800, 12800, 200, 3, (800, 200), {}),
    ("一杯鲜茶 (万达店)", "flash", "4.9元尝鲜招牌奶茶", 1800, 490, 490, 200, 1, (0, 0), {}),
    ("甜心屋甜品", "small_set", "甜品三人下午茶", 12800, 6800, 5200, 150, 3, (500, 100), {}),
    ("小肠旺老店", "small_set", "小肠旺四人餐", 16800, 9900, 7900, 200, 4, (600, 200), {}),
    (
        "稀豆粉早点铺",
        "flash",
        "稀豆粉+油条 4.9 元尝鲜",
        1200,
        490,
        490,
        50,
        1,
        (50, 20),
        {"subsidy": 700},  # L1 + L2 + the diamond tier's ¥6 bonus: the platform pays it all
    ),
    (
        "淘气堡儿童乐园",
        "large_set",
        "亲子畅玩六人家庭票",
        48800,
        29800,
        23800,
        100,
        6,
        (1500, 500),
        {"reservation_required": True},
    ),
    ("小星星亲子乐园", "small_set", "亲子三人畅玩卡", 19800, 11800, 9400, 150, 3, (800, 200), {}),
    (
        "好声音 KTV",
        "small_set",
        "KTV 小包四人欢唱 3 小时",
        39800,
        16800,
        12800,
        100,
        4,
        (1200, 400),
        {"usage_hours": {"open": "13:00", "close": "02:00"}},
    ),
    ("欢乐密室逃脱", "large_set", "密室逃脱六人团", 59800, 35800, 28800, 60, 6, (1800, 600), {}),
    ("丽人美甲工作室", "small_set", "闺蜜美甲三人套餐", 29800, 15800, 12800, 80, 3, (900, 300), {}),
    (
        "舒心足疗养生馆",
        "small_set",
        "足疗四人同行套餐",
        39600,
        22800,
        18800,
        100,
        4,
        (1200, 400),
        {},
    ),
    ("洁净洗衣", "small_set", "家庭洗衣三件套 (3人份)", 9900, 5900, 4400, 200, 3, (400, 100), {}),
    ("一点通汽车美容", "small_set", "精洗四次卡", 19600, 9900, 7600, 100, 4, (700, 200), {}),
    (
        "大山包景区",
        "large_set",
        "大山包六人观鹤一日游",
        118800,
        79800,
        66800,
        80,
        6,
        (3000, 1000),
        {"validity_days": 90},
    ),
    ("渔洞水库游船", "small_set", "游船三人票", 18000, 9900, 7800, 200, 3, (600, 200), {}),
    ("龙氏家祠", "flash", "龙氏家祠 5 元门票", 2000, 500, 500, 100, 1, (0, 0), {}),
]
FLASH_DAYS_LEFT = 5  # a live flash sale's window stays open this many days after seeding
SCHEDULED_FLASH_DAYS = 3  # a coming flash sale runs this long from its slot
# Waiting in the coming slots: (shop, type, title, list, sale, settlement, stock, party, commission)
SCHEDULED = [
    ("老昭通炭火烧烤", "large_set", "烧烤六人豪华宴", 49800, 32800, 26800, 80, 6, (1500, 500)),
    ("甜心屋甜品", "flash", "4.9元抢蛋糕切块", 1600, 490, 490, 50, 1, (0, 0)),
    ("小肠旺老店", "large_set", "小肠旺六人家宴", 39800, 26800, 21800, 60, 6, (1200, 400)),
    ("好声音 KTV", "flash", "9.9元 KTV 小包欢唱 1 小时", 9800, 990, 990, 50, 4, (0, 0)),
]
SALES_LAST_WEEK = {"乌蒙山羊肉火锅": 37, "一杯鲜茶 (万达店)": 120, "淘气堡儿童乐园": 24,
                   "好声音 KTV": 45, "大山包景区": 12}  # fmt: skip


def _merchant(name: str) -> Merchant:
    return db.session.scalars(sa.select(Merchant).where(Merchant.name == name)).one()


def _exists(merchant: Merchant, title: str) -> bool:
    return bool(
        db.session.scalars(
            sa.select(Deal.id).where(Deal.merchant_id == merchant.id, Deal.title == title)
        ).first()
    )


def _body(merchant, kind, title, listed, sale, settlement, stock, party, commission, extra):
    body = {
        "merchant_id": merchant.id,
        "type": kind,
        "title": title,
        "description": f"{merchant.name}:{title}。到店出示券码核销,节假日通用。",
        "list_price": listed,
        "sale_price": sale,
        "settlement_price": settlement,
        "stock": stock,
        "party_size": party,
        "commission_l1": commission[0],
        "commission_l2": commission[1],
        "validity_days": 30,
    }
    body.update(extra)
    return body


def _flash_window(body: dict, starts_at: datetime, ends_at: datetime | None) -> dict:
    """A flash deal's sale window (the other types have none)."""
    if body["type"] == "flash":
        return {**body, "sale_starts_at": starts_at, "sale_ends_at": ends_at}
    return body


def past_free_slots(count: int) -> list[publishing.Slot]:
    """The latest ``count`` free publishing slots that have already come, oldest first:
    walked back a day at a time from today, however many slots deals already took (a
    re-run after a partial seed finds the free ones further back)."""
    moment, free = now(), []
    day = local_today()
    while len(free) < count:
        today_free = [
            slot
            for slot in publishing.slots(day, 1)
            if slot.deal is None and slot.starts_at <= moment
        ]
        free = today_free + free
        day -= timedelta(days=1)
    return free[-count:] if count else []


def publish_in_past_slots(
    bodies: list[dict[str, Any]],
    editor: User,
    bd: User,
    *,
    flash_ends_at: datetime | None = None,
) -> list[Deal]:
    """Create ``bodies`` as deals on sale now, the way staff and the publishing job would
    have over the past days: each is created and slotted an hour before a free past slot and
    goes live at it, on the platform's clock (``core.clock.frozen``), so every rule runs. A
    flash deal's sale window opens with its slot and closes at ``flash_ends_at``."""
    deals = []
    for body, slot in zip(bodies, past_free_slots(len(bodies)), strict=True):
        body = _flash_window(body, slot.starts_at, flash_ends_at)
        with frozen(slot.starts_at - timedelta(hours=1)):
            deal = service.create_deal(body, editor, max_tier_bonus=largest_tier_bonus())
            publishing.schedule(deal, slot.day, slot.at, bd)
        with frozen(slot.starts_at):  # the publishing job at the slot
            service.go_live(deal, actor_id=None)
        deals.append(deal)
    return deals


def load() -> list[str]:
    bd = db.session.scalars(sa.select(User).where(User.username == "bd")).one()
    editor = db.session.scalars(sa.select(User).where(User.username == "editor")).one()
    created = []
    pending = [(_merchant(shop), entry) for shop, *entry in DEALS]
    pending = [(m, entry) for m, entry in pending if not _exists(m, entry[1])]
    bodies = [_body(merchant, *entry) for merchant, entry in pending]
    flash_ends_at = now() + timedelta(days=FLASH_DAYS_LEFT)
    for deal in publish_in_past_slots(bodies, editor, bd, flash_ends_at=flash_ends_at):
        shop = deal.merchant.name
        if shop in SALES_LAST_WEEK:
            for days_ago in range(7):
                service.record_sale(
                    deal, SALES_LAST_WEEK[shop] // 7, day=local_today() - timedelta(days=days_ago)
                )
        created.append(deal.title)

    free_slots = (
        s for s in publishing.slots(local_today(), 14) if s.deal is None and s.starts_at > now()
    )
    for shop, kind, title, listed, sale, settlement, stock, party, commission in SCHEDULED:
        merchant = _merchant(shop)
        if _exists(merchant, title):
            continue
        slot = next(free_slots)
        body = _flash_window(
            _body(merchant, kind, title, listed, sale, settlement, stock, party, commission, {}),
            slot.starts_at,
            slot.starts_at + timedelta(days=SCHEDULED_FLASH_DAYS),
        )
        deal = service.create_deal(body, editor, max_tier_bonus=largest_tier_bonus())
        publishing.schedule(deal, slot.day, slot.at, bd)
        created.append(title)

    today = local_today()
    if (
        db.session.scalars(sa.select(PopupBooking.id).where(PopupBooking.day == today)).first()
        is None
    ):
        popup = db.session.scalars(sa.select(Deal).where(Deal.title == "9.9元抢烤串双人拼盘")).one()
        publishing.book_popup(popup, today, bd, note="首批头部商家,谈判时承诺首日弹窗")
    return created
