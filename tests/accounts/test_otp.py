"""Shopper login with a one-time SMS code."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from marketplace.accounts.models import OtpChallenge, Role, User
from marketplace.core.db import db
from tests.factories import last_code, make_user

PHONE = "13812345678"


def send(client, phone=PHONE, **kwargs):
    return client.post("/api/v1/auth/otp", json={"phone": phone}, **kwargs)


def exchange(client, code, phone=PHONE):
    return client.post("/api/v1/auth/token", json={"phone": phone, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_is_sent_and_stored_only_as_a_hash(app, client, sms):
    response = send(client, "+86 138-1234-5678")

    assert response.status_code == 202
    assert response.get_json() == {"phone": PHONE, "expires_in": 300, "resend_after": 60}
    code = last_code(sms, PHONE)
    with app.app_context():
        stored = db.session.scalars(sa.select(OtpChallenge)).one()
        assert stored.code_hash != code and code not in stored.code_hash
        assert len(stored.code_hash) == 64


def test_right_code_registers_a_shopper_and_returns_a_token(app, client, sms):
    send(client)

    response = exchange(client, last_code(sms, PHONE))

    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith("lnl_") and body["token_type"] == "Bearer"
    assert body["user"]["phone"] == PHONE and body["user"]["roles"] == ["shopper"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == body["user"]["id"]


def test_second_login_reuses_the_account(app, client, sms, clock):
    send(client)
    first = exchange(client, last_code(sms, PHONE)).get_json()["user"]["id"]
    clock.advance(minutes=2)
    app.extensions["linli.limiter"].storage.reset()  # per-number send limit is not under test

    send(client)
    second = exchange(client, last_code(sms, PHONE)).get_json()["user"]["id"]

    assert first == second
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_wrong_code_is_rejected_and_counted(app, client, sms):
    send(client)
    code = last_code(sms, PHONE)

    response = exchange(client, wrong(code))

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "otp_invalid"
    assert "4 tries left" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.scalars(sa.select(OtpChallenge.attempts)).one() == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_five_wrong_tries_burn_the_code(client, sms):
    send(client)
    code = last_code(sms, PHONE)
    codes = [exchange(client, wrong(code)).get_json()["error"]["code"] for _ in range(5)]

    after = exchange(client, code)

    assert codes == ["otp_invalid"] * 4 + ["otp_exhausted"]
    assert after.status_code == 401
    assert after.get_json()["error"]["code"] == "otp_exhausted"


def test_code_expires_after_five_minutes(client, sms, clock):
    send(client)
    code = last_code(sms, PHONE)

    clock.advance(minutes=5)
    response = exchange(client, code)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "otp_expired"


def test_code_still_works_just_before_expiry(client, sms, clock):
    send(client)
    clock.advance(minutes=4, seconds=59)

    assert exchange(client, last_code(sms, PHONE)).status_code == 201


def test_a_code_works_once(client, sms):
    send(client)
    code = last_code(sms, PHONE)
    assert exchange(client, code).status_code == 201

    again = exchange(client, code)

    assert again.status_code == 401
    assert again.get_json()["error"]["code"] == "otp_invalid"


def test_a_new_code_replaces_the_old_one(app, client, sms, clock):
    send(client)
    old = last_code(sms, PHONE)
    clock.advance(minutes=1)
    app.extensions["linli.limiter"].storage.reset()
    send(client)
    new = last_code(sms, PHONE)
    if new == old:  # one in a million: the new code happens to equal the old
        return

    assert exchange(client, old).status_code == 401
    assert exchange(client, new).status_code == 201


def test_no_code_requested(client):
    response = exchange(client, "123456")

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "otp_invalid"


def test_sending_is_rate_limited_per_number(client, sms):
    assert send(client).status_code == 202

    again = send(client)

    assert again.status_code == 429
    assert again.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(again.headers["Retry-After"]) <= 60
    assert len(sms.messages_to(PHONE)) == 1
    assert send(client, "13900000001").status_code == 202  # another number is not affected


def test_sending_is_rate_limited_per_ip(client, sms):
    statuses = [
        send(client, f"137{i:08d}", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code
        for i in range(21)
    ]

    assert statuses == [202] * 20 + [429]
    other_ip = send(client, "13600000000", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other_ip.status_code == 202


def test_bad_phone_numbers_are_422_and_write_nothing(app, client, sms):
    for phone in ["12345", "23812345678", "1381234567", "138123456789", "+1 415 555 0100", ""]:
        response = send(client, phone)
        assert response.status_code == 422, phone
        assert response.get_json()["error"]["code"] == "validation_error"
        assert "phone" in response.get_json()["error"]["fields"]
    assert sms.outbox == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OtpChallenge)) == 0


def test_staff_cannot_log_in_by_sms(app, client, sms):
    user_id = make_user(app, Role.CS, username="kefu")
    with app.app_context():
        db.session.get(User, user_id).phone = PHONE
        db.session.commit()
    send(client)

    response = exchange(client, last_code(sms, PHONE))

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "password_login_required"


def test_concurrent_use_of_one_code_logs_in_once(app, sms):
    clients = [app.test_client() for _ in range(8)]
    send(clients[0])
    code = last_code(sms, PHONE)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def attempt(c):
        barrier.wait()
        statuses.append(exchange(c, code).status_code)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [201] + [401] * (len(clients) - 1)
