"""QR codes as PNG (pure Python: qrcode + pypng, no imaging library)."""

from __future__ import annotations

import io

import qrcode
from qrcode.image.pure import PyPNGImage


def png(text: str, *, box_size: int = 8) -> bytes:
    image = qrcode.make(text, image_factory=PyPNGImage, box_size=box_size, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
