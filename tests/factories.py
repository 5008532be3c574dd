"""Factories: make accounts and log them in the way a real client would."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient

from marketplace.accounts import service
from marketplace.accounts.models import Role
from marketplace.core.db import db

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


@dataclass
class Account:
    id: int
    username: str | None
    phone: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_user(
    app: Flask,
    *roles: Role,
    username: str | None = None,
    password: str = PASSWORD,
    must_change_password: bool = False,
) -> int:
    username = username or f"user{next(_seq)}"
    with app.app_context():
        user = service.create_user_with_password(
            username, password, roles or [Role.BD], must_change_password=must_change_password
        )
        db.session.commit()
        return user.id


def login_password(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def staff(app: Flask, client: FlaskClient, *roles: Role, **kwargs) -> Account:
    username = kwargs.pop("username", None) or f"staff{next(_seq)}"
    user_id = make_user(app, *roles, username=username, **kwargs)
    return Account(user_id, username, None, login_password(client, username))


def last_code(sms, phone: str) -> str:
    messages = sms.messages_to(phone)
    assert messages, f"no SMS was sent to {phone}"
    return re.search(r"\d{6}", messages[-1]).group(0)


def shopper(client: FlaskClient, sms, phone: str | None = None) -> Account:
    phone = phone or f"139{next(_seq):08d}"
    assert client.post("/api/v1/auth/otp", json={"phone": phone}).status_code == 202
    code = last_code(sms, phone)
    response = client.post("/api/v1/auth/token", json={"phone": phone, "code": code})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return Account(body["user"]["id"], None, phone, body["token"])


# -- merchants -----------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ZHAOTONG = {"lat": 27.3383, "lng": 103.7172}


def make_merchant(client: FlaskClient, bd: Account, **fields) -> dict:
    body = {
        "name": fields.pop("name", f"测试商家{next(_seq)}"),
        "category": fields.pop("category", "hotpot-bbq"),
        "address": "昭阳区龙泉路 1 号",
        "location": ZHAOTONG,
        "phone": "0870-2123456",
        **fields,
    }
    response = client.post("/api/v1/merchants", json=body, headers=bd.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sign(
    client: FlaskClient,
    bd: Account,
    merchant_id: int,
    kind: str,
    data: bytes = PDF,
    filename: str = "contract.pdf",
    signed_on: str = "2026-11-20",
):
    import io

    return client.post(
        f"/api/v1/merchants/{merchant_id}/contracts",
        data={
            "kind": kind,
            "signatory": "张老板",
            "signed_on": signed_on,
            "file": (io.BytesIO(data), filename),
        },
        headers=bd.headers,
        content_type="multipart/form-data",
    )


CONTRACT_KINDS = ("entry_agreement", "service_contract", "service_schedule")


def move(client: FlaskClient, bd: Account, merchant_id: int, stage: str, **extra):
    return client.post(
        f"/api/v1/merchants/{merchant_id}/stage", json={"stage": stage, **extra}, headers=bd.headers
    )


def live_merchant(client: FlaskClient, bd: Account, **fields) -> dict:
    merchant = make_merchant(client, bd, **fields)
    for kind in CONTRACT_KINDS:
        assert sign(client, bd, merchant["id"], kind).status_code == 201
    for stage in ("negotiating", "contracted", "live"):
        assert move(client, bd, merchant["id"], stage).status_code == 200
    return client.get(f"/api/v1/merchants/{merchant['id']}", headers=bd.headers).get_json()


def portal_account(
    app: Flask, client: FlaskClient, bd: Account, merchant_id: int, role: str = "owner"
) -> Account:
    """A merchant-staff account that has already replaced its initial password."""
    username = f"{role}{next(_seq)}"
    created = client.post(
        f"/api/v1/merchants/{merchant_id}/staff",
        headers=bd.headers,
        json={"username": username, "role": role},
    )
    assert created.status_code == 201, created.get_json()
    token = login_password(client, username, created.get_json()["initial_password"])
    changed = client.post(
        "/api/v1/me/password",
        headers={"Authorization": f"Bearer {token}"},
        json={"current_password": created.get_json()["initial_password"], "new_password": PASSWORD},
    )
    assert changed.status_code == 204
    return Account(created.get_json()["account"]["user_id"], username, None, token)


# -- deals ---------------------------------------------------------------------------------

DEAL_DEFAULTS = {
    "flash": {"title": "9.9元秒杀双人餐", "list_price": 5800, "sale_price": 990,
              "settlement_price": 990, "stock": 50, "validity_days": 30,
              "sale_starts_at": "2026-11-23T10:00:00+08:00",
              "sale_ends_at": "2026-11-26T22:00:00+08:00"},
    "small_set": {"title": "四人小聚套餐", "party_size": 4, "list_price": 26800,
                  "sale_price": 15800, "settlement_price": 12800, "stock": 200,
                  "validity_days": 30, "commission_l1": 800, "commission_l2": 200},
    "large_set": {"title": "六人招牌大套餐", "party_size": 6, "list_price": 58800,
                  "sale_price": 39800, "settlement_price": 32000, "stock": 100,
                  "validity_days": 60, "commission_l1": 1500, "commission_l2": 500},
}  # fmt: skip


def deal_body(merchant_id: int, kind: str = "small_set", **overrides) -> dict:
    return {"merchant_id": merchant_id, "type": kind, **DEAL_DEFAULTS[kind], **overrides}


def make_deal(
    client: FlaskClient,
    staff_account: Account,
    merchant_id: int,
    kind: str = "small_set",
    **overrides,
) -> dict:
    response = client.post(
        "/api/v1/deals",
        json=deal_body(merchant_id, kind, **overrides),
        headers=staff_account.headers,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def put_live(app: Flask, deal_id: int) -> None:
    """Factory shortcut: publish a deal now without using a slot (one deal per slot would
    otherwise limit a test to two live deals a day). The slot path has its own tests."""
    from marketplace.deals import service as deals
    from marketplace.deals.models import DealStatus

    with app.app_context():
        deal = deals.get_deal(deal_id)
        deal.status = DealStatus.SCHEDULED.value
        deals.go_live(deal, actor_id=None)
        db.session.commit()


def live_deal(
    app: Flask,
    client: FlaskClient,
    bd: Account,
    merchant_id: int,
    kind: str = "small_set",
    **overrides,
) -> dict:
    deal = make_deal(client, bd, merchant_id, kind, **overrides)
    put_live(app, deal["id"])
    return deal


# -- buying --------------------------------------------------------------------------------


def quick_shopper(app: Flask, phone: str | None = None) -> Account:
    """A shopper made directly (no SMS round trip), for tests that need many buyers."""
    from marketplace.accounts.models import User

    phone = phone or f"138{next(_seq):08d}"
    with app.app_context():
        user = User(phone=phone, display_name=f"用户{phone[-4:]}")
        user.grant(Role.SHOPPER)
        db.session.add(user)
        db.session.flush()
        issued = service.issue_token(user)
        db.session.commit()
        return Account(user.id, None, phone, issued.token)


def buy(
    client: FlaskClient, shopper: Account, deal_id: int, quantity: int = 1, key: str | None = None
):
    headers = dict(shopper.headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/v1/orders", json={"deal_id": deal_id, "quantity": quantity}, headers=headers
    )


def order_status(app: Flask, order_id: int) -> str:
    from marketplace.orders.models import Order

    with app.app_context():
        return db.session.get(Order, order_id).status


def pay(app: Flask, order: dict, *, wait: bool = True, via: str = "webhook") -> None:
    """Pay with the test card at the local payment server, as Stripe.js would. Then wait
    for the provider's webhook to mark the order paid (about a second), or, with
    ``via="reconcile"``, ask the provider at once (what the reconciliation job does)."""
    import time

    from marketplace.payments import sync
    from marketplace.providers.stripe import stripe

    with app.app_context():
        intent = stripe().pay_with_test_card(order["payment"]["payment_intent"])
    assert intent["status"] == "succeeded", intent
    if not wait:
        return
    if via == "reconcile":
        with app.app_context():
            from marketplace.orders.models import Order

            assert sync.sync_payment(db.session.get(Order, order["order"]["id"])) in (
                "paid",
                "already_paid",
            )
            db.session.commit()
        return
    for _ in range(100):
        if order_status(app, order["order"]["id"]) != "pending_payment":
            return
        time.sleep(0.05)
    raise AssertionError("the payment webhook never arrived")
