"""Two live shops with owners and clerks, and a shopper's paid vouchers at the first: the
world of the merchant portal's tests (API and pages)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from marketplace.accounts.models import Role
from tests.factories import (
    Account,
    buy,
    live_deal,
    live_merchant,
    pay,
    portal_account,
    quick_shopper,
    staff,
)


@dataclass
class Shops:
    a_id: int
    b_id: int
    a_owner: Account
    a_clerk: Account
    a_clerk2: Account
    b_clerk: Account
    deal: dict
    b_deal: dict
    shopper: Account
    codes: list[str]  # the shopper's vouchers at A
    b_codes: list[str]  # the shopper's voucher at B
    bd: Account
    order_id: int  # the shopper's order at A


def two_shops(app: Flask, client: FlaskClient, *, units: int = 3) -> Shops:
    bd = staff(app, client, Role.BD)
    a = live_merchant(client, bd, name="老昭通烧烤")
    b = live_merchant(client, bd, name="隔壁火锅")
    deal = live_deal(app, client, bd, a["id"], "small_set")
    b_deal = live_deal(app, client, bd, b["id"], "small_set", title="隔壁双人锅")
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, deal["id"], units).get_json()
    pay(app, checkout, via="reconcile")
    pay(app, buy(client, shopper, b_deal["id"], 1).get_json(), via="reconcile")
    mine = client.get("/api/v1/vouchers?page_size=50", headers=shopper.headers).get_json()
    codes = sorted(v["code"] for v in mine["items"] if v["deal"]["id"] == deal["id"])
    b_codes = [v["code"] for v in mine["items"] if v["deal"]["id"] == b_deal["id"]]
    return Shops(
        a_id=a["id"],
        b_id=b["id"],
        a_owner=portal_account(app, client, bd, a["id"], "owner"),
        a_clerk=portal_account(app, client, bd, a["id"], "clerk"),
        a_clerk2=portal_account(app, client, bd, a["id"], "clerk"),
        b_clerk=portal_account(app, client, bd, b["id"], "clerk"),
        deal=deal,
        b_deal=b_deal,
        shopper=shopper,
        codes=codes,
        b_codes=b_codes,
        bd=bd,
        order_id=checkout["order"]["id"],
    )


def fresh_token(app: Flask, account: Account) -> Account:
    """A new token for ``account`` after the clock moved past its staff token's life."""
    from marketplace.accounts import service
    from marketplace.accounts.models import User
    from marketplace.core.db import db

    with app.app_context():
        issued = service.issue_token(db.session.get(User, account.id))
        db.session.commit()
        return Account(account.id, account.username, None, issued.token)
