"""Fixtures for distribution: a shop with a deal, and distributors made through the API."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from tests.factories import (
    Account,
    buy,
    live_deal,
    live_merchant,
    pay,
    quick_shopper,
    staff,
)


@pytest.fixture
def shop(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    # margin 3000 per unit; commission 800 + 200 leaves 2000 for a tier bonus
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=100)
    return {"bd": bd, "merchant": merchant, "deal": deal}


def join(client, account: Account, invite: str | None = None, **extra):
    body = {**({"invite_code": invite} if invite else {}), **extra}
    return client.post("/api/v1/distributors", json=body, headers=account.headers)


def new_distributor(app, client, invite: str | None = None) -> tuple[Account, dict]:
    account = quick_shopper(app)
    response = join(client, account, invite)
    assert response.status_code == 201, response.get_json()
    return account, response.get_json()


def link(client, account: Account, deal_id: int | None = None) -> str:
    response = client.post(
        "/api/v1/share-links", json={"deal_id": deal_id}, headers=account.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["code"]


def purchase(
    app, client, shopper: Account, deal_id: int, quantity: int = 1, ref: str | None = None
) -> dict:
    body_ref = {"ref": ref} if ref else {}
    response = client.post(
        "/api/v1/orders",
        json={"deal_id": deal_id, "quantity": quantity, **body_ref},
        headers=shopper.headers,
    )
    assert response.status_code == 201, response.get_json()
    checkout = response.get_json()
    pay(app, checkout, via="reconcile")
    return checkout


__all__ = ["buy", "join", "link", "new_distributor", "purchase"]
