"""The distributors' pages over HTTP: joining under each join policy, sharing a deal (its
link and poster, theirs only), customers, commission, statements and the Moments proof,
each saying what the API says."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.distribution.models import Distributor, ShareLink
from marketplace.settlement.models import Statement, StatementLine
from marketplace.web.session import TOKEN_KEY
from tests.distribution.conftest import link, new_distributor, purchase
from tests.factories import Account, live_deal, live_merchant, quick_shopper, staff
from tests.web.test_foundation import csrf_token_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def shop(app, client, clock, live_server):
    """A live shop with a deal on sale (as tests/distribution's fixture makes it)."""
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    return {"deal": live_deal(app, client, bd, merchant["id"], "small_set", stock=100)}


def signed_in(client, account: Account) -> str:
    """Give the browser ``account``'s page session (the cookie holds an ordinary token,
    as the page login leaves it); returns a CSRF token for its forms."""
    with client.session_transaction() as cookie:
        cookie[TOKEN_KEY] = account.token
    return csrf_token_of(client.get("/me").get_data(as_text=True))


def html(response) -> str:
    return response.get_data(as_text=True)


def set_policy(app, client, policy: str) -> None:
    admin = staff(app, client, Role.ADMIN)
    changed = client.patch(
        "/api/v1/distribution/settings", json={"join_policy": policy}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.get_json()


def test_the_distributor_pages_need_a_login_and_a_shopper_joins_first(app, client):
    visitor = client.get("/distributor")
    shopper = quick_shopper(app)
    signed_in(client, shopper)
    not_yet = client.get("/distributor")
    form = client.get("/distributor/join?invite=Abc12345")

    assert visitor.status_code == 302
    assert visitor.headers["Location"] == "/login?next=%2Fdistributor"
    assert not_yet.status_code == 302 and not_yet.headers["Location"] == "/distributor/join"
    assert 'value="Abc12345"' in html(form)
    assert "邀请码选填" in html(form)


def test_joining_with_an_invite_code_makes_the_inviter_the_recruiter(app, client):
    _, recruiter = new_distributor(app, client)
    shopper = quick_shopper(app)
    token = signed_in(client, shopper)

    wrong = client.post("/distributor/join", data={"invite_code": "nope0000", "csrf_token": token})
    bad_count = client.post(
        "/distributor/join", data={"wechat_friends": "很多", "csrf_token": token}
    )
    joined = client.post(
        "/distributor/join",
        data={
            "invite_code": recruiter["invite_code"],
            "wechat_friends": "1500",
            "csrf_token": token,
        },
    )
    again = client.post("/distributor/join", data={"csrf_token": token})
    home = client.get("/distributor")

    assert wrong.status_code == 422 and "邀请码不对，请核对后重新输入。" in html(wrong)
    assert 'aria-invalid="true"' in html(wrong)
    assert bad_count.status_code == 422 and "请填 0 到 100000 之间的整数。" in html(bad_count)
    assert joined.status_code == 303 and joined.headers["Location"] == "/distributor"
    assert again.status_code == 303
    assert home.status_code == 200 and "欢迎加入邻里分销" in html(home)
    with app.app_context():
        mine = db.session.scalars(
            sa.select(Distributor).where(Distributor.user_id == shopper.id)
        ).one()
        assert (mine.recruiter_id, mine.wechat_friends) == (recruiter["id"], 1500)


def test_the_join_policy_decides_and_the_form_says_so(app, client):
    set_policy(app, client, "invitation")
    shopper = quick_shopper(app)
    token = signed_in(client, shopper)

    form = client.get("/distributor/join")
    refused = client.post("/distributor/join", data={"csrf_token": token})
    set_policy(app, client, "application")
    applied = client.post("/distributor/join", data={"csrf_token": token}, follow_redirects=True)

    assert "现在需要邀请码才能加入" in html(form) and "required" in html(form)
    assert refused.status_code == 403
    assert "现在需要邀请码才能加入分销。" in html(refused)
    assert applied.status_code == 200
    assert "申请审核中" in html(applied) and "申请已提交" in html(applied)


def test_a_distributor_shares_a_deal_and_gets_its_link_and_poster(app, client, shop):
    account, _ = new_distributor(app, client)
    deal_id = shop["deal"]["id"]
    token = signed_in(client, account)

    deal_page = client.get(f"/deals/{deal_id}")
    shared = client.post("/distributor/share", data={"deal_id": deal_id, "csrf_token": token})
    again = client.post("/distributor/share", data={"deal_id": deal_id, "csrf_token": token})
    page = client.get(shared.headers["Location"])
    code = shared.headers["Location"].rsplit("/", 1)[1]
    poster = client.get(f"/distributor/links/{code}/poster.png")

    assert "分享赚佣金" in html(deal_page)
    assert shared.status_code == 303 and shared.headers["Location"] == f"/distributor/links/{code}"
    assert again.headers["Location"] == shared.headers["Location"]  # one link per deal
    assert f'value="http://localhost/s/{code}"' in html(page)
    assert shop["deal"]["title"] in html(page)
    assert f'src="/distributor/links/{code}/poster.png"' in html(page)
    assert poster.status_code == 200 and poster.mimetype == "image/png"
    assert poster.headers["Cache-Control"] == "private, max-age=300"
    image = Image.open(io.BytesIO(poster.data))
    assert image.size == (750, 1334)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [f"http://localhost/s/{code}"]


def test_a_link_and_its_poster_are_their_distributors_only(app, client, shop):
    owner, _ = new_distributor(app, client)
    other, _ = new_distributor(app, client)
    code = link(client, owner, shop["deal"]["id"])
    signed_in(client, other)

    page = client.get(f"/distributor/links/{code}")
    poster = client.get(f"/distributor/links/{code}/poster.png")
    unknown = client.get("/distributor/links/zzzzzzzz")

    assert page.status_code == poster.status_code == unknown.status_code == 404
    assert "这个分享链接不存在或已经失效。" in html(page)


def test_a_shopper_who_has_not_joined_sees_no_share_button_and_cannot_share(app, client, shop):
    shopper = quick_shopper(app)
    token = signed_in(client, shopper)

    deal_page = client.get(f"/deals/{shop['deal']['id']}")
    shared = client.post(
        "/distributor/share", data={"deal_id": shop["deal"]["id"], "csrf_token": token}
    )
    anonymous = app.test_client().get(f"/deals/{shop['deal']['id']}")

    assert "分享赚佣金" not in html(deal_page) and "分享赚佣金" not in html(anonymous)
    assert shared.status_code == 302 and shared.headers["Location"] == "/distributor/join"


def test_without_a_chinese_font_the_share_page_keeps_the_link_and_the_poster_is_a_503(
    app, client, shop
):
    account, _ = new_distributor(app, client)
    code = link(client, account, shop["deal"]["id"])
    signed_in(client, account)
    font = app.extensions["linli.poster_font"]
    app.extensions["linli.poster_font"] = None
    try:
        page = client.get(f"/distributor/links/{code}")
        poster = client.get(f"/distributor/links/{code}/poster.png")
    finally:
        app.extensions["linli.poster_font"] = font

    assert page.status_code == 200 and f"/s/{code}" in html(page)
    assert "海报暂时生成不了，请先复制链接分享。" in html(page) and "poster.png" not in html(page)
    assert poster.status_code == 503
    assert "海报暂时生成不了，请先复制链接分享。" in html(poster)


def test_customers_and_commission_after_a_bound_customers_purchase(app, client, shop):
    account, _ = new_distributor(app, client)
    buyer = quick_shopper(app)
    purchase(app, client, buyer, shop["deal"]["id"], ref=link(client, account, shop["deal"]["id"]))
    signed_in(client, account)

    api = client.get("/api/v1/distributors/me", headers=account.headers).get_json()
    home = html(client.get("/distributor"))
    customers = html(client.get("/distributor/customers"))

    pending = api["commission"]["pending"]
    assert pending > 0
    assert re.search(
        rf"待入账</dt>\s*<dd class=\"dist-amount\">¥{pending // 100}\.{pending % 100:02d}", home
    )
    assert "1 位，成交 1 单" in home
    assert "今天分享 1 个链接" in home
    masked = f"{buyer.phone[:3]}****{buyer.phone[-4:]}"
    assert masked in customers and buyer.phone not in customers
    assert "成交 1 单" in customers and "下单时绑定" in customers


def test_statements_are_listed_and_only_mine_open(app, client):
    account, row = new_distributor(app, client)
    _, other = new_distributor(app, client)
    with app.app_context():
        mine = Statement(
            period="2026-10",
            party_type="distributor",
            party_id=row["id"],
            total=1800,
            lines=[
                StatementLine(kind="level1", amount=2000),
                StatementLine(kind="clawback", amount=-200),
            ],
        )
        theirs = Statement(
            period="2026-10", party_type="distributor", party_id=other["id"], total=5
        )
        db.session.add_all([mine, theirs])
        db.session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    signed_in(client, account)

    listed = html(client.get("/distributor/statements"))
    detail = client.get(f"/distributor/statements/{mine_id}")
    foreign = client.get(f"/distributor/statements/{theirs_id}")

    assert "2026-10 结算单" in listed and "¥18.00" in listed and "待打款" in listed
    assert detail.status_code == 200
    assert "直接佣金" in html(detail) and "退款扣回" in html(detail) and "¥-2.00" in html(detail)
    assert foreign.status_code == 404 and "没有找到这张结算单。" in html(foreign)


def test_the_moments_proof_upload_and_its_refusals(app, client, clock):
    cs = staff(app, client, Role.CS)
    account, row = new_distributor(app, client)
    token = signed_in(client, account)

    before = html(client.get("/distributor/moments"))
    client.patch(
        f"/api/v1/distributors/{row['id']}", json={"wechat_friends": 1500}, headers=cs.headers
    )

    def upload(data: bytes | None, day: str = "2026-11-23"):
        form = {"day": day, "csrf_token": token}
        if data is not None:
            form["screenshot"] = (io.BytesIO(data), "moments.png")
        return client.post("/distributor/moments", data=form, content_type="multipart/form-data")

    missing = upload(None)
    not_an_image = upload(b"plain text")
    too_old = upload(PNG, "2026-11-01")
    sent = upload(PNG)
    twice = upload(PNG)
    after = html(client.get("/distributor/moments"))

    assert "好友数核实后就能打卡" in before and 'type="file"' not in before
    assert missing.status_code == 422 and "请选择朋友圈截图。" in html(missing)
    assert not_an_image.status_code == 422 and "只能上传 JPEG、PNG 或 WebP" in html(not_an_image)
    assert too_old.status_code == 422 and "请选今天或前两天。" in html(too_old)
    assert sent.status_code == 303 and sent.headers["Location"] == "/distributor/moments"
    assert twice.status_code == 409 and "今天已经打过卡了。" in html(twice)
    assert "今天已打卡，等待审核" in after and "朋友圈连续打卡 1 天" in after
    assert "2026年11月23日" in after and "待审核" in after
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ShareLink)) == 0


@pytest.mark.parametrize(
    "path", ["/distributor/share", "/distributor/join", "/distributor/moments"]
)
def test_the_distributor_forms_refuse_a_post_without_its_csrf_token(app, client, path):
    account, _ = new_distributor(app, client)
    signed_in(client, account)

    refused = client.post(path, data={"deal_id": "1", "day": date(2026, 11, 23).isoformat()})

    assert refused.status_code == 400 and "页面停留太久已过期" in html(refused)
