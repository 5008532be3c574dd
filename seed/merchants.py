"""Twenty-four shops of Zhaotong (昭通, Yunnan), three per category, most of them live.

Everything goes through ``merchants.service`` (and ``accounts.service`` for the portal
logins' dev passwords) so the seed obeys the same rules as BD staff: contracts are signed
(with a small placeholder PDF) before a shop is contracted or live.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from marketplace.accounts import service as accounts
from marketplace.accounts.models import User
from marketplace.core.clock import local_today
from marketplace.core.db import db
from merchants import service
from merchants.models import ContractKind, Merchant, StaffRole, Stage
from seed.staff import DEV_PASSWORD

CENTRE = (27.3383, 103.7172)  # 昭阳区 city centre
# name, category, address, (dlat, dlng) from the centre, grade, stage, headliner, BD owner
SHOPS = [
    ("老昭通炭火烧烤", "hotpot-bbq", "昭阳区北门街 18 号", (0.004, -0.002), 5, "live", True, "bd"),
    (
        "乌蒙山羊肉火锅",
        "hotpot-bbq",
        "昭阳区昭通大道 266 号",
        (-0.006, 0.008),
        4,
        "live",
        True,
        "bd",
    ),
    (
        "望江楼老火锅",
        "hotpot-bbq",
        "昭阳区南顺城街 9 号",
        (0.010, 0.004),
        3,
        "negotiating",
        False,
        "bd2",
    ),
    (
        "一杯鲜茶 (万达店)",
        "milk-tea-desserts",
        "昭阳区万达广场 1 楼",
        (-0.003, -0.009),
        4,
        "live",
        True,
        "bd2",
    ),
    (
        "甜心屋甜品",
        "milk-tea-desserts",
        "昭阳区珠泉路 52 号",
        (0.002, 0.003),
        3,
        "live",
        False,
        "bd2",
    ),
    (
        "凤凰奶茶铺",
        "milk-tea-desserts",
        "昭阳区凤凰山路 7 号",
        (0.015, -0.011),
        2,
        "lead",
        False,
        "bd2",
    ),
    ("小肠旺老店", "dining", "昭阳区陡街 33 号", (0.001, 0.001), 5, "live", True, "bd"),
    ("稀豆粉早点铺", "dining", "昭阳区怀远街 12 号", (-0.002, 0.005), 4, "live", False, "bd"),
    ("悦西餐厅", "dining", "昭阳区月亮湖路 88 号", (-0.012, -0.004), 3, "contracted", False, "bd"),
    (
        "淘气堡儿童乐园",
        "kids-family",
        "昭阳区吾悦广场 3 楼",
        (-0.008, 0.012),
        5,
        "live",
        True,
        "bd2",
    ),
    (
        "小星星亲子乐园",
        "kids-family",
        "昭阳区海楼路 101 号",
        (0.006, 0.010),
        4,
        "live",
        False,
        "bd2",
    ),
    (
        "童趣手工坊",
        "kids-family",
        "昭阳区学院路 20 号",
        (0.018, 0.002),
        3,
        "negotiating",
        False,
        "bd2",
    ),
    ("好声音 KTV", "leisure", "昭阳区昭通大道 118 号", (-0.004, 0.006), 4, "live", True, "bd"),
    ("欢乐密室逃脱", "leisure", "昭阳区龙泉路 66 号", (0.007, -0.006), 4, "live", False, "bd"),
    ("星空台球俱乐部", "leisure", "昭阳区太平街 5 号", (0.012, 0.009), 3, "suspended", False, "bd"),
    (
        "丽人美甲工作室",
        "beauty-health",
        "昭阳区珠泉路 118 号",
        (0.003, 0.007),
        4,
        "live",
        False,
        "bd2",
    ),
    (
        "舒心足疗养生馆",
        "beauty-health",
        "昭阳区环城东路 45 号",
        (-0.009, 0.015),
        3,
        "live",
        False,
        "bd2",
    ),
    (
        "美丽说皮肤管理",
        "beauty-health",
        "昭阳区建设路 9 号",
        (0.020, -0.015),
        None,
        "lead",
        False,
        "bd2",
    ),
    ("洁净洗衣", "life-services", "昭阳区团结路 31 号", (-0.001, -0.004), 3, "live", False, "bd"),
    (
        "一点通汽车美容",
        "life-services",
        "昭阳区昭鲁大道 208 号",
        (-0.020, 0.010),
        4,
        "live",
        False,
        "bd",
    ),
    (
        "快乐宠物店",
        "life-services",
        "昭阳区青年路 17 号",
        (0.009, 0.001),
        3,
        "contracted",
        False,
        "bd",
    ),
    ("大山包景区", "attractions", "昭阳区大山包镇", (0.180, -0.160), 5, "live", True, "bd2"),
    ("渔洞水库游船", "attractions", "昭阳区渔洞乡", (0.090, 0.050), 4, "live", False, "bd2"),
    ("龙氏家祠", "attractions", "昭阳区辕门口", (0.000, 0.002), 4, "live", False, "bd2"),
]
PATHS = {
    "lead": [],
    "negotiating": [Stage.NEGOTIATING],
    "contracted": [Stage.NEGOTIATING, Stage.CONTRACTED],
    "live": [Stage.NEGOTIATING, Stage.CONTRACTED, Stage.LIVE],
    "suspended": [Stage.NEGOTIATING, Stage.CONTRACTED, Stage.LIVE, Stage.SUSPENDED],
}
# A portal owner and clerk for a few shops: username prefix → shop name.
PORTAL = {
    "laozhaotong": "老昭通炭火烧烤",
    "yibei": "一杯鲜茶 (万达店)",
    "taoqibao": "淘气堡儿童乐园",
}
PLACEHOLDER_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def _user(username: str) -> User:
    return db.session.scalars(sa.select(User).where(User.username == username)).one()


def load() -> list[str]:
    created = []
    today = local_today()
    for index, (name, category, address, (dlat, dlng), grade, stage, headliner, owner) in enumerate(
        SHOPS
    ):
        if db.session.scalars(sa.select(Merchant.id).where(Merchant.name == name)).first():
            continue
        bd = _user(owner)
        merchant = service.create_merchant(
            {
                "name": name,
                "category": category,
                "address": address,
                "location": {"lat": round(CENTRE[0] + dlat, 6), "lng": round(CENTRE[1] + dlng, 6)},
                "phone": f"0870-21{index:05d}",
                "is_headliner": headliner,
                "business_hours": [
                    {"days": [1, 2, 3, 4, 5, 6, 7], "open": "10:00", "close": "22:00"}
                ],
            },
            bd,
        )
        if grade:
            service.grade_merchant(
                merchant, grade, "开店考察", bd, reference=f"大众点评 {grade - 0.3:.1f}"
            )
        if stage in ("contracted", "live", "suspended"):
            for kind in ContractKind:
                service.record_contract(
                    merchant,
                    kind,
                    "店主",
                    today - timedelta(days=20),
                    service.Upload(f"{kind.value}.pdf", PLACEHOLDER_PDF),
                    bd,
                )
        for step in PATHS[stage]:
            service.change_stage(merchant, step, bd, reason="seed")
        if stage in ("negotiating", "lead"):
            # Follow-ups promised at the last visit; some already overdue for the demo.
            service.record_visit(
                merchant,
                today - timedelta(days=10),
                "visit",
                "老板有兴趣,想先看看秒杀效果",
                bd,
                follow_up_due=today - timedelta(days=index % 3),
            )
        created.append(name)
    db.session.flush()
    for prefix, shop in PORTAL.items():
        if db.session.scalars(sa.select(User.id).where(User.username == f"{prefix}-owner")).first():
            continue
        merchant = db.session.scalars(sa.select(Merchant).where(Merchant.name == shop)).one()
        bd = _user("bd")
        for role in (StaffRole.OWNER, StaffRole.CLERK):
            link, _ = service.create_portal_account(
                merchant,
                f"{prefix}-{role.value}",
                role,
                bd,
                display_name=f"{shop} {'店主' if role is StaffRole.OWNER else '店员'}",
                password=DEV_PASSWORD,
            )
            # The demo logins work straight away: BD sets the known dev password without
            # asking for a change at first login.
            accounts.set_password(link.user, DEV_PASSWORD, actor_id=bd.id, must_change=False)
    return created
