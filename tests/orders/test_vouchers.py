"""Vouchers: codes, redemption once by the right shop, and the lists."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.jobs.schedule import BY_NAME
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.models import Voucher
from tests.factories import (
    buy,
    live_deal,
    live_merchant,
    order_status,
    pay,
    portal_account,
    quick_shopper,
    staff,
)


@pytest.fixture
def bought(app, client, clock, live_server):
    bd = staff(app, client, Role.BD)
    a = live_merchant(client, bd, name="A店")
    b = live_merchant(client, bd, name="B店")
    deal = live_deal(app, client, bd, a["id"], "small_set", unavailable_weekdays=[7])
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, deal["id"], 2).get_json()
    pay(app, checkout, via="reconcile")
    codes = [
        v["code"]
        for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    ]
    return {
        "codes": codes,
        "shopper": shopper,
        "deal": deal,
        "a_clerk": portal_account(app, client, bd, a["id"], "clerk"),
        "b_owner": portal_account(app, client, bd, b["id"], "owner"),
    }


def redeem(client, account, code):
    return client.post(f"/api/v1/vouchers/{code}/redeem", headers=account.headers)


def set_status(app, code: str, **values) -> None:
    with app.app_context():
        table = Voucher.__table__
        db.session.execute(sa.update(table).where(table.c.code == code).values(**values))
        db.session.commit()


def test_another_shop_cannot_redeem(client, bought):
    response = redeem(client, bought["b_owner"], bought["codes"][0])

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "wrong_merchant"
    assert redeem(client, bought["a_clerk"], bought["codes"][0]).status_code == 200


def test_shoppers_and_staff_cannot_redeem(app, client, bought):
    bd = staff(app, client, Role.BD)

    assert redeem(client, bought["shopper"], bought["codes"][0]).status_code == 403
    assert redeem(client, bd, bought["codes"][0]).status_code == 403


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"status": "refunded"}, 409, "voucher_refunded"),
        ({"status": "expired"}, 409, "voucher_expired"),
    ],
)
def test_refunded_and_expired_vouchers_are_refused(app, client, bought, change, status, code):
    set_status(app, bought["codes"][0], **change)

    response = redeem(client, bought["a_clerk"], bought["codes"][0])

    assert response.status_code == status and response.get_json()["error"]["code"] == code


def relogged(app, account):
    """A fresh token for ``account`` after the clock moved past its staff token's life."""
    from marketplace.accounts import service
    from marketplace.accounts.models import User
    from tests.factories import Account

    with app.app_context():
        issued = service.issue_token(db.session.get(User, account.id))
        db.session.commit()
        return Account(account.id, account.username, None, issued.token)


def test_validity_dates_and_unavailable_days(app, client, bought, clock):
    code = bought["codes"][0]
    clock.advance(days=6)  # Sunday 2026-11-29: the deal is not usable on Sundays
    sunday = redeem(client, relogged(app, bought["a_clerk"]), code)
    clock.advance(days=25)  # 2026-12-24: one day past valid_until (2026-12-23)
    late = redeem(client, relogged(app, bought["a_clerk"]), code)

    assert sunday.get_json()["error"]["code"] == "voucher_not_usable_today"
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "voucher_expired"


def test_unknown_and_mistyped_codes(client, bought):
    code = bought["codes"][0]
    typo = code[:-1] + str((int(code[-1]) + 1) % 10)
    unknown = "00000000000" + vouchers.check_digit("00000000000")

    assert redeem(client, bought["a_clerk"], typo).get_json()["error"]["code"] == (
        "malformed_voucher_code"
    )
    assert redeem(client, bought["a_clerk"], "12345").status_code == 422
    missing = redeem(client, bought["a_clerk"], unknown)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "voucher_not_found"


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def test_a_code_issued_under_the_old_check_digit_still_redeems(app, client, bought):
    """Codes were Luhn-checked before Damm; those already issued keep working."""
    body = "12345678901"
    old = body + _luhn_digit(body)
    assert not vouchers.well_formed(old)  # Damm would call it a typo
    with app.app_context():
        table = Voucher.__table__
        issued = bought["codes"][0]
        db.session.execute(sa.update(table).where(table.c.code == issued).values(code=old))
        db.session.commit()

    response = redeem(client, bought["a_clerk"], old)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "redeemed"


