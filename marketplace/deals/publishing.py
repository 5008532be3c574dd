"""Publishing cadence: deals go live at 10:00 and 15:00 (Asia/Shanghai) every day, one deal
per slot, and never a day without a new deal; BD may promise a deal the popup on a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.cache import catalog_changed
from marketplace.core.clock import local_today, local_zone, now
from marketplace.core.db import db
from marketplace.core.errors import InvalidInput, NotFound
from marketplace.deals import service
from marketplace.deals.errors import (
    IllegalDealTransition,
    MerchantNotLive,
    PopupDayTaken,
    SlotTaken,
)
from marketplace.deals.models import Deal, DealStatus, PopupBooking
from marketplace.providers.notifier import notifier

SLOT_TIMES = (time(10, 0), time(15, 0))
MAX_DAYS_AHEAD = 60


def slot_instant(day: date, at: time) -> datetime:
    """The UTC instant of a publishing slot given in the platform's zone."""
    if at not in SLOT_TIMES:
        raise InvalidInput(fields={"slot": ["Deals are published at 10:00 or 15:00."]})
    return datetime.combine(day, at, tzinfo=local_zone()).astimezone(UTC)


def schedule(deal: Deal, day: date, at: time, actor: User) -> Deal:
    """Put a draft (or re-slot a scheduled) deal in a publishing slot."""
    if deal.status not in (DealStatus.DRAFT.value, DealStatus.SCHEDULED.value):
        raise IllegalDealTransition(f"A {deal.status} deal cannot be scheduled.")
    service.ensure_merchant_live(deal)
    instant = slot_instant(day, at)
    if instant <= now():
        raise InvalidInput(fields={"date": ["That slot has already passed."]})
    if day > local_today() + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(fields={"date": [f"Schedule at most {MAX_DAYS_AHEAD} days ahead."]})
    if deal.sale_ends_at is not None and deal.sale_ends_at <= instant:
        raise InvalidInput(fields={"date": ["The deal's sale would be over by then."]})
    taken = db.session.scalars(
        sa.select(Deal.id).where(Deal.publish_at == instant, Deal.id != deal.id)
    ).first()
    if taken:
        raise SlotTaken(f"Deal {taken} already has {day.isoformat()} {at:%H:%M}.")
    deal.publish_at = instant
    deal.status = DealStatus.SCHEDULED.value
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # a concurrent booking of the same slot won
        raise SlotTaken() from exc
    audit.record(
        "deal", deal.id, "deal.scheduled", actor_id=actor.id, data={"slot": instant.isoformat()}
    )
    return deal


def unschedule(deal: Deal, actor: User) -> Deal:
    if deal.status != DealStatus.SCHEDULED.value:
        raise IllegalDealTransition(f"A {deal.status} deal is not scheduled.")
    audit.record(
        "deal",
        deal.id,
        "deal.unscheduled",
        actor_id=actor.id,
        data={"slot": deal.publish_at.isoformat() if deal.publish_at else None},
    )
    deal.publish_at = None
    deal.status = DealStatus.DRAFT.value
    return deal


@dataclass
class PublishReport:
    published: list[int]
    held: list[tuple[int, str]]  # (deal id, why it did not go live)


def publish_due(*, at: datetime | None = None) -> PublishReport:
    """Every scheduled deal whose slot has come goes live; one whose merchant is not live
    stays scheduled and is reported. Safe to run twice and safe to run late."""
    moment = at or now()
    due = db.session.scalars(
        sa.select(Deal)
        .where(Deal.status == DealStatus.SCHEDULED.value, Deal.publish_at <= moment)
        .order_by(Deal.publish_at)
        .with_for_update(skip_locked=True, of=Deal)
    ).all()
    report = PublishReport([], [])
    for deal in due:
        try:
            service.go_live(deal, actor_id=None)
            report.published.append(deal.id)
        except MerchantNotLive as exc:
            report.held.append((deal.id, exc.message))
    return report


@dataclass
class Slot:
    day: date
    at: time
    starts_at: datetime
    deal: Deal | None


def slots(first_day: date, days: int) -> list[Slot]:
    """The publishing slots of ``days`` days from ``first_day``, with the deal in each."""
    instants = [
        (d, t, slot_instant(d, t))
        for d in (first_day + timedelta(n) for n in range(days))
        for t in SLOT_TIMES
    ]
    taken = {
        deal.publish_at: deal
        for deal in db.session.scalars(
            sa.select(Deal).where(Deal.publish_at.in_([i for _, _, i in instants]))
        )
    }
    return [Slot(d, t, i, taken.get(i)) for d, t, i in instants]


def calendar(first_day: date, days: int) -> dict:
    """The slots of ``days`` days, how many are empty, and the days with no deal at all (the
    platform must never skip a day)."""
    all_slots = slots(first_day, days)
    by_day: dict[date, list[Slot]] = {}
    for slot in all_slots:
        by_day.setdefault(slot.day, []).append(slot)
    return {
        "slots": all_slots,
        "empty_slots": sum(1 for s in all_slots if s.deal is None),
        "days_without_a_deal": [
            day for day, day_slots in by_day.items() if all(s.deal is None for s in day_slots)
        ],
    }


# -- popup bookings ------------------------------------------------------------------------


def book_popup(deal: Deal, day: date, actor: User, *, note: str = "") -> PopupBooking:
    """Promise ``deal`` the home-page popup on ``day`` (one deal a day)."""
    if day < local_today():
        raise InvalidInput(fields={"date": ["That day has passed."]})
    if deal.status in (DealStatus.ENDED.value,):
        raise IllegalDealTransition("An ended deal cannot have the popup.")
    service.ensure_merchant_live(deal)
    existing = db.session.scalars(sa.select(PopupBooking).where(PopupBooking.day == day)).first()
    if existing is not None:
        raise PopupDayTaken(f"{day.isoformat()} is promised to deal {existing.deal_id}.")
    booking = PopupBooking(day=day, deal=deal, note=note, booked_by_id=actor.id)
    db.session.add(booking)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise PopupDayTaken() from exc
    audit.record(
        "deal",
        deal.id,
        "deal.popup_booked",
        actor_id=actor.id,
        data={"day": day.isoformat(), "note": note},
    )
    catalog_changed()
    return booking


def cancel_popup(booking_id: int, actor: User) -> None:
    booking = db.session.get(PopupBooking, booking_id)
    if booking is None:
        raise NotFound("No such popup booking.", code="popup_booking_not_found")
    audit.record(
        "deal",
        booking.deal_id,
        "deal.popup_cancelled",
        actor_id=actor.id,
        data={"day": booking.day.isoformat()},
    )
    db.session.delete(booking)
    catalog_changed()


def popup_bookings(from_day: date) -> sa.Select:
    return sa.select(PopupBooking).where(PopupBooking.day >= from_day).order_by(PopupBooking.day)


def empty_slot_alert(day: date | None = None) -> list[str]:
    """The evening before: tell the team which of tomorrow's slots are still empty."""
    day = day or local_today() + timedelta(days=1)
    empty = [f"{slot.at:%H:%M}" for slot in slots(day, 1) if slot.deal is None]
    if empty:
        notifier().send(
            "team", f"**明天 {day.isoformat()} 还有空的上新时段:{'、'.join(empty)}**(不可断更)"
        )
    return empty
