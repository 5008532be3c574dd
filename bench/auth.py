"""Auth path costs: an authenticated GET /me, an OTP login, a password login.

Run: make bench (or .venv/bin/python bench/auth.py). Needs Redis (DB 13 is flushed).

    .venv/bin/python bench/auth.py --wrk [--postgres] [--seconds 5]

--wrk serves the app with gunicorn (-w 4 -k gthread --threads 4) on a throwaway database
(SQLite, or with --postgres an empty PostgreSQL database made and dropped on the server at
BENCH_POSTGRES_URL) and loads GET /api/v1/me as a shopper with wrk, beside /healthz in the
same run (bench/wrk.py), instead of the in-process figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis

from bench.common import bench_app, measure
from bench.processes import (
    ROOT,
    THREADS,
    VENV_BIN,
    WORKERS,
    bench_world,
    gunicorn,
    server_env,
)
from bench.wrk import side_by_side
from marketplace.accounts import service
from marketplace.accounts.models import Role
from marketplace.core.db import db


def under_load(args: argparse.Namespace) -> None:
    """GET /me as a shopper under gunicorn and wrk, beside /healthz."""
    with bench_world(args.postgres) as (instance, database):
        env = server_env(instance, database)
        flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        os.environ.update(env)
        from marketplace import create_app
        from marketplace.accounts.models import User

        app = create_app()
        with app.app_context():
            shopper = User(phone="13800000001", display_name="压测用户")
            shopper.grant(Role.SHOPPER)
            db.session.add(shopper)
            db.session.flush()
            token = service.issue_token(shopper).token
            db.session.commit()
        print(f"database: {database.split(':')[0]}")
        with gunicorn(env, workers=args.workers, threads=args.threads) as base:
            print(
                f"gunicorn -w {args.workers} -k gthread --threads {args.threads}, "
                f"wrk -t{args.wrk_threads} -c{args.connections}, {args.seconds:.0f} s each"
            )
            side_by_side(
                base,
                [("GET /api/v1/me (shopper)", "/api/v1/me")],
                seconds=args.seconds,
                rounds=args.rounds,
                threads=args.wrk_threads,
                connections=args.connections,
                headers={"Authorization": f"Bearer {token}"},
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wrk", action="store_true", help="gunicorn and wrk, beside /healthz")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if args.wrk:
        under_load(args)
        return
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
