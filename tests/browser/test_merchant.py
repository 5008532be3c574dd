"""The merchant portal in the browser (Debian's chromium, the real server with the demo
city, localstripe), at 375×812: a clerk logs in and redeems a shopper's paid voucher; a
second attempt says "already used" with the time; another shop's voucher is refused by
name; a mistyped digit is caught before the server is asked; scanning the shopper's QR
code with a (fake) camera; a confirmation on a 3-second network shows its pending state
and a timed-out one is retried safely; the owner sees the redemption in today's list and
downloads the month's statement CSV after a settlement."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketplace.core.clock import frozen, local_today, month_bounds
from marketplace.core.db import db
from tests.browser.conftest import CHROMIUM, PHONE, World, new_context, paid_order, watch
from tests.factories import quick_shopper

PASSWORD = "linli-dev-password"  # the seed's dev logins
SHOP = "老昭通炭火烧烤"
DEAL = "烧烤四人畅享套餐"
OTHER_DEAL = "羊肉火锅三人餐"  # another shop's


def deal_id(world: World, title: str) -> int:
    from marketplace.deals.models import Deal

    with world.app.app_context():
        return db.session.scalar(sa.select(Deal.id).where(Deal.title == title))


def fresh_voucher(world: World, title: str = DEAL) -> str:
    """A new shopper's paid voucher for ``title`` (bought through the API and paid at the
    payment server)."""
    return paid_order(world, quick_shopper(world.app), deal_id(world, title))["codes"][0]


def grouped(code: str) -> str:
    return f"{code[:4]} {code[4:8]} {code[8:]}"


def voucher_row(world: World, code: str):
    from marketplace.vouchers.models import Voucher

    with world.app.app_context():
        return db.session.scalars(sa.select(Voucher).where(Voucher.code == code)).one()


def portal_login(page: Any, username: str) -> None:
    page.goto("/merchant/login")
    page.get_by_label("账号").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    # until the page the login leads to has loaded: a test that goes straight on to another
    # page would otherwise cut that one off mid-load (ERR_ABORTED, seen on a busy machine)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="核销", exact=True).wait_for()


def log_out(page: Any) -> None:
    page.get_by_role("button", name="退出").click()
    page.get_by_label("账号").wait_for()
    page.wait_for_load_state("load")


def type_code(page: Any, code: str) -> None:
    page.goto("/merchant/redeem")
    page.get_by_label("券码（12 位数字）").press_sequentially(code)
    page.get_by_role("button", name="查询").click()


def test_a_clerk_redeems_once_and_is_told_why_not(page, world, browser_problems):
    code = fresh_voucher(world)
    other_shops = fresh_voucher(world, OTHER_DEAL)
    portal_login(page, "laozhaotong-clerk")

    # typed digit by digit, the field groups them as the voucher shows them
    page.goto("/merchant/redeem")
    field = page.get_by_label("券码（12 位数字）")
    field.press_sequentially(code)
    assert field.input_value() == grouped(code)
    page.get_by_role("button", name="查询").click()
    page.get_by_role("heading", name="确认核销").wait_for()
    assert page.get_by_text(DEAL).is_visible() and page.get_by_text("4 人").is_visible()
    assert page.get_by_text("本订单共 1 张，还可用 1 张").is_visible()
    page.get_by_role("button", name="确认核销").click()
    page.get_by_role("heading", name="核销成功").wait_for()
    assert voucher_row(world, code).status == "redeemed"

    # the same code again: already used, with when and by whom
    browser_problems.expect("/merchant/redeem/check")
    page.get_by_role("link", name="继续核销下一张").click()
    type_code(page, code)
    page.get_by_role("heading", name="不能核销").wait_for()
    assert page.get_by_text("这张券已经使用过了").is_visible()
    used_at = voucher_row(world, code).redeemed_at
    from marketplace.web.filters import local_datetime

    with world.app.app_context():
        when = local_datetime(used_at)
    assert page.get_by_text(f"这张券已于 {when} 由 {SHOP} 店员 核销。").is_visible()

    # another shop's voucher: refused by name, nothing of it shown
    type_code(page, other_shops)
    page.get_by_role("heading", name="不能核销").wait_for()
    assert page.get_by_text("这张券不是本店的团购券").is_visible()
    assert page.get_by_text(OTHER_DEAL).count() == 0
    assert voucher_row(world, other_shops).status == "active"

    # a mistyped digit: caught on the page, the server is never asked
    fresh = fresh_voucher(world)
    typo = fresh[:5] + str((int(fresh[5]) + 1) % 10) + fresh[6:]
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/redeem/check" in r.url else None)
    type_code(page, typo)
    page.get_by_role("alert").get_by_text("有一位数字不对").wait_for()
    page.wait_for_timeout(300)
    assert asked == [] and page.url.endswith("/merchant/redeem")
    # too short: says how many digits are missing
    page.get_by_label("券码（12 位数字）").fill("1234 5678")
    page.get_by_role("button", name="查询").click()
    assert page.get_by_role("alert").get_by_text("还差 4 位").is_visible()
    assert asked == []


def settle_this_month_for(world: World, merchant_name: str) -> int:
    """The month's settlement as the job will make it on the 1st at 02:00, for one shop
    (the other shops of the shared demo city are left alone): run now under the clock of
    the first day of next month."""
    from marketplace.settlement import service
    from marketplace.settlement.models import Statement, StatementLine
    from merchants.models import Merchant

    period = local_today().strftime("%Y-%m")
    _, end = month_bounds(period)
    with world.app.app_context():
        merchant_id = db.session.scalar(
            sa.select(Merchant.id).where(Merchant.name == merchant_name)
        )
        # Another test on this shared server may have settled the shop's month already (a
        # month is settled once): issue it afresh so it holds this test's redemption too.
        earlier = sa.select(Statement.id).where(
            Statement.period == period,
            Statement.party_type == "merchant",
            Statement.party_id == merchant_id,
        )
        db.session.execute(sa.delete(StatementLine).where(StatementLine.statement_id.in_(earlier)))
        db.session.execute(sa.delete(Statement).where(Statement.id.in_(earlier)))
        db.session.commit()
        with frozen(end + timedelta(hours=2)):
            service._settle_party(period, "merchant", merchant_id, service._merchant_lines)
        db.session.commit()
        return db.session.scalar(
            sa.select(Statement.id).where(
                Statement.period == period,
                Statement.party_type == "merchant",
                Statement.party_id == merchant_id,
            )
        )


def test_the_owner_sees_today_and_downloads_the_statement(page, world, tmp_path):
    code = fresh_voucher(world)
    portal_login(page, "laozhaotong-clerk")
    type_code(page, code)
    page.get_by_role("button", name="确认核销").click()
    page.get_by_role("heading", name="核销成功").wait_for()
    log_out(page)

    portal_login(page, "laozhaotong-owner")
    page.goto("/merchant/")
    row = page.get_by_role("row").filter(has_text=grouped(code))
    assert row.get_by_text(f"{SHOP} 店员").is_visible() and row.get_by_text(DEAL).is_visible()

    statement_id = settle_this_month_for(world, SHOP)
    page.get_by_role("link", name="结算单").click()
    period = local_today().strftime("%Y-%m")
    page.get_by_role("link", name=f"{period} 结算单").click()
    page.get_by_role("heading", name=f"{period} 结算单").wait_for()
    assert page.get_by_text(grouped(code)).is_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载 CSV（Excel 可打开）").click()
    path = tmp_path / "statement.csv"
    download_info.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "账期" and rows[-1][1] == "合计"
    mine = [r for r in rows if r[2] == code]
    assert mine and mine[0][1] == "核销" and mine[0][6] == "138.00" and mine[0][5] == DEAL
    assert statement_id is not None


def test_another_shops_clerk_sees_none_of_it(page, world, browser_problems):
    code = fresh_voucher(world)
    portal_login(page, "laozhaotong-clerk")
    type_code(page, code)
    page.get_by_role("button", name="确认核销").click()
    page.get_by_role("heading", name="核销成功").wait_for()
    statement_id = settle_this_month_for(world, SHOP)
    log_out(page)

    portal_login(page, "yibei-clerk")
    page.goto("/merchant/")
    assert page.get_by_text(grouped(code)).count() == 0
    page.goto("/merchant/vouchers?status=redeemed")
    assert page.get_by_text(DEAL).count() == 0
    page.goto("/merchant/statements")
    assert page.get_by_role("link", name="结算单", exact=False).filter(has_text="月").count() == 0
    browser_problems.expect(f"/merchant/statements/{statement_id}")
    page.goto(f"/merchant/statements/{statement_id}")
    assert (
        page.get_by_role("heading", name="页面不存在")
        .or_(page.get_by_text("没有找到这张结算单"))
        .first.is_visible()
    )


# -- a poor network ---------------------------------------------------------------------------


def test_a_3_second_network_shows_pending_and_a_timed_out_attempt_is_retried_safely(
    page, world, capsys, browser_problems
):
    portal_login(page, "laozhaotong-clerk")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def network(latency_ms: int, offline: bool = False) -> None:
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": offline, "latency": latency_ms, "downloadThroughput": -1,
             "uploadThroughput": -1},
        )  # fmt: skip

    # 1. The whole confirmation on a network with 3 s of latency per request.
    code = fresh_voucher(world)
    type_code(page, code)
    page.get_by_role("heading", name="确认核销").wait_for()
    network(3000)
    started = time.monotonic()
    page.get_by_role("button", name="确认核销").click()
    page.get_by_text("正在核销，请稍候").wait_for(timeout=1000)
    pending_after = time.monotonic() - started
    assert page.get_by_role("button", name="确认核销").count() == 0  # no second tap possible
    page.get_by_text("网络有点慢").wait_for(timeout=5000)
    slow_after = time.monotonic() - started
    page.get_by_role("heading", name="核销成功").wait_for(timeout=20_000)
    done_after = time.monotonic() - started
    network(0)

    # 2. The answer is lost: the page gives up after its timeout (shortened here to 2 s on
    # the 3 s network) while the server redeems; the retry reports the first result.
    code2 = fresh_voucher(world)
    type_code(page, code2)
    page.get_by_role("heading", name="确认核销").wait_for()
    page.locator("#confirm-form").evaluate("form => { form.dataset.timeoutMs = '2000'; }")
    browser_problems.expect("/merchant/redeem")  # the page aborts the attempt it gave up on
    network(3000)
    started = time.monotonic()
    page.get_by_role("button", name="确认核销").click()
    page.get_by_role("alert").get_by_text("网络太慢，没有收到结果").wait_for(timeout=10_000)
    timeout_after = time.monotonic() - started
    for _ in range(50):  # the request did reach the server, which redeemed the voucher
        if voucher_row(world, code2).status == "redeemed":
            break
        time.sleep(0.2)
    first_redeemed = voucher_row(world, code2).status == "redeemed"
    network(0)
    page.get_by_role("button", name="重试（不会重复核销）").click()
    page.get_by_role("heading", name="核销成功").wait_for()
    assert page.get_by_text("已经使用过").count() == 0
    retried_after = time.monotonic() - started

    with capsys.disabled():
        print(
            f"\n3-second network: pending shown after {pending_after:.2f}s, 'slow' after "
            f"{slow_after:.2f}s, success after {done_after:.2f}s; timed out after "
            f"{timeout_after:.2f}s (first attempt redeemed on the server: {first_redeemed}), "
            f"success after retry at {retried_after:.2f}s"
        )
    assert pending_after < 1.0 and 2.5 < done_after < 15
    assert first_redeemed  # the timed-out attempt had redeemed: the retry said success


# -- the camera -------------------------------------------------------------------------------


def y4m_of_png(png_bytes: bytes, path: Path, size: tuple[int, int] = (640, 480)) -> None:
    """A still video (Y4M, 4:2:0) of a PNG drawn centred on white, as Chromium's fake camera
    plays it (``--use-file-for-fake-video-capture``)."""
    import png as pypng

    width, height = size
    reader = pypng.Reader(bytes=png_bytes)
    w, h, rows, _info = reader.asRGBA8()
    pixels = [list(row) for row in rows]
    scale = max(1, min((width - 40) // w, (height - 40) // h))
    luma = bytearray([235]) * (width * height)
    left, top = (width - w * scale) // 2, (height - h * scale) // 2
    for y in range(h):
        row = pixels[y]
        for x in range(w):
            dark = row[4 * x] < 128
            if not dark:
                continue
            for dy in range(scale):
                start = (top + y * scale + dy) * width + left + x * scale
                luma[start : start + scale] = bytes([16]) * scale
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n")
            out.write(luma)
            out.write(chroma)
            out.write(chroma)


def test_scanning_the_shoppers_qr_code_with_the_camera(browser, world, tmp_path, browser_problems):
    """Chromium's fake camera plays a video of the voucher's QR code (the PNG the shopper's
    voucher page shows, ``core.qr``); the page decodes it (BarcodeDetector where the browser
    has it, else the vendored jsQR) and goes on to the confirmation."""
    from marketplace.core import qr

    code = fresh_voucher(world)
    video = tmp_path / "qr.y4m"
    y4m_of_png(qr.png(code), video)
    # a browser of its own: the fake camera is a launch option
    camera_browser = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = new_context(camera_browser, PHONE, base_url=world.url)
        context.grant_permissions(["camera"], origin=world.url)
        page = watch(context.new_page(), browser_problems)
        portal_login(page, "laozhaotong-clerk")
        page.goto("/merchant/redeem")
        detector = page.evaluate("() => 'BarcodeDetector' in window")
        page.get_by_role("button", name="扫顾客的二维码").click()
        page.get_by_role("heading", name="确认核销").wait_for(timeout=15_000)
        assert page.get_by_text(grouped(code)).is_visible()
        page.get_by_role("button", name="确认核销").click()
        page.get_by_role("heading", name="核销成功").wait_for()
        context.close()
    finally:
        camera_browser.close()
    # Debian's chromium on Linux has no BarcodeDetector: the vendored jsQR decoded it
    print(f"\nscanned with {'BarcodeDetector' if detector else 'jsQR'}")
    assert browser_problems.found == []