def test_concurrent_redemption_succeeds_once(app, bought):
    code = bought["codes"][0]
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def attempt() -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(redeem(c, bought["a_clerk"], code).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [200] + [409] * 5
    with app.app_context():
        voucher = db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).one()
        assert voucher.redeemed_by_id == bought["a_clerk"].id


def test_lists_and_qr(client, bought):
    redeem(client, bought["a_clerk"], bought["codes"][0])

    mine = client.get("/api/v1/vouchers?status=active", headers=bought["shopper"].headers)
    shop = client.get(
        "/api/v1/merchant/vouchers?status=redeemed", headers=bought["a_clerk"].headers
    )
    other_shop = client.get("/api/v1/merchant/vouchers", headers=bought["b_owner"].headers)
    qr = client.get(
        f"/api/v1/vouchers/{bought['codes'][1]}/qr.png", headers=bought["shopper"].headers
    )
    someone_elses = client.get(
        f"/api/v1/vouchers/{bought['codes'][1]}/qr.png", headers=bought["b_owner"].headers
    )

    assert [v["code"] for v in mine.get_json()["items"]] == [bought["codes"][1]]
    assert [v["code"] for v in shop.get_json()["items"]] == [bought["codes"][0]]
    assert other_shop.get_json()["total"] == 0
    assert qr.status_code == 200 and qr.data.startswith(b"\x89PNG") and qr.mimetype == "image/png"
    assert someone_elses.status_code == 403


def test_expiry_completes_an_order_whose_other_vouchers_were_used(app, client, bought, clock):
    """The expiry job is a money event too: an order with one voucher used and the other
    expired is completed (none active, one redeemed); one with nothing used stays paid."""
    used, unused = bought["codes"]
    assert redeem(client, bought["a_clerk"], used).status_code == 200
    other = buy(client, quick_shopper(app), bought["deal"]["id"], 1).get_json()
    pay(app, other, via="reconcile")
    with app.app_context():
        order_id = db.session.scalar(sa.select(Voucher.order_id).where(Voucher.code == used))
    clock.advance(days=31)  # 2026-12-24: one day past valid_until (2026-12-23)

    with app.app_context():
        first = BY_NAME["expire_vouchers"].run()
        db.session.commit()
        again = BY_NAME["expire_vouchers"].run()
        expired_audits = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "voucher.expired")
        )
        statuses = dict(db.session.execute(sa.select(Voucher.code, Voucher.status)).all())

    assert first == {"expired": 2} and again == {"expired": 0}
    assert (statuses[used], statuses[unused]) == ("redeemed", "expired")
    assert order_status(app, order_id) == "completed"
    assert order_status(app, other["order"]["id"]) == "paid"  # expired unused: CS calls
    assert expired_audits == 2


def test_a_voucher_expired_during_the_redemption_says_expired(client, bought, monkeypatch):
    """The expiry job can win the race between the checks and the redemption: the clerk is
    told the voucher expired, not that it was already used."""
    from marketplace.orders import actions

    redeemed = actions.voucher_redeemed

    def expiry_job_wins(voucher, *, by_id, **attempt):
        db.session.execute(
            sa.update(Voucher.__table__)
            .where(Voucher.__table__.c.id == voucher.id)
            .values(status="expired")
        )
        return redeemed(voucher, by_id=by_id, **attempt)

    monkeypatch.setattr(actions, "voucher_redeemed", expiry_job_wins)
    response = redeem(client, bought["a_clerk"], bought["codes"][0])

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "voucher_expired"
