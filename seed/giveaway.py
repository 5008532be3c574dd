"""The free-meal giveaway's demo: one campaign taking entries (the mutton hotpot for three,
five meals, the platform paying), four of the demo customers entered with a screenshot,
two of them verified by customer service, so ``make run`` shows the home page's link, the
campaign page and the console's entries. Made through the domain functions the pages
call; once (a second seed adds nothing)."""

from __future__ import annotations

import struct
import zlib

import sqlalchemy as sa

from marketplace.accounts.models import User
from marketplace.core.db import db
from marketplace.deals.models import Deal
from marketplace.giveaway import service
from marketplace.giveaway.models import Campaign

DEAL = "羊肉火锅三人餐"
# customer phone, likes they counted, likes CS verified (None: not reviewed yet)
ENTRIES = [
    ("13600000001", 48, 46),
    ("13600000002", 35, 35),
    ("13600000003", 61, None),
    ("13600000005", 22, None),
]


def _png(width: int, height: int, rows) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def screenshot(seed: int, width: int = 180, height: int = 320) -> bytes:
    """A Moments-like picture: a green bar, a grey post whose length and a red 'likes' row
    whose width depend on ``seed``, and the bar's shade (each seed below 64 its own image)."""
    post_end = 100 + (seed * 37) % 160
    likes_width = 30 + (seed * 53) % 120
    bar = (7, 193 - seed % 64, 96)  # a different shade of green for each seed
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            if y < 36:
                pixel = bar
            elif 56 <= y < post_end and 16 <= x < width - 16:
                pixel = (236, 236, 236)
            elif post_end + 12 <= y < post_end + 28 and 16 <= x < 16 + likes_width:
                pixel = (250, 81, 81)
            else:
                pixel = (255, 255, 255)
            row.extend(pixel)
        rows.append(row)
    return _png(width, height, rows)


def load() -> int:
    """The campaign (made once) and its entries from the demo customers that exist by now
    (``distribution.load_orders`` makes them, so seed it after that; a later seed fills in
    the entries a first one could not). Returns entries made."""
    deal = db.session.scalars(sa.select(Deal).where(Deal.title == DEAL)).first()
    bd = db.session.scalars(sa.select(User).where(User.username == "bd")).first()
    cs = db.session.scalars(sa.select(User).where(User.username == "cs")).first()
    if deal is None or bd is None or cs is None:
        return 0
    campaign = db.session.scalars(sa.select(Campaign).order_by(Campaign.id)).first()
    if campaign is None:
        campaign = service.create_campaign(bd, deal_id=deal.id, meals=5, payer="platform")
    if not service.taking_entries(campaign):
        return 0
    made = 0
    for seed, (phone, likes, verified) in enumerate(ENTRIES, start=1):
        shopper = db.session.scalars(sa.select(User).where(User.phone == phone)).first()
        if shopper is None or service.my_entry(campaign.id, shopper) is not None:
            continue
        entry = service.submit_entry(campaign.id, shopper, screenshot(seed), likes)
        if verified is not None:
            service.review_entry(entry.id, cs, verified=True, likes=verified)
        made += 1
    return made
