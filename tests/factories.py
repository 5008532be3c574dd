"""Factories: build a test's world through the domain services, not over HTTP.

Each builder calls the service functions the API view calls (so every rule, audit row and
side effect is the real one) in a request context of the app, commits where the view
commits, and returns what the route would have answered, serialised by the route's own
schema. A world of a live merchant with a deal costs milliseconds this way instead of a
dozen requests; each route keeps its own HTTP tests. ``login_password``, ``shopper``,
``sign``, ``move`` and ``buy`` stay HTTP on purpose: tests use them as the requests they are.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from marketplace.accounts import service
from marketplace.accounts.models import Role
from marketplace.core.clock import frozen
from marketplace.core.db import db
from marketplace.distribution.distributors import largest_tier_bonus

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)
# What the Flask test client sends, so a session started by a builder looks like one
# started over HTTP (the sessions list shows both).
CLIENT = {"ip": "127.0.0.1", "user_agent": f"Werkzeug/{importlib.metadata.version('werkzeug')}"}


@contextmanager
def serving(app: Flask) -> Iterator[None]:
    """A request context like a view's: services, ``url_for`` and schemas work in it."""
    with app.test_request_context():
        yield


def answer(schema: Any, obj: Any) -> Any:
    """What a route with ``schema`` answers for ``obj``, as the client's ``get_json()``."""
    from flask import current_app

    return json.loads(current_app.json.dumps(schema.dump(obj)))


def _user(user_id: int):
    from marketplace.accounts.models import User

    return db.session.get(User, user_id)


@dataclass
class Account:
    id: int
    username: str | None
    phone: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def built_user(
    *roles: Role,
    user_id: int | None = None,
    phone: str | None = None,
    shop: tuple[int, Any] | None = None,
    save: bool = False,
):
    """A user with ``roles`` for the access rules tested as plain functions: unsaved unless
    ``save`` (then added and flushed, for rules that query). ``shop`` is ``(merchant_id,
    StaffRole)`` for a shop's owner or clerk."""
    from marketplace.accounts.models import User
    from merchants.models import MerchantStaff

    user = User(id=user_id, phone=phone, display_name="someone")
    for role in roles:
        user.grant(role)
    if shop is not None:
        user.grant(Role.MERCHANT_STAFF)
        user.merchant_membership = MerchantStaff(merchant_id=shop[0], role=shop[1].value)
    if save:
        db.session.add(user)
        db.session.flush()
    return user


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


def login(app: Flask, username: str, password: str = PASSWORD) -> str:
    """A password login through the accounts service (rate limits, audit, session row)."""
    with serving(app):
        issued = service.login_with_password(username, password, **CLIENT)
        db.session.commit()
        return issued.token


def staff(app: Flask, client: FlaskClient, *roles: Role, **kwargs) -> Account:
    username = kwargs.pop("username", None) or f"staff{next(_seq)}"
    user_id = make_user(app, *roles, username=username, **kwargs)
    return Account(user_id, username, None, login(app, username, kwargs.get("password", PASSWORD)))


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


def merchant_body(**fields) -> dict:
    return {
        "name": fields.pop("name", f"测试商家{next(_seq)}"),
        "category": fields.pop("category", "hotpot-bbq"),
        "address": "昭阳区龙泉路 1 号",
        "location": ZHAOTONG,
        "phone": "0870-2123456",
        **fields,
    }


def make_merchant(client: FlaskClient, bd: Account, **fields) -> dict:
    """A lead, as ``POST /merchants`` makes it (``merchants.service.create_merchant``)."""
    from merchants import service as merchants
    from merchants.schemas import MerchantCreateSchema, MerchantDetailSchema

    with serving(client.application):
        data = MerchantCreateSchema().load(merchant_body(**fields))
        merchant = merchants.create_merchant(data, _user(bd.id))
        db.session.commit()
        return answer(MerchantDetailSchema(), merchant)


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
    """A merchant taken the whole way a BD takes it: created, the three documents signed
    (each a stored file), then negotiating → contracted → live. One commit per step, as the
    requests would make, so versions and audit rows are the same."""
    from merchants import service as merchants
    from merchants.models import ContractKind, Stage
    from merchants.schemas import MerchantCreateSchema, MerchantDetailSchema

    with serving(client.application):
        actor = _user(bd.id)
        merchant = merchants.create_merchant(
            MerchantCreateSchema().load(merchant_body(**fields)), actor
        )
        db.session.commit()
        for kind in CONTRACT_KINDS:
            merchants.record_contract(
                merchant,
                ContractKind(kind),
                "张老板",
                date(2026, 11, 20),
                merchants.Upload(filename="contract.pdf", data=PDF),
                actor,
            )
            db.session.commit()
        for stage in ("negotiating", "contracted", "live"):
            merchants.change_stage(merchant, Stage(stage), actor)
            db.session.commit()
        return answer(MerchantDetailSchema(), merchant)


