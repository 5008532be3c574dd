"""Auth path costs: an authenticated GET /me, an OTP login, a password login.

Run: make bench (or .venv/bin/python bench/auth.py). Needs Redis (DB 14 is flushed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis

from bench.common import bench_app, measure
from marketplace.accounts import service
from marketplace.accounts.models import Role
from marketplace.core.db import db


def main() -> None:
    app = bench_app()
    Redis.from_url(app.config["LINLI_REDIS_URL"]).flushdb()
    client = app.test_client()
    with app.app_context():
        service.create_user_with_password("bench", "bench-password-1", [Role.BD])
        db.session.commit()
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    print(f"backend: {backend}")

    token = client.post(
        "/api/v1/auth/token", json={"username": "bench", "password": "bench-password-1"}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    measure("GET /api/v1/me (bearer token)", lambda: client.get("/api/v1/me", headers=headers), 500)

    def password_login() -> None:
        r = client.post(
            "/api/v1/auth/token",
            json={"username": "bench", "password": "bench-password-1"},
            environ_base={
                "REMOTE_ADDR": f"10.0.{password_login.n // 250}.{password_login.n % 250}"
            },
        )
        password_login.n += 1
        assert r.status_code == 201, r.get_json()

    password_login.n = 0
    measure("POST /auth/token (password, argon2)", password_login, 50)

    sms = app.extensions["linli.sms"]
    counter = iter(range(10**6))

    def otp_login() -> None:
        n = next(counter)
        phone = f"138{n:08d}"
        ip = {"REMOTE_ADDR": f"10.1.{n // 250}.{n % 250}"}
        assert (
            client.post("/api/v1/auth/otp", json={"phone": phone}, environ_base=ip).status_code
            == 202
        )
        code = re.search(r"\d{6}", sms.messages_to(phone)[-1]).group(0)
        r = client.post("/api/v1/auth/token", json={"phone": phone, "code": code})
        assert r.status_code == 201, r.get_json()

    measure("OTP send + login (new shopper)", otp_login, 200)
    Redis.from_url(app.config["LINLI_REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
