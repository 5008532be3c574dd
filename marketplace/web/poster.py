"""A distributor's share poster: one PNG, 750×1334 (a phone screen, what WeChat Moments
shows whole), composed on the server so it can be saved to the phone and posted as is.

From top to bottom: the deal's first photo (or a placeholder in its category's colour),
the title, the shop's name, the price and the list price struck through, and a band with
the QR code of the share link and what to do with it. Every sentence comes from the texts
file; the price is the pages' own ``price`` filter.

Chinese needs a font with Chinese glyphs, which Pillow does not ship. ``LINLI_POSTER_FONT``
names one; without it the first found of the usual places (Debian's fonts-noto-cjk, which
``.ci/run`` installs, WenQuanYi, macOS's PingFang, then fontconfig's Chinese fonts) is used.
The choice is made once, at start-up (``init_app``):

- a font the operator named that is missing or has no Chinese glyphs stops the start: a
  setting that is wrong is a mistake to fix now, not a surprise in a shopper's Moments;
- no setting and no font found: the app starts (the shop must sell even then), the log
  says at start-up why posters are off, and the poster route answers 503
  ``poster_unavailable`` while the share page still gives the link. A poster with boxes
  for every character would be posted to hundreds of friends before anyone noticed; a
  clear refusal costs the distributor one tap.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import qrcode
from flask import Flask, current_app
from PIL import Image, ImageDraw, ImageFont, ImageOps

from marketplace.core.errors import ServiceUnavailable
from marketplace.providers.storage import file_storage
from marketplace.settings import SettingsError
from marketplace.web.filters import price
from marketplace.web.texts import t

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 750, 1334
PHOTO_HEIGHT = 640
MARGIN = 40
BAND_TOP = 1014  # the QR band: the bottom 320 px
QR_SIZE = 264

# The pages' category colours (static/css/linli.css, .tone-0 … .tone-7).
TONES = ("#fa5151", "#ff8f1f", "#07c160", "#10aeff", "#6467f0", "#e75e9c", "#2aae67", "#b5894a")
RED, INK, GREY, BAND = "#fa5151", "#191919", "#888888", "#f5f5f5"

# Where Chinese fonts usually are, most likely first. A bold face is looked for beside the
# regular one (``-Regular`` → ``-Bold``).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian, Ubuntu: fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",  # macOS
    "/System/Library/Fonts/STHeiti Medium.ttc",
)
# A character every Chinese font has, and one no font has (its glyph is the "missing" box).
PROBE, NOT_A_CHARACTER = "邻", "\U0010fffd"


class PosterUnavailable(ServiceUnavailable):
    code = "poster_unavailable"


@dataclass(frozen=True)
class PosterFont:
    """The poster's font files: the regular face and a bold one (the regular face again
    when there is no bold beside it; the poster then thickens it with a stroke)."""

    regular: str
    bold: str
    index: int = 0  # the face inside a .ttc collection: its Simplified Chinese one

    def get(self, size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(self.bold if bold else self.regular, size, index=self.index)

    @property
    def synthetic_bold(self) -> bool:
        return self.bold == self.regular


@dataclass(frozen=True)
class PosterContent:
    """What a poster shows; money in fen."""

    title: str
    sale_price: int
    list_price: int
    shop_name: str
    url: str
    photo: bytes | None = None
    category_name: str = ""
    tone: int = 0  # the category's colour, as on the pages


def _simplified_face(path: str) -> int:
    """The Simplified Chinese face of a collection (Noto's .ttc holds JP, KR, SC, TC, HK
    in that order), else its first face."""
    for index in range(16):
        try:
            family, _ = ImageFont.truetype(path, 20, index=index).getname()
        except OSError:
            break
        if family and family.rstrip().endswith(("SC", "CN", "GB")):
            return index
    return 0


def has_chinese(path: str, index: int = 0) -> bool:
    """The font draws a Chinese character, not its "missing" box."""
    try:
        font = ImageFont.truetype(path, 48, index=index)
    except OSError:
        return False
    probe = font.getmask(PROBE)
    return probe.getbbox() is not None and bytes(probe) != bytes(font.getmask(NOT_A_CHARACTER))


def _fontconfig_candidates() -> list[str]:
    """Chinese fonts fontconfig knows of (none when it is not installed)."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return []
    try:
        found = subprocess.run(  # noqa: S603 - a fixed command, no shell
            [fc_list, ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.strip().rstrip(":") for line in found.splitlines() if line.strip())


def _font_at(path: str) -> PosterFont | None:
    if not Path(path).is_file():
        return None
    index = _simplified_face(path)
    if not has_chinese(path, index):
        return None
    bold = path.replace("-Regular.", "-Bold.")
    if bold == path or not Path(bold).is_file() or not has_chinese(bold, index):
        bold = path
    return PosterFont(regular=path, bold=bold, index=index)


def find_font(
    configured: str, candidates: tuple[str, ...] | None = None, *, fontconfig: bool = True
) -> PosterFont | None:
    """The poster's font: the configured file (which must exist and draw Chinese:
    ``SettingsError`` otherwise), else the first usable candidate (``FONT_CANDIDATES``,
    then fontconfig's), else None."""
    if configured:
        font = _font_at(configured)
        if font is None:
            raise SettingsError(
                f"LINLI_POSTER_FONT: {configured!r} is not a font file with Chinese glyphs "
                "(install fonts-noto-cjk, or name a TTF/OTF/TTC that has them)"
            )
        return font
    if candidates is None:
        candidates = FONT_CANDIDATES
    for path in [*candidates, *(_fontconfig_candidates() if fontconfig else [])]:
        font = _font_at(path)
        if font is not None:
            return font
    return None


def init_app(app: Flask) -> None:
    """Choose the poster's font once, at start-up (see the module's note)."""
    font = find_font(app.config["LINLI_POSTER_FONT"])
    app.extensions["linli.poster_font"] = font
    if font is None:
        log.warning(
            "share posters are off: no font with Chinese glyphs was found; install "
            "fonts-noto-cjk or set LINLI_POSTER_FONT"
        )
    else:
        log.debug("share posters use %s", font.regular)


def poster_font() -> PosterFont:
    """The font chosen at start-up; ``PosterUnavailable`` (503) when there is none."""
    font = current_app.extensions.get("linli.poster_font")
    if font is None:
        raise PosterUnavailable("Posters are off on this server: it has no Chinese font.")
    return font


def posters_available() -> bool:
    return current_app.extensions.get("linli.poster_font") is not None


def stored_image(url: str) -> bytes | None:
    """The bytes of a deal photo by its public URL (``/media/deals/…``, kept by the file
    storage), or None when it is not one of ours or is gone."""
    prefix = "/media/"
    if not url.startswith(prefix):
        return None
    try:
        return file_storage().read(url[len(prefix) :])
    except (OSError, ValueError):
        log.warning("poster: the deal photo %s is not in the file storage", url)
        return None


# -- drawing -------------------------------------------------------------------------------


def _lines(text: str, font: ImageFont.FreeTypeFont, width: int, most: int) -> list[str]:
    """``text`` broken into at most ``most`` lines of at most ``width`` px, character by
    character (Chinese has no spaces to break at); an ellipsis ends a cut."""
    lines, current = [], ""
    for char in text.strip():
        if font.getlength(current + char) <= width:
            current += char
            continue
        lines.append(current)
        current = char.lstrip()
        if len(lines) == most:
            break
    else:
        if current:
            lines.append(current)
        return lines
    last = lines[-1]
    while last and font.getlength(last + "…") > width:
        last = last[:-1]
    lines[-1] = last + "…"
    return lines


def _photo(content: PosterContent, font: PosterFont) -> Image.Image:
    """The deal's photo filling the top, cropped to fit; a placeholder without one (or
    when the stored file cannot be read as an image)."""
    if content.photo:
        try:
            with Image.open(io.BytesIO(content.photo)) as image:
                image.draft("RGB", (WIDTH, PHOTO_HEIGHT))  # JPEG: decode at a smaller scale
                picture = ImageOps.exif_transpose(image).convert("RGB")
            return ImageOps.fit(picture, (WIDTH, PHOTO_HEIGHT), Image.Resampling.LANCZOS)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("poster: the deal's photo cannot be read (%s); using a placeholder", exc)
    tone = TONES[content.tone % len(TONES)]
    placeholder = Image.new("RGB", (WIDTH, PHOTO_HEIGHT), tone)
    draw = ImageDraw.Draw(placeholder)
    initial = (content.category_name or content.title or t("site.name"))[:1]
    draw.text(
        (WIDTH // 2, PHOTO_HEIGHT // 2 - 40),
        initial,
        font=font.get(220, bold=True),
        fill="white",
        anchor="mm",
    )
    if content.category_name:
        draw.text(
            (WIDTH // 2, PHOTO_HEIGHT - 110),
            content.category_name,
            font=font.get(40),
            fill="white",
            anchor="mm",
        )
    return placeholder


def _qr(url: str, size: int) -> Image.Image:
    """The link's QR code with its quiet zone, in whole pixels per module (crisp to scan),
    centred on a white square of ``size``."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    scale = max(1, size // modules)
    image = Image.new("L", (modules, modules), 255)
    image.putdata([0 if dark else 255 for row in matrix for dark in row])
    image = image.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)
    square = Image.new("RGB", (size, size), "white")
    offset = (size - modules * scale) // 2
    square.paste(image, (offset, offset))
    return square


def render(content: PosterContent, font: PosterFont | None = None) -> bytes:
    """The poster as PNG bytes."""
    font = font or poster_font()
    stroke = 1 if font.synthetic_bold else 0
    poster = Image.new("RGB", (WIDTH, HEIGHT), "white")
    poster.paste(_photo(content, font), (0, 0))
    draw = ImageDraw.Draw(poster)
    width = WIDTH - 2 * MARGIN

    y = PHOTO_HEIGHT + 36
    title_font = font.get(44, bold=True)
    for line in _lines(content.title, title_font, width, 2):
        draw.text(
            (MARGIN, y), line, font=title_font, fill=INK, stroke_width=stroke, stroke_fill=INK
        )
        y += 62
    shop_font = font.get(30)
    for line in _lines(content.shop_name, shop_font, width, 1):
        draw.text((MARGIN, y + 6), line, font=shop_font, fill=GREY)
    y += 64

    # The price, large, and the list price struck through beside it, on one baseline.
    baseline = BAND_TOP - 50
    price_font = font.get(84, bold=True)
    sale = price(content.sale_price)
    draw.text(
        (MARGIN, baseline),
        sale,
        font=price_font,
        fill=RED,
        anchor="ls",
        stroke_width=stroke,
        stroke_fill=RED,
    )
    x = MARGIN + int(price_font.getlength(sale)) + 24
    if content.list_price > content.sale_price:
        list_font = font.get(32)
        was = t("poster.list_price", price=price(content.list_price))
        draw.text((x, baseline), was, font=list_font, fill=GREY, anchor="ls")
        left, top, right, bottom = draw.textbbox((x, baseline), was, font=list_font, anchor="ls")
        middle = (top + bottom) // 2
        draw.line([(left, middle), (right, middle)], fill=GREY, width=2)

    # The band: what to do on the left, the QR code on the right.
    draw.rectangle([(0, BAND_TOP), (WIDTH, HEIGHT)], fill=BAND)
    qr_left = WIDTH - MARGIN - QR_SIZE
    qr_top = BAND_TOP + (HEIGHT - BAND_TOP - QR_SIZE) // 2
    poster.paste(_qr(content.url, QR_SIZE), (qr_left, qr_top))
    text_width = qr_left - MARGIN - 24
    y = qr_top + 20
    for key, size, colour, bold in (
        ("poster.scan", 36, INK, True),
        ("poster.buy", 30, RED, False),
    ):
        face = font.get(size, bold=bold)
        for line in _lines(t(key), face, text_width, 2):
            draw.text(
                (MARGIN, y),
                line,
                font=face,
                fill=colour,
                stroke_width=stroke if bold else 0,
                stroke_fill=colour,
            )
            y += size + 18
        y += 10
    brand = font.get(26)
    draw.text(
        (MARGIN, qr_top + QR_SIZE - 8),
        t("poster.brand"),
        font=brand,
        fill=GREY,
        anchor="ls",
    )

    out = io.BytesIO()
    poster.save(out, format="PNG", compress_level=6)
    return out.getvalue()
