"""Reviews after use, through the HTTP API against real databases and the local payment
server: one review per redeemed voucher by its shopper, the low-review ticket, the shop's
one public reply, staff hiding with an audited reason."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from PIL import Image

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.reviews.models import Review
from marketplace.tickets.models import Ticket
from tests.factories import (
    buy,
    live_deal,
    live_merchant,
    pay,
    portal_account,
    quick_shopper,
    staff,
)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def visit(app, client, clock, live_server):
    """A shopper's paid order of two vouchers, the first redeemed by the shop's clerk (the
    pages' tests use it too)."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"], "small_set", stock=10)
    shopper = quick_shopper(app)
    checkout = buy(client, shopper, deal["id"], 2).get_json()
    pay(app, checkout, via="reconcile")
    codes = sorted(
        v["code"]
        for v in client.get("/api/v1/vouchers", headers=shopper.headers).get_json()["items"]
    )
    clerk = portal_account(app, client, bd, merchant["id"], "clerk")
    redeemed = client.post(f"/api/v1/vouchers/{codes[0]}/redeem", headers=clerk.headers)
    assert redeemed.status_code == 200, redeemed.get_json()
    return {
        "bd": bd,
        "merchant": merchant,
        "deal": deal,
        "shopper": shopper,
        "order": checkout["order"],
        "codes": codes,
        "redeemed": codes[0],
        "unused": codes[1],
        "clerk": clerk,
    }


def review(client, account, code, stars=5, text="好吃，服务也好", photos=()):
    data = {"stars": str(stars), "text": text}
    files = [(io.BytesIO(p), f"p{i}.png") for i, p in enumerate(photos)]
    if files:
        data["photos"] = files
    return client.post(
        f"/api/v1/vouchers/{code}/review",
        data=data,
        headers=account.headers,
        content_type="multipart/form-data",
    )


def test_only_a_redeemed_voucher_is_reviewed_once_by_its_shopper(app, client, visit):
    unused = review(client, visit["shopper"], visit["unused"])
    assert unused.status_code == 409
    assert unused.get_json()["error"]["code"] == "voucher_not_redeemed"

    stranger = quick_shopper(app)
    other = review(client, stranger, visit["redeemed"])
    assert other.status_code == 404  # as if the code did not exist: it is not theirs to know
    assert other.get_json()["error"]["code"] == "voucher_not_found"

    first = review(client, visit["shopper"], visit["redeemed"], photos=[png(), png()])
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["stars"] == 5 and body["ticket_id"] is None and len(body["photos"]) == 2
    assert client.get(body["photos"][0]).status_code == 200

    again = review(client, visit["shopper"], visit["redeemed"], stars=1)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "review_exists"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 1


def test_one_review_per_voucher_is_held_by_the_database(app, client, visit):
    assert review(client, visit["shopper"], visit["redeemed"]).status_code == 201
    with app.app_context():
        first = db.session.scalars(sa.select(Review)).one()
        copy = Review(
            voucher_id=first.voucher_id,
            order_id=first.order_id,
            deal_id=first.deal_id,
            merchant_id=first.merchant_id,
            shopper_id=first.shopper_id,
            stars=3,
        )
        db.session.add(copy)
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize(
    ("stars", "text", "photos", "field"),
    [
        (0, "", 0, "stars"),
        (6, "", 0, "stars"),
        (5, "长" * 301, 0, "text"),
        (5, "", 4, "photos"),
    ],
)
def test_bad_reviews_are_refused_and_change_nothing(app, client, visit, stars, text, photos, field):
    answer = review(client, visit["shopper"], visit["redeemed"], stars, text, [png()] * photos)
    assert answer.status_code == 422
    assert field in answer.get_json()["error"]["fields"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 0


def test_a_photo_must_be_an_image(app, client, visit):
    answer = review(client, visit["shopper"], visit["redeemed"], photos=[b"not an image at all"])
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "file_type_not_allowed"


def test_a_low_review_opens_a_ticket_with_the_order(app, client, visit):
    answer = review(client, visit["shopper"], visit["redeemed"], stars=2, text="等了一个小时")
    ticket_id = answer.get_json()["ticket_id"]
    assert ticket_id
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.order_id == visit["order"]["id"]
        assert ticket.kind == "complaint" and ticket.opener_id == visit["shopper"].id
        assert ticket.messages[0].body == "等了一个小时"


def test_three_stars_open_no_ticket(app, client, visit):
    assert (
        review(client, visit["shopper"], visit["redeemed"], stars=3).get_json()["ticket_id"] is None
    )


def test_the_shop_replies_once_publicly(app, client, visit):
    review_id = review(client, visit["shopper"], visit["redeemed"]).get_json()["id"]
    other_shop = live_merchant(client, visit["bd"])
    outsider = portal_account(app, client, visit["bd"], other_shop["id"], "owner")

    denied = client.post(
        f"/api/v1/reviews/{review_id}/reply", json={"text": "谢谢"}, headers=outsider.headers
    )
    assert denied.status_code == 403
    first = client.post(
        f"/api/v1/reviews/{review_id}/reply",
        json={"text": "谢谢光临"},
        headers=visit["clerk"].headers,
    )
    assert first.status_code == 200 and first.get_json()["reply"] == "谢谢光临"
    second = client.post(
        f"/api/v1/reviews/{review_id}/reply",
        json={"text": "再次感谢"},
        headers=visit["clerk"].headers,
    )
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "review_already_replied"

    public = client.get(f"/api/v1/deals/{visit['deal']['id']}/reviews").get_json()
    assert public["items"][0]["reply"] == "谢谢光临"


def test_staff_hide_with_a_reason_audited_and_never_edit(app, client, visit):
    review_id = review(client, visit["shopper"], visit["redeemed"], stars=4).get_json()["id"]
    cs = staff(app, client, Role.CS)
    public = client.get(f"/api/v1/deals/{visit['deal']['id']}/reviews").get_json()
    assert public["average"] == 4.0 and public["count"] == 1

    no_reason = client.post(
        f"/api/v1/reviews/{review_id}/hide", json={"reason": ""}, headers=cs.headers
    )
    assert no_reason.status_code == 422
    shopper_try = client.post(
        f"/api/v1/reviews/{review_id}/hide", json={"reason": "x"}, headers=visit["shopper"].headers
    )
    assert shopper_try.status_code == 403
    hidden = client.post(
        f"/api/v1/reviews/{review_id}/hide", json={"reason": "含联系方式"}, headers=cs.headers
    )
    assert hidden.status_code == 200
    twice = client.post(
        f"/api/v1/reviews/{review_id}/hide", json={"reason": "再"}, headers=cs.headers
    )
    assert twice.status_code == 409

    public = client.get(f"/api/v1/deals/{visit['deal']['id']}/reviews").get_json()
    assert public == {"average": None, "count": 0, "items": []}
    merchant = client.get(f"/api/v1/merchants/{visit['merchant']['id']}/reviews").get_json()
    assert merchant["count"] == 0
    with app.app_context():
        stored = db.session.get(Review, review_id)
        assert stored.text == "好吃，服务也好" and stored.stars == 4  # kept as written
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "review.hidden")
        ).one()
        assert event.actor_id == cs.id and event.reason == "含联系方式"
    listed = client.get("/api/v1/reviews", headers=cs.headers).get_json()
    assert listed["items"][0]["hidden_reason"] == "含联系方式"


def test_the_public_reads_are_a_constant_number_of_statements(app, client, visit):
    from tests.querycount import count_queries

    assert review(client, visit["shopper"], visit["redeemed"]).status_code == 201
    with count_queries(app) as counted:
        client.get(f"/api/v1/deals/{visit['deal']['id']}/reviews")
    few = counted.count
    for _ in range(3):
        buyer = quick_shopper(app)
        checkout = buy(client, buyer, visit["deal"]["id"], 1).get_json()
        pay(app, checkout, via="reconcile")
        code = client.get("/api/v1/vouchers", headers=buyer.headers).get_json()["items"][0]["code"]
        client.post(f"/api/v1/vouchers/{code}/redeem", headers=visit["clerk"].headers)
        assert review(client, buyer, code, stars=3).status_code == 201
    with count_queries(app) as counted:
        answer = client.get(f"/api/v1/deals/{visit['deal']['id']}/reviews").get_json()
    assert answer["count"] == 4 and answer["average"] == 3.5
    assert counted.count == few