def portal_account(
    app: Flask, client: FlaskClient, bd: Account, merchant_id: int, role: str = "owner"
) -> Account:
    """A merchant-staff account that has already replaced its initial password: created by
    the BD, logged in with the initial password, changed it (the portal's first steps)."""
    from merchants import service as merchants
    from merchants.models import Merchant, StaffRole

    username = f"{role}{next(_seq)}"
    with serving(app):
        merchant = db.session.get(Merchant, merchant_id)
        link, initial = merchants.create_portal_account(
            merchant, username, StaffRole(role), _user(bd.id)
        )
        db.session.commit()
        user_id = link.user_id
        issued = service.login_with_password(username, initial, **CLIENT)
        db.session.commit()
        service.change_own_password(_user(user_id), initial, PASSWORD, session=issued.record)
        db.session.commit()
        return Account(user_id, username, None, issued.token)


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
    """A draft deal, as ``POST /deals`` makes it (``deals.service.create_deal``)."""
    from marketplace.deals import service as deals
    from marketplace.deals.schemas import DealCreateSchema, DealStaffSchema

    with serving(client.application):
        data = DealCreateSchema().load(deal_body(merchant_id, kind, **overrides))
        deal = deals.create_deal(data, _user(staff_account.id), max_tier_bonus=largest_tier_bonus())
        db.session.commit()
        return answer(DealStaffSchema(), deal)


def put_live(app: Flask, deal_id: int) -> None:
    """Put a draft deal on sale through the slot path: it was slotted, an hour ahead, in the
    latest free publishing slot that has already come (``seed.deals.past_free_slots``, on the
    platform's clock via ``core.clock.frozen``), and goes live now, as a publishing run
    that comes late does. Every rule of scheduling and going live runs; tests about the
    slots' timing drive ``deals.publishing`` themselves."""
    from marketplace.deals import publishing
    from marketplace.deals import service as deals
    from seed.deals import past_free_slots

    with app.app_context():
        deal = deals.get_deal(deal_id)
        slot = past_free_slots(1)[0]
        with frozen(slot.starts_at - timedelta(hours=1)):
            publishing.schedule(deal, slot.day, slot.at, _user(deal.created_by_id))
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


def live_deals(
    app: Flask, bd: Account, merchant_ids: list[int], kind: str = "small_set", **overrides
) -> list[dict]:
    """One live deal per entry of ``merchant_ids`` (in order), each made and put live like
    ``live_deal`` (through free past slots), in one transaction: for tests that need a
    catalog of hundreds."""
    from marketplace.deals import publishing
    from marketplace.deals import service as deals
    from marketplace.deals.schemas import DealCreateSchema, DealStaffSchema
    from seed.deals import past_free_slots

    made = []
    with serving(app):
        actor = _user(bd.id)
        slots = past_free_slots(len(merchant_ids))
        for merchant_id, slot in zip(merchant_ids, slots, strict=True):
            data = DealCreateSchema().load(deal_body(merchant_id, kind, **overrides))
            deal = deals.create_deal(data, actor, max_tier_bonus=largest_tier_bonus())
            made.append(answer(DealStaffSchema(), deal))
            with frozen(slot.starts_at - timedelta(hours=1)):
                publishing.schedule(deal, slot.day, slot.at, actor)
            deals.go_live(deal, actor_id=None)
            db.session.flush()
        db.session.commit()
    return made


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


def quick_shoppers(app: Flask, count: int) -> list[Account]:
    """``count`` shoppers made like ``quick_shopper`` in one transaction, for crowds."""
    from marketplace.accounts.models import User

    with app.app_context():
        made = []
        for _ in range(count):
            phone = f"138{next(_seq):08d}"
            user = User(phone=phone, display_name=f"用户{phone[-4:]}")
            user.grant(Role.SHOPPER)
            db.session.add(user)
            made.append(user)
        db.session.flush()
        accounts = [
            Account(user.id, None, user.phone, service.issue_token(user).token) for user in made
        ]
        db.session.commit()
        return accounts


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
