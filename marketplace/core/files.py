"""Recognising uploaded images by their content, not their name or declared type."""

from __future__ import annotations

from marketplace.core.errors import InvalidInput, PayloadTooLarge

IMAGE_MAX_BYTES = 5 * 1024 * 1024
_MIMETYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def image_mimetype(name: str) -> str:
    """The content type of an image stored under ``name`` (its extension is the one
    ``image_extension`` gave it)."""
    return _MIMETYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


def image_extension(data: bytes, *, max_bytes: int = IMAGE_MAX_BYTES) -> str:
    """``jpg``, ``png`` or ``webp`` for an acceptable image; 413 or 422 otherwise."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is larger than {max_bytes // (1024 * 1024)} MiB.",
            fields={"file": ["Too large."]},
        )
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise InvalidInput(
        code="file_type_not_allowed", fields={"file": ["Upload a JPEG, PNG or WebP image."]}
    )
