"""The reviews' pages: a shopper rates a redeemed visit from the voucher's page (once;
errors on the form with the API's status), the deal page's reviews block, the staff
reviews page hiding with a reason, BD's line with the shoppers' average, and role
isolation of the staff page."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from marketplace.accounts.models import Role
from marketplace.core.audit import AuditEvent
from marketplace.core.db import db
from marketplace.reviews.models import Review
from marketplace.web.session import TOKEN_KEY
from tests.factories import (
    live_merchant,
    portal_account,
    quick_shopper,
    staff,
)
from tests.reviews import test_reviews
from tests.web.test_staff_cs_roles import (
    as_role,
    forbidden,
    forbidden_posts,
    page_csrf_token,
    page_text,
)

# the rated visit and the photo of the reviews' own tests
png = test_reviews.png
visit = test_reviews.visit


def as_shopper(client, account):
    with client.session_transaction() as session:
        session[TOKEN_KEY] = account.token


def test_a_shopper_rates_a_redeemed_visit_once_from_the_voucher_page(app, client, visit):
    as_shopper(client, visit["shopper"])
    redeemed, unused = visit["codes"]
    page = client.get(f"/vouchers/{redeemed}").get_data(as_text=True)
    assert "评价这次消费" in page
    assert "评价这次消费" not in client.get(f"/vouchers/{unused}").get_data(as_text=True)

    token = page_csrf_token(client)
    missing = client.post(f"/vouchers/{redeemed}/review", data={"csrf_token": token, "text": "好"})
    assert missing.status_code == 422
    assert "请选择 1 到 5 颗星" in missing.get_data(as_text=True)

    done = client.post(
        f"/vouchers/{redeemed}/review",
        data={
            "csrf_token": token,
            "stars": "5",
            "text": "锅底很香",
            "photos": [(io.BytesIO(png()), "a.png")],
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    assert "查看我的评价" in client.get(f"/vouchers/{redeemed}").get_data(as_text=True)
    again = client.post(f"/vouchers/{redeemed}/review", data={"csrf_token": token, "stars": "1"})
    assert again.status_code == 409
    assert "已经评价过了" in again.get_data(as_text=True)

    block = client.get(f"/deals/{visit['deal']['id']}/reviews").get_data(as_text=True)
    assert "锅底很香" in block and "5.0 分 · 1 条评价" in block
    deal_page = client.get(f"/deals/{visit['deal']['id']}").get_data(as_text=True)
    assert f'hx-get="/deals/{visit["deal"]["id"]}/reviews"' in deal_page


def test_an_unused_voucher_cannot_be_rated_on_the_page(app, client, visit):
    as_shopper(client, visit["shopper"])
    unused = visit["codes"][1]
    answer = client.post(
        f"/vouchers/{unused}/review", data={"csrf_token": page_csrf_token(client), "stars": "4"}
    )
    assert answer.status_code == 409
    assert "券核销后才能评价" in answer.get_data(as_text=True)
    other = quick_shopper(app)
    as_shopper(client, other)
    assert client.get(f"/vouchers/{visit['codes'][0]}/review").status_code == 404


def test_staff_hide_a_review_with_a_reason_and_bd_sees_the_average(app, client, visit):
    answer = client.post(
        f"/api/v1/vouchers/{visit['codes'][0]}/review",
        data={"stars": "2", "text": "太慢了"},
        headers=visit["shopper"].headers,
    )
    review_id = answer.get_json()["id"]
    as_role(app, client, "bd")
    merchant_page = client.get(f"/staff/merchants/{visit['merchant']['id']}")
    assert "顾客评分 2.0（1 条）" in merchant_page.get_data(as_text=True)

    as_role(app, client, "cs")
    page = client.get("/staff/reviews?view=low").get_data(as_text=True)
    assert "太慢了" in page and "客服工单 #" in page
    token = page_csrf_token(client)
    empty = client.post(
        f"/staff/reviews/{review_id}/hide", data={"csrf_token": token, "reason": ""}
    )
    assert empty.status_code == 422
    hidden = client.post(
        f"/staff/reviews/{review_id}/hide", data={"csrf_token": token, "reason": "重复提交"}
    )
    assert hidden.status_code == 303
    assert "重复提交" in client.get("/staff/reviews?view=hidden").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Review, review_id).text == "太慢了"
        assert (
            db.session.scalar(
                sa.select(AuditEvent.reason).where(AuditEvent.action == "review.hidden")
            )
            == "重复提交"
        )
    assert "还没有评价" in client.get(f"/deals/{visit['deal']['id']}/reviews").get_data(
        as_text=True
    )


@pytest.mark.parametrize("who", ["clerk", "shopper", "editor", "bd"])
def test_the_staff_reviews_page_is_customer_services(app, client, who):
    as_role(app, client, who)
    forbidden(client, ["/staff/reviews", "/staff/reviews?view=low"])
    forbidden_posts(client, ["/staff/reviews/1/hide"])


def test_the_menu_shows_reviews_to_customer_service_only(app, client):
    as_role(app, client, "cs")
    assert "/staff/reviews" in client.get("/staff/").get_data(as_text=True)
    as_role(app, client, "bd")
    assert "/staff/reviews" not in page_text(client, "/staff/")


def test_the_shop_replies_once_from_the_merchant_portal(app, client, visit):

    answer = client.post(
        f"/api/v1/vouchers/{visit['codes'][0]}/review",
        data={"stars": "4", "text": "不错", "photos": [(io.BytesIO(png()), "a.png")]},
        headers=visit["shopper"].headers,
        content_type="multipart/form-data",
    )
    review_id, photo = answer.get_json()["id"], answer.get_json()["photos"][0]
    owner = portal_account(app, client, visit["bd"], visit["merchant"]["id"], "owner")
    with client.session_transaction() as session:
        session[TOKEN_KEY] = owner.token
    page = client.get("/merchant/reviews").get_data(as_text=True)
    assert "不错" in page and "平均 4.0 分，共 1 条" in page
    for crafted in ("²", "9" * 5000, "0"):  # the first page, never a 500
        again = client.get("/merchant/reviews", query_string={"page": crafted})
        assert again.status_code == 200 and "不错" in again.get_data(as_text=True)
    token = page_csrf_token(client)
    first = client.post(
        f"/merchant/reviews/{review_id}/reply", data={"csrf_token": token, "text": "谢谢"}
    )
    assert first.status_code == 303
    second = client.post(
        f"/merchant/reviews/{review_id}/reply", data={"csrf_token": token, "text": "再谢"}
    )
    assert second.status_code == 409
    assert "只能回复一次" in second.get_data(as_text=True)

    other_shop = live_merchant(client, visit["bd"])
    outsider = portal_account(app, client, visit["bd"], other_shop["id"], "owner")
    with client.session_transaction() as session:
        session[TOKEN_KEY] = outsider.token
    assert "不错" not in page_text(client, "/merchant/reviews")
    refused = client.post(
        f"/merchant/reviews/{review_id}/reply",
        data={"csrf_token": page_csrf_token(client), "text": "x"},
    )
    assert refused.status_code == 403

    assert client.get(photo).status_code == 200
    cs = staff(app, client, Role.CS)
    client.post(f"/api/v1/reviews/{review_id}/hide", json={"reason": "含电话"}, headers=cs.headers)
    assert client.get(photo).status_code == 404  # a hidden review's photos go too
