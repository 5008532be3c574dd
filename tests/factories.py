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
