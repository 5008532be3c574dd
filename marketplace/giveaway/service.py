"""The giveaway's rules.

- A campaign gives ``meals`` (5–10) free units of one deal; shoppers enter during
  [opens_at, closes_at) (24 hours by default); the merchant (promotion) or the platform (at
  the deal's settlement price) pays the shop for each meal.
- An entry: one screenshot (JPEG/PNG/WebP, at most 5 MiB) and the likes the shopper counted,
  once per shopper per campaign; the same image (sha256 of its bytes) only once per campaign.
  Both are unique constraints of the table, so a race cannot break them.
- Customer service verifies an entry with the likes it counted, or rejects it with a reason
  (audited), until the winners are decided.
- The ranking: verified entries by verified likes, most first; ties by the earlier entry.
- Closing (``close_campaign``, the ``close_giveaways`` job at the window's end or "close now"
  in the console): three steps, each committed, each redone only where it is missing, so a
  second run does nothing and a run that crashed halfway is finished by the next:
  1. decide: the top ``meals`` of the ranking win (rank 1…), every other entry is thanked;
  2. prizes: each winner gets one free order and voucher (``orders.actions.place_free_order``,
     idempotent by the key ``giveaway:<campaign id>``);
  3. messages: each entrant is told once (winners: their prize; the others: thanks); an entry
     is marked told after its message was sent, so a failed send is retried by the next run.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from marketplace.accounts.models import User
from marketplace.core import audit
from marketplace.core.api import INTERNAL_KEY_PREFIX
from marketplace.core.clock import now
from marketplace.core.db import db, locked
from marketplace.core.errors import InvalidInput
from marketplace.core.files import image_extension, image_mimetype
from marketplace.deals.models import Deal, DealStatus
from marketplace.giveaway.errors import (
    AlreadyDecided,
    AlreadyEntered,
    CampaignNotFound,
    CampaignRunning,
    DealNotEligible,
    EntryNotFound,
    SameScreenshot,
    StillOpen,
    WindowClosed,
)
from marketplace.giveaway.models import (
    MAX_MEALS,
    MIN_MEALS,
    Campaign,
    CampaignStatus,
    Entry,
    EntryStatus,
    Outcome,
    Payer,
)
from marketplace.orders import actions
from marketplace.providers.notifier import notifier
from marketplace.providers.storage import file_storage, save_upload

DEFAULT_WINDOW_HOURS = 24
SCREENSHOT_MAX_BYTES = 5 * 1024 * 1024
ELIGIBLE_DEALS = (DealStatus.SCHEDULED.value, DealStatus.LIVE.value, DealStatus.PAUSED.value)


def shopper_channel(shopper_id: int) -> str:
    """The notifier's channel of one shopper (production: the official account's message)."""
    return f"shopper:{shopper_id}"


# -- campaigns -------------------------------------------------------------------------------


def create_campaign(
    actor: User,
    *,
    deal_id: int,
    meals: int,
    payer: str,
    window_hours: int = DEFAULT_WINDOW_HOURS,
    opens_at: datetime | None = None,
) -> Campaign:
    deal = db.session.get(Deal, deal_id)
    if deal is None:
        raise InvalidInput(fields={"deal_id": ["No such deal."]}, code="deal_not_found")
    if deal.status not in ELIGIBLE_DEALS:
        raise DealNotEligible()
    if not MIN_MEALS <= meals <= MAX_MEALS:
        raise InvalidInput(fields={"meals": [f"Give {MIN_MEALS} to {MAX_MEALS} meals."]})
    if payer not in {p.value for p in Payer}:
        raise InvalidInput(fields={"payer": ["The merchant or the platform."]})
    if _running_for(deal.id):
        raise CampaignRunning()
    opens_at = opens_at or now()
    campaign = Campaign(
        deal=deal,
        merchant_id=deal.merchant_id,
        meals=meals,
        payer=payer,
        opens_at=opens_at,
        closes_at=opens_at + timedelta(hours=window_hours),
        created_by_id=actor.id,
        created_at=now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(campaign)
            db.session.flush()
    except IntegrityError as exc:  # a concurrent start for the same deal won the index
        raise CampaignRunning() from exc
    audit.record(
        "giveaway",
        campaign.id,
        "giveaway.created",
        actor_id=actor.id,
        data={"deal_id": deal.id, "meals": meals, "payer": payer, "window_hours": window_hours},
    )
    return campaign


def _running_for(deal_id: int) -> bool:
    running = [CampaignStatus.OPEN.value, CampaignStatus.CLOSING.value]
    return (
        db.session.scalar(
            sa.select(Campaign.id).where(Campaign.deal_id == deal_id, Campaign.status.in_(running))
        )
        is not None
    )


def get_campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


def campaigns(status: str | None = None) -> sa.Select:
    """Every campaign, newest first (optionally of one status)."""
    query = sa.select(Campaign).order_by(Campaign.id.desc())
    if status:
        query = query.where(Campaign.status == status)
    return query


def taking_entries(campaign: Campaign, moment: datetime | None = None) -> bool:
    moment = moment or now()
    return (
        campaign.status == CampaignStatus.OPEN.value
        and campaign.opens_at <= moment < campaign.closes_at
    )


def open_campaigns() -> list[Campaign]:
    """Campaigns taking entries now, the one ending soonest first (the home page's link)."""
    moment = now()
    return list(
        db.session.scalars(
            sa.select(Campaign)
            .where(
                Campaign.status == CampaignStatus.OPEN.value,
                Campaign.opens_at <= moment,
                Campaign.closes_at > moment,
            )
            .order_by(Campaign.closes_at, Campaign.id)
        )
    )


def seconds_left(campaign: Campaign) -> int:
    return max(0, int((campaign.closes_at - now()).total_seconds()))


# -- entries ---------------------------------------------------------------------------------


def submit_entry(campaign_id: int, shopper: User, screenshot: bytes, likes: int) -> Entry:
    campaign = _lock(campaign_id)  # not while the winners are being decided
    if not taking_entries(campaign):
        raise WindowClosed()
    if likes < 0 or likes > 100_000:
        raise InvalidInput(fields={"likes": ["Between 0 and 100000."]})
    kind = image_extension(screenshot, max_bytes=SCREENSHOT_MAX_BYTES)
    digest = hashlib.sha256(screenshot).hexdigest()
    _refuse_repeat(campaign.id, shopper.id, digest)
    key = f"giveaway/{campaign.id}/{uuid.uuid4().hex}.{kind}"
    entry = Entry(
        campaign_id=campaign.id,
        shopper_id=shopper.id,
        file_key=key,
        image_sha256=digest,
        claimed_likes=likes,
        submitted_at=now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        # Not reached while the campaign's lock serialises entries (the repeat is refused
        # above); the unique constraints are the guard behind it: say which one held.
        _refuse_repeat(campaign.id, shopper.id, digest)
        raise
    save_upload(key, screenshot)
    audit.record(
        "giveaway_entry",
        entry.id,
        "giveaway.entered",
        actor_id=shopper.id,
        data={"campaign_id": campaign.id, "likes": likes},
    )
    return entry


def _refuse_repeat(campaign_id: int, shopper_id: int, digest: str) -> None:
    same = sa.select(Entry.shopper_id).where(Entry.campaign_id == campaign_id)
    if db.session.scalar(same.where(Entry.shopper_id == shopper_id)) is not None:
        raise AlreadyEntered()
    if db.session.scalar(same.where(Entry.image_sha256 == digest)) is not None:
        raise SameScreenshot()


def my_entry(campaign_id: int, shopper: User) -> Entry | None:
    return db.session.scalars(
        sa.select(Entry).where(Entry.campaign_id == campaign_id, Entry.shopper_id == shopper.id)
    ).first()


def get_entry(entry_id: int) -> Entry:
    entry = db.session.get(Entry, entry_id)
    if entry is None:
        raise EntryNotFound()
    return entry


def screenshot(entry_id: int, viewer: User, *, staff: bool) -> tuple[Entry, bytes]:
    """An entry's screenshot: for staff, or for the shopper who sent it (others: 404)."""
    entry = get_entry(entry_id)
    if not staff and entry.shopper_id != viewer.id:
        raise EntryNotFound()
    return entry, file_storage().read(entry.file_key)


def mimetype_of(entry: Entry) -> str:
    return image_mimetype(entry.file_key)


def entries(campaign_id: int, status: str | None = None) -> sa.Select:
    """The campaign's entries, oldest first (optionally of one status)."""
    query = (
        sa.select(Entry)
        .where(Entry.campaign_id == campaign_id)
        .order_by(Entry.submitted_at, Entry.id)
    )
    if status:
        query = query.where(Entry.status == status)
    return query


def review_entry(
    entry_id: int, actor: User, *, verified: bool, likes: int | None = None, reason: str = ""
) -> Entry:
    """Customer service's decision on an entry, with the likes it counted (verified) or the
    reason (rejected); may be changed until the winners are decided. Audited."""
    entry = get_entry(entry_id)
    # the campaign's lock orders this decision against the closing's: a decision either
    # lands before the winners are decided, or is refused after
    campaign = _lock(entry.campaign_id)
    if campaign.status != CampaignStatus.OPEN.value:
        raise AlreadyDecided()
    reason = (reason or "").strip()
    if verified:
        if likes is None or likes < 0:
            raise InvalidInput(fields={"likes": ["Give the likes you counted."]})
        entry.status, entry.verified_likes, entry.reason = EntryStatus.VERIFIED.value, likes, None
    else:
        if not reason:
            raise InvalidInput(fields={"reason": ["Say why the entry is rejected."]})
        entry.status, entry.verified_likes, entry.reason = EntryStatus.REJECTED.value, None, reason
    entry.reviewed_by_id, entry.reviewed_at = actor.id, now()
    audit.record(
        "giveaway_entry",
        entry.id,
        f"giveaway.{entry.status}",
        actor_id=actor.id,
        reason=reason or None,
        data={"campaign_id": campaign.id, "likes": likes if verified else None},
    )
    return entry


def ranking(campaign_id: int) -> sa.Select:
    """Verified entries, most verified likes first; ties: the earlier entry first."""
    return (
        sa.select(Entry)
        .where(Entry.campaign_id == campaign_id, Entry.status == EntryStatus.VERIFIED.value)
        .order_by(Entry.verified_likes.desc(), Entry.submitted_at, Entry.id)
    )


def winners(campaign_id: int) -> list[Entry]:
    return list(
        db.session.scalars(
            sa.select(Entry)
            .where(Entry.campaign_id == campaign_id, Entry.outcome == Outcome.WON.value)
            .order_by(Entry.rank)
        )
    )


# -- closing ---------------------------------------------------------------------------------


def _lock(campaign_id: int) -> Campaign:
    campaign = locked(Campaign, campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


def decide(campaign_id: int, *, actor_id: int | None = None, early: bool = False) -> Campaign:
    """Step 1: the winners. Once: a decided campaign is left as it is. ``early``: staff
    close the window now (no entries after this). Flushes."""
    campaign = _lock(campaign_id)
    if campaign.status != CampaignStatus.OPEN.value:
        return campaign
    moment = now()
    if moment < campaign.closes_at:
        if not early:
            raise StillOpen()
        campaign.closes_at = max(moment, campaign.opens_at + timedelta(microseconds=1))
    ranked = list(db.session.scalars(ranking(campaign.id)))
    won = {entry.id: rank for rank, entry in enumerate(ranked[: campaign.meals], start=1)}
    for entry in db.session.scalars(entries(campaign.id)):
        entry.rank = won.get(entry.id)
        entry.outcome = (Outcome.WON if entry.id in won else Outcome.THANKED).value
    campaign.status, campaign.decided_at = CampaignStatus.CLOSING.value, moment
    audit.record(
        "giveaway",
        campaign.id,
        "giveaway.decided",
        actor_id=actor_id,
        reason="closed early" if early else None,
        data={"winners": list(won), "entries": len(ranked)},
    )
    return campaign


def issue_prize(entry: Entry, campaign: Campaign) -> None:
    """Step 2, for one winner: their free order and voucher (idempotent). Flushes."""
    if entry.order_id is not None:
        return
    owed = campaign.deal.settlement_price if campaign.payer == Payer.PLATFORM.value else 0
    order, _ = actions.place_free_order(
        entry.shopper_id,
        campaign.deal,
        settlement_price=owed,
        key=f"{INTERNAL_KEY_PREFIX}giveaway:{campaign.id}",  # no client's key can be it
        source=f"giveaway:{campaign.id}",
    )
    entry.order_id = order.id
    audit.record(
        "giveaway_entry",
        entry.id,
        "giveaway.prize_issued",
        actor_id=None,
        data={"order_id": order.id, "payer": campaign.payer, "settlement_price": owed},
    )


def message_for(entry: Entry, campaign: Campaign) -> str:
    title = campaign.deal.title
    if entry.outcome == Outcome.WON.value:
        return (
            f"**恭喜！你在霸王餐活动中获得第 {entry.rank} 名**\n"
            f"免费券「{title}」已放入“我的券”，到店出示券码即可使用。"
        )
    return f"感谢参加霸王餐活动「{title}」！这次没有中奖，下周的霸王餐再来试试吧。"


def tell(entry: Entry, campaign: Campaign) -> bool:
    """Step 3, for one entrant: send their message unless it was sent. The send comes
    first and the mark after it: a send that fails leaves the entry to the next run."""
    if entry.notified_at is not None:
        return False
    notifier().send(shopper_channel(entry.shopper_id), message_for(entry, campaign))
    entry.notified_at = now()
    return True


def close_campaign(
    campaign_id: int, *, actor_id: int | None = None, early: bool = False
) -> dict[str, Any]:
    """Decide, issue the prizes, tell everyone, and mark the campaign closed: each step and
    each winner's prize and each message committed on its own, so a rerun after a crash
    carries on where it stopped and a second run changes nothing. Owns its transactions."""
    campaign = decide(campaign_id, actor_id=actor_id, early=early)
    db.session.commit()
    summary = {"campaign_id": campaign_id, "prizes": 0, "messages": 0}
    if campaign.status == CampaignStatus.CLOSED.value:
        return summary
    for entry in winners(campaign_id):
        if entry.order_id is None:
            _lock(campaign_id)  # one closing run at a time hands out prizes
            db.session.refresh(entry)
            if entry.order_id is None:
                issue_prize(entry, campaign)
                summary["prizes"] += 1
            db.session.commit()
    for entry_id in db.session.scalars(
        sa.select(Entry.id)
        .where(Entry.campaign_id == campaign_id, Entry.notified_at.is_(None))
        .order_by(Entry.id)
    ).all():
        _lock(campaign_id)
        entry = db.session.get(Entry, entry_id, populate_existing=True)
        if tell(entry, campaign):
            summary["messages"] += 1
        db.session.commit()
    campaign = _lock(campaign_id)
    if campaign.status == CampaignStatus.CLOSING.value:
        campaign.status, campaign.closed_at = CampaignStatus.CLOSED.value, now()
        audit.record("giveaway", campaign.id, "giveaway.closed", actor_id=actor_id, data=summary)
    db.session.commit()
    return summary


def close_due() -> dict[str, Any]:
    """Job: close every campaign whose window has ended (and finish any left closing)."""
    due = db.session.scalars(
        sa.select(Campaign.id)
        .where(
            sa.or_(
                sa.and_(Campaign.status == CampaignStatus.OPEN.value, Campaign.closes_at <= now()),
                Campaign.status == CampaignStatus.CLOSING.value,
            )
        )
        .order_by(Campaign.id)
    ).all()
    db.session.commit()
    closed = [close_campaign(campaign_id) for campaign_id in due]
    return {
        "closed": len(closed),
        "prizes": sum(c["prizes"] for c in closed),
        "messages": sum(c["messages"] for c in closed),
    }


def eligible_deals(limit: int = 200) -> list[Deal]:
    """Deals a campaign may give away (scheduled, live or paused), newest first: the
    console's choice when BD starts a campaign."""
    return list(
        db.session.scalars(
            sa.select(Deal)
            .where(Deal.status.in_(ELIGIBLE_DEALS))
            .order_by(Deal.id.desc())
            .limit(limit)
        )
    )
