"""Redemption on a poor network: an attempt carries an Idempotency-Key, so a retry after a
lost answer reports the first result (success) instead of "already used"; two clerks, or
one clerk's double tap, redeem once (real threads against the real database)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from marketplace.core.db import db
from marketplace.ledger.models import LedgerTxn
from marketplace.vouchers.models import Voucher
from tests.merchants.world import two_shops


@pytest.fixture
def shops(app, client, clock, live_server):
    return two_shops(app, client)


def redeem(client, account, code, key=None):
    headers = dict(account.headers)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/vouchers/{code}/redeem", headers=headers)


def ledger_postings(app, code):
    with app.app_context():
        voucher_id = db.session.scalar(sa.select(Voucher.id).where(Voucher.code == code))
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LedgerTxn)
            .where(LedgerTxn.voucher_id == voucher_id, LedgerTxn.kind == "voucher_redeemed")
        )


def test_a_retry_with_the_same_key_gets_the_first_result(app, client, shops):
    code = shops.codes[0]
    first = redeem(client, shops.a_clerk, code, key="attempt-1")
    retry = redeem(client, shops.a_clerk, code, key="attempt-1")
    new_attempt = redeem(client, shops.a_clerk, code, key="attempt-2")
    no_key = redeem(client, shops.a_clerk, code)

    assert first.status_code == 200 and first.get_json()["status"] == "redeemed"
    assert retry.status_code == 200 and retry.get_json() == first.get_json()
    assert new_attempt.status_code == 409
    assert new_attempt.get_json()["error"]["code"] == "already_redeemed"
    assert no_key.status_code == 409
    assert ledger_postings(app, code) == 1


def test_another_clerks_retry_with_the_same_key_is_not_the_first_result(client, shops):
    """The key belongs to the attempt of one clerk: a colleague who happens to send the same
    one is told the voucher was used."""
    code = shops.codes[0]
    assert redeem(client, shops.a_clerk, code, key="shared").status_code == 200
    other = redeem(client, shops.a_clerk2, code, key="shared")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "already_redeemed"


def test_a_refusal_is_not_remembered_but_asked_again(client, shops):
    """A key that was refused (another shop's clerk) carries no result: a retry is refused
    the same way, and the key redeems nothing later."""
    code = shops.codes[0]
    refused = redeem(client, shops.b_clerk, code, key="k-b")
    again = redeem(client, shops.b_clerk, code, key="k-b")
    assert refused.status_code == again.status_code == 403
    assert again.get_json()["error"]["code"] == "wrong_merchant"
    assert redeem(client, shops.a_clerk, code, key="k-a").status_code == 200


def test_a_key_too_long_is_a_validation_error(client, shops):
    response = redeem(client, shops.a_clerk, shops.codes[0], key="x" * 81)
    assert response.status_code == 422


def concurrently(app, calls):
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        c = app.test_client()
        barrier.wait()
        results[i] = call(c)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_double_tap_redeems_once_and_both_taps_say_success(app, shops):
    """One confirmation form sent four times at once (a double tap, a web view resending):
    one redemption, and every answer is the success of that one."""
    code = shops.codes[0]
    answers = concurrently(app, [lambda c: redeem(c, shops.a_clerk, code, key="tap-tap")] * 4)

    assert [a.status_code for a in answers] == [200] * 4
    assert {a.get_json()["redeemed_at"] for a in answers} != {None}
    assert len({a.get_json()["redeemed_at"] for a in answers}) == 1
    assert ledger_postings(app, code) == 1


def test_two_clerks_scanning_the_same_code_redeem_once(app, shops):
    code = shops.codes[0]
    answers = concurrently(
        app,
        [
            lambda c: redeem(c, shops.a_clerk, code, key="clerk-1"),
            lambda c: redeem(c, shops.a_clerk2, code, key="clerk-2"),
            lambda c: redeem(c, shops.a_owner, code, key="owner"),
        ],
    )

    assert sorted(a.status_code for a in answers) == [200, 409, 409]
    refused = [a.get_json()["error"]["code"] for a in answers if a.status_code == 409]
    assert refused == ["already_redeemed", "already_redeemed"]
    assert ledger_postings(app, code) == 1
    with app.app_context():
        winner = db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).one()
    assert winner.redemption_key in {"clerk-1", "clerk-2", "owner"}
