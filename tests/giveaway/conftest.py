"""A giveaway's world: a live shop with a deal, BD and customer service, shoppers, and
screenshots (distinct PNG bytes unless a test sends the same twice)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from marketplace.accounts.models import Role
from tests.factories import PNG, live_deal, live_merchant, quick_shopper, staff

_images = itertools.count(1)


def screenshot() -> bytes:
    """A PNG no other entry sends (its bytes, so its sha256, differ)."""
    return PNG + next(_images).to_bytes(8, "big")


def code_of(response) -> str:
    return response.get_json()["error"]["code"]


def enter(client, shopper, campaign_id: int, likes: int = 10, image: bytes | None = None):
    from io import BytesIO

    return client.post(
        f"/api/v1/giveaways/{campaign_id}/entries",
        data={"likes": str(likes), "file": (BytesIO(image or screenshot()), "moments.png")},
        headers=shopper.headers,
        content_type="multipart/form-data",
    )


def review(client, cs, entry_id: int, verified: bool = True, likes: int | None = None, reason=""):
    body: dict[str, Any] = {"verified": verified, "reason": reason}
    if likes is not None:
        body["likes"] = likes
    return client.post(f"/api/v1/giveaway-entries/{entry_id}/review", json=body, headers=cs.headers)


@pytest.fixture
def world(app, client, clock):
    return build_world(app, client)


def build_world(app, client) -> dict:
    bd = staff(app, client, Role.BD)
    cs = staff(app, client, Role.CS)
    shop = live_merchant(client, bd)
    deal = live_deal(app, client, bd, shop["id"])
    return {"bd": bd, "cs": cs, "shop": shop, "deal": deal}


def open_campaign(client, world, meals: int = 5, payer: str = "platform", **extra) -> dict:
    response = client.post(
        "/api/v1/giveaways",
        json={"deal_id": world["deal"]["id"], "meals": meals, "payer": payer, **extra},
        headers=world["bd"].headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def shoppers(app):
    def make(count: int):
        return [quick_shopper(app) for _ in range(count)]

    return make
