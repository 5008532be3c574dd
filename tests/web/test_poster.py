"""The share poster: a PNG the size of a phone screen, the deal's photo (or its category's
colour), the price in red, and a QR code that scans back to the share link."""

from __future__ import annotations

import io
import logging

import pytest
import zxingcpp
from flask import Flask
from PIL import Image, ImageDraw

from marketplace import create_app
from marketplace.settings import SettingsError
from marketplace.web import poster
from tests.conftest import unavailable

URL = "http://127.0.0.1:5000/s/AbCd1234"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@pytest.fixture(scope="module")
def font() -> poster.PosterFont:
    found = poster.find_font("")
    if found is None:
        unavailable("a font with Chinese glyphs", "apt-get install fonts-noto-cjk")
    return found


def _solid(colour: str, size: tuple[int, int] = (800, 600), fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def _content(**overrides) -> poster.PosterContent:
    fields = {
        "title": "9.9元抢烤串双人拼盘",
        "sale_price": 990,
        "list_price": 8800,
        "shop_name": "老昭通炭火烧烤",
        "url": URL,
        "photo": None,
        "category_name": "火锅烧烤",
        "tone": 3,
    }
    return poster.PosterContent(**{**fields, **overrides})


def _decode(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def _colours(image: Image.Image) -> list[tuple[int, tuple[int, int, int]]]:
    return image.getcolors(maxcolors=image.width * image.height)


def _is_red(pixel: tuple[int, int, int]) -> bool:
    r, g, b = pixel
    return r > 200 and g < 120 and b < 120


def test_a_poster_is_a_phone_sized_png_whose_qr_scans_to_the_link(font):
    image = _decode(poster.render(_content(photo=_solid("#1e50a0")), font))

    assert image.size == (750, 1334)
    assert [(r.format, r.text) for r in zxingcpp.read_barcodes(image)] == [
        (zxingcpp.BarcodeFormat.QRCode, URL)
    ]
    # the photo fills the top, cropped to the full width
    assert image.getpixel((5, 5)) == image.getpixel((744, 600)) == (0x1E, 0x50, 0xA0)


def test_a_large_jpeg_photo_is_decoded_at_a_smaller_scale_and_fills_the_top(font):
    image = _decode(poster.render(_content(photo=_solid("#1e50a0", (4000, 3000), "JPEG")), font))

    r, g, b = image.getpixel((375, 300))
    assert abs(r - 0x1E) + abs(g - 0x50) + abs(b - 0xA0) < 8  # JPEG is lossy
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [URL]


def test_the_price_is_drawn_in_red_between_the_title_and_the_qr_band(font):
    image = _decode(poster.render(_content(photo=_solid("#1e50a0")), font))

    price_area = image.crop((0, poster.PHOTO_HEIGHT, poster.WIDTH, poster.BAND_TOP))
    band = image.crop((0, poster.BAND_TOP, poster.WIDTH, poster.HEIGHT))
    red = sum(n for n, colour in _colours(price_area) if _is_red(colour))
    assert red > 3000  # "¥9.90" at 84 px is thousands of red pixels
    # the band is light grey around the QR code, which is black on white
    assert band.getpixel((5, 5)) == (0xF5, 0xF5, 0xF5)


def test_a_deal_without_a_photo_gets_its_category_colour(font):
    image = _decode(poster.render(_content(photo=None, tone=3), font))

    assert image.getpixel((5, 5)) == (0x10, 0xAE, 0xFF)  # .tone-3 of the pages
    # the category's initial is drawn in white in the middle of the colour
    middle = image.crop((250, 150, 500, 450))
    assert (255, 255, 255) in {colour for _, colour in _colours(middle)}
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [URL]


def test_a_photo_that_is_not_an_image_falls_back_to_the_placeholder(font, caplog):
    with caplog.at_level(logging.WARNING, logger="marketplace.web.poster"):
        image = _decode(poster.render(_content(photo=b"\x89PNG\r\n\x1a\nbroken", tone=0), font))

    assert image.getpixel((5, 5)) == (0xFA, 0x51, 0x51)
    assert "cannot be read" in caplog.text


def test_a_tall_photo_is_cropped_not_squeezed(font):
    tall = Image.new("RGB", (300, 900), "#00ff00")
    ImageDraw.Draw(tall).rectangle([(0, 0), (300, 100)], fill="#ff00ff")  # cut off above
    buffer = io.BytesIO()
    tall.save(buffer, format="PNG")

    image = _decode(poster.render(_content(photo=buffer.getvalue()), font))

    assert image.getpixel((375, 5)) == (0, 255, 0)
    assert image.getpixel((375, poster.PHOTO_HEIGHT - 5)) == (0, 255, 0)


def test_a_long_title_takes_two_lines_and_ends_with_an_ellipsis(font):
    face = font.get(44, bold=True)
    title = "超值烤串双人拼盘含招牌烤豆腐小肠五花肉还有一大壶酸梅汤再送一份炒饭和两瓶啤酒"

    lines = poster._lines(title, face, 670, 2)

    assert len(lines) == 2 and lines[1].endswith("…")
    assert all(face.getlength(line) <= 670 for line in lines)
    assert "".join(lines).rstrip("…") == title[: len("".join(lines)) - 1]
    assert poster._lines("奶茶三人套餐", face, 670, 2) == ["奶茶三人套餐"]


def test_a_noto_cjk_collection_gives_its_simplified_chinese_face(font):
    assert poster.has_chinese(font.regular, font.index)
    if font.regular.endswith("NotoSansCJK-Regular.ttc"):
        assert font.get(20).getname()[0] == "Noto Sans CJK SC"
        assert font.bold.endswith("NotoSansCJK-Bold.ttc")


def test_a_configured_font_must_exist_and_draw_chinese(tmp_path, font):
    with pytest.raises(SettingsError, match="LINLI_POSTER_FONT"):
        poster.find_font(str(tmp_path / "missing.ttc"))
    (tmp_path / "fake.ttf").write_bytes(b"not a font")
    with pytest.raises(SettingsError, match="Chinese glyphs"):
        poster.find_font(str(tmp_path / "fake.ttf"))

    assert poster.find_font(font.regular) == font


@pytest.mark.skipif(not poster.Path(DEJAVU).is_file(), reason="fonts-dejavu-core not installed")
def test_a_latin_only_font_is_not_a_chinese_font():
    assert not poster.has_chinese(DEJAVU)
    with pytest.raises(SettingsError):
        poster.find_font(DEJAVU)
    assert poster.find_font("", (DEJAVU,), fontconfig=False) is None


def test_without_a_chinese_font_the_app_starts_and_says_posters_are_off(monkeypatch, caplog):
    monkeypatch.setattr(poster, "FONT_CANDIDATES", ())
    monkeypatch.setattr(poster, "_fontconfig_candidates", lambda: [])
    app = Flask(__name__)
    app.config["LINLI_POSTER_FONT"] = ""

    with caplog.at_level(logging.WARNING, logger="marketplace.web.poster"):
        poster.init_app(app)

    assert app.extensions["linli.poster_font"] is None
    assert "share posters are off" in caplog.text and "fonts-noto-cjk" in caplog.text
    with app.app_context(), pytest.raises(poster.PosterUnavailable) as refused:
        poster.render(_content())
    assert (refused.value.status, refused.value.code) == (503, "poster_unavailable")


def test_a_wrong_font_setting_stops_the_start(tmp_path):
    with pytest.raises(SettingsError, match="LINLI_POSTER_FONT"):
        create_app(
            {
                "LINLI_ENV": "testing",
                "LINLI_INSTANCE_PATH": str(tmp_path),
                "LINLI_POSTER_FONT": str(tmp_path / "none.ttc"),
            }
        )
