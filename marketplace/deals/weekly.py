"""The weekly rhythm of promotion: Thursday's digest by category for the official account,
Friday's page of hot, high-commission deals (stored, served, pushed to WeCom), Saturday's
second push of the week's hits to the community groups."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.deals.availability import on_sale
from marketplace.deals.models import Deal, DealDailySales
from marketplace.providers.notifier import notifier
from merchants.models import Category, Merchant

TOP = 10


class WeeklyPage(db.Model):
    __tablename__ = "weekly_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    week_of: Mapped[date] = mapped_column(unique=True)  # the Friday it was made
    generated_at: Mapped[datetime] = mapped_column(default=now)
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


def _item(deal: Deal, units: int) -> dict[str, Any]:
    return {
        "deal_id": deal.id,
        "title": deal.title,
        "merchant": deal.merchant.name,
        "sale_price": deal.sale_price,
        "commission_l1": deal.commission_l1,
        "sold_last_7_days": units,
    }


def build_hot_page(day: date | None = None) -> WeeklyPage:
    """Top deals on sale by units sold in the last 7 days, and by level-1 commission.
    Stored once per week (running it again the same day replaces that week's page)."""
    day = day or local_today()
    since = day - timedelta(days=6)
    sold = (
        sa.select(DealDailySales.deal_id, sa.func.sum(DealDailySales.units).label("units"))
        .where(DealDailySales.day.between(since, day))
        .group_by(DealDailySales.deal_id)
        .subquery()
    )
    units = sa.func.coalesce(sold.c.units, 0)
    base = (
        sa.select(Deal, units)
        .join(Deal.merchant)
        .outerjoin(sold, sold.c.deal_id == Deal.id)
        .where(*on_sale(now()))
    )
    hot = db.session.execute(base.order_by(units.desc(), Deal.id).limit(TOP)).all()
    rich = db.session.execute(
        base.order_by(Deal.commission_l1.desc(), units.desc(), Deal.id).limit(TOP)
    ).all()
    content = {
        "week_of": day.isoformat(),
        "hot": [_item(d, int(u)) for d, u in hot],
        "high_commission": [_item(d, int(u)) for d, u in rich],
    }
    page = db.session.scalars(sa.select(WeeklyPage).where(WeeklyPage.week_of == day)).first()
    if page is None:
        page = WeeklyPage(week_of=day, content=content)
        db.session.add(page)
    else:
        page.content, page.generated_at = content, now()
    db.session.flush()
    return page


def latest_page() -> WeeklyPage | None:
    return db.session.scalars(sa.select(WeeklyPage).order_by(WeeklyPage.week_of.desc())).first()


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def push_hot_page() -> dict[str, Any]:
    page = build_hot_page()
    lines = ["## 本周爆品 · 高佣金", ""]
    lines += [
        f"- **{i['title']}**({i['merchant']}){_yuan(i['sale_price'])},"
        f"7天售出 {i['sold_last_7_days']}"
        for i in page.content["hot"]
    ]
    lines += ["", "### 高佣金"]
    lines += [
        f"- {i['title']} 佣金 {_yuan(i['commission_l1'])}" for i in page.content["high_commission"]
    ]
    notifier().send("wecom", "\n".join(lines))
    return {"week_of": page.content["week_of"], "hot": len(page.content["hot"])}


def push_weekly_hits() -> dict[str, Any]:
    page = latest_page()
    if page is None or page.week_of < local_today() - timedelta(days=6):
        page = build_hot_page()
    lines = ["## 本周热卖回顾", ""] + [
        f"- {i['title']}({i['merchant']}){_yuan(i['sale_price'])}" for i in page.content["hot"]
    ]
    notifier().send("community", "\n".join(lines))
    return {"week_of": page.content["week_of"], "hits": len(page.content["hot"])}


def push_category_digest() -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Category.name_zh, Deal.title, Deal.sale_price)
        .select_from(Deal)
        .join(Deal.merchant)
        .join(Merchant.category)
        .where(*on_sale(now()))
        .order_by(Category.sort_order, Deal.published_at.desc())
    ).all()
    by_category: dict[str, list[str]] = {}
    for category, title, price in rows:
        by_category.setdefault(category, []).append(f"- {title} {_yuan(price)}")
    lines = ["## 本周好店好券", ""]
    for category, items in by_category.items():
        lines += [f"### {category}", *items[:5], ""]
    notifier().send("official_account", "\n".join(lines))
    return {"categories": len(by_category), "deals": len(rows)}
