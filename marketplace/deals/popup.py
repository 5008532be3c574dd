"""The home page's popup deal: one per day. A deal BD promised that day wins; otherwise a
fair rotation over deals on sale — least recently featured first, then headliners and higher
grades — never the same deal two days running when another exists. If the day's deal sells
out or is paused, it is replaced by the same rule."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.core import audit
from marketplace.core.cache import catalog_changed
from marketplace.core.clock import local_today, now
from marketplace.core.db import db
from marketplace.deals.availability import on_sale
from marketplace.deals.models import Deal, PopupBooking
from merchants.models import Merchant


class PopupDay(db.Model):
    __tablename__ = "popup_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    deal_id: Mapped[int] = mapped_column(sa.ForeignKey("deals.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(12))  # booked, rotation
    chosen_at: Mapped[datetime] = mapped_column(default=now)
    replaced_deal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deals.id"))

    deal: Mapped[Deal] = relationship(foreign_keys=[deal_id], lazy="joined", innerjoin=True)


def _on_sale_ids(moment: datetime) -> sa.Select:
    return sa.select(Deal.id).join(Deal.merchant).where(*on_sale(moment))


def choose(day: date, *, exclude: set[int] = frozenset()) -> tuple[Deal | None, str]:
    moment = now()
    booking = db.session.scalars(sa.select(PopupBooking).where(PopupBooking.day == day)).first()
    if (
        booking is not None
        and booking.deal_id not in exclude
        and db.session.scalar(_on_sale_ids(moment).where(Deal.id == booking.deal_id)) is not None
    ):
        return booking.deal, "booked"
    last_featured = (
        sa.select(PopupDay.deal_id, sa.func.max(PopupDay.day).label("last"))
        .where(PopupDay.day < day)
        .group_by(PopupDay.deal_id)
        .subquery()
    )
    yesterday = db.session.scalar(
        sa.select(PopupDay.deal_id).where(PopupDay.day == day - timedelta(days=1))
    )
    query = (
        sa.select(Deal)
        .join(Deal.merchant)
        .outerjoin(last_featured, last_featured.c.deal_id == Deal.id)
        .where(*on_sale(moment))
        .order_by(
            last_featured.c.last.asc().nulls_first(),
            Merchant.is_headliner.desc(),
            Merchant.current_grade.desc().nulls_last(),
            Deal.id,
        )
    )
    if exclude:
        query = query.where(Deal.id.not_in(exclude))
    candidates = db.session.scalars(query.limit(2)).all()
    if not candidates:
        return None, "rotation"
    if candidates[0].id == yesterday and len(candidates) > 1:
        return candidates[1], "rotation"
    return candidates[0], "rotation"


def ensure(day: date | None = None) -> PopupDay | None:
    """Make sure ``day`` (today) has its popup: choose one if none, replace one no longer on
    sale. Running it again changes nothing."""
    day = day or local_today()
    row = db.session.scalars(
        sa.select(PopupDay).where(PopupDay.day == day).with_for_update(of=PopupDay)
    ).first()
    if row is not None:
        still_on_sale = db.session.scalar(_on_sale_ids(now()).where(Deal.id == row.deal_id))
        if still_on_sale is not None:
            return row
        deal, source = choose(day, exclude={row.deal_id})
        if deal is None:
            return row
        previous = row.deal_id
        row.deal_id, row.source, row.replaced_deal_id, row.chosen_at = (
            deal.id,
            source,
            previous,
            now(),
        )
        audit.record(
            "popup_day",
            day.isoformat(),
            "popup.replaced",
            actor_id=None,
            data={"from": previous, "to": deal.id},
        )
        catalog_changed()
        return row
    deal, source = choose(day)
    if deal is None:
        return None
    row = PopupDay(day=day, deal=deal, source=source, chosen_at=now())
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:  # another run chose first
        return db.session.scalars(sa.select(PopupDay).where(PopupDay.day == day)).first()
    audit.record(
        "popup_day",
        day.isoformat(),
        "popup.chosen",
        actor_id=None,
        data={"deal_id": deal.id, "source": source},
    )
    catalog_changed()
    return row


def shown(day: date, moment: datetime) -> Deal | None:
    """The popup the home page shows: ``day``'s chosen deal (the rotation job keeps it on
    sale), or until the job has run, a deal booked for ``day`` — if it is on sale."""
    chosen = sa.select(PopupDay.deal_id).where(PopupDay.day == day).scalar_subquery()
    booked = sa.select(PopupBooking.deal_id).where(PopupBooking.day == day).scalar_subquery()
    return db.session.scalars(
        sa.select(Deal)
        .join(Deal.merchant)
        .where(*on_sale(moment), sa.or_(Deal.id == chosen, Deal.id == booked))
        .order_by(sa.case((Deal.id == chosen, 0), else_=1))
        .limit(1)
    ).first()


def featured(first_day: date, last_day: date) -> list[PopupDay]:
    """The popups the rotation (or a booking) gave each day from ``first_day`` to
    ``last_day``, newest first: the staff console's record of past picks."""
    return list(
        db.session.scalars(
            sa.select(PopupDay)
            .where(PopupDay.day.between(first_day, last_day))
            .order_by(PopupDay.day.desc())
        )
    )
