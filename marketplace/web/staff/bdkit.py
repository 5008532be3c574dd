"""Small helpers shared by the console's BD, deal and calendar pages (``bd``, ``deals``,
``calendar``): forms parsed by the API's own schemas, refusals turned into sentences,
money typed in yuan, page numbers from the query."""

from __future__ import annotations

import math
import re
from typing import Any

import marshmallow as ma
from flask import request

from marketplace.core.errors import DomainError, InvalidInput
from marketplace.web.routing import is_number
from marketplace.web.staff import bp
from marketplace.web.texts import error_sentence, t, texts

YUAN = re.compile(r"^\s*(\d{1,6})(?:\.(\d{1,2}))?\s*$")


def load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through the API's schema; a refusal is the API's validation error."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def int_arg(name: str, default: int = 1, *, source: Any = None) -> int:
    """A small positive integer from the query (a page number); anything else the default."""
    raw = (source if source is not None else request.args).get(name, "")
    return max(1, min(int(raw), 10_000)) if is_number(raw) else default


def page_count(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def fen_of(text: str | None) -> int | None:
    """ "39.9" or "39.90" (yuan, as a person types it) → 3990 fen; blank → None.
    Integer arithmetic only; anything else raises ``ValueError``."""
    if text is None or not text.strip():
        return None
    match = YUAN.match(text)
    if match is None:
        raise ValueError(text)
    whole, cents = match.group(1), (match.group(2) or "0").ljust(2, "0")
    return int(whole) * 100 + int(cents)


def yuan_text(fen: int | None) -> str:
    """3990 → "39.90" for an input's value; None → ""."""
    if fen is None:
        return ""
    return f"{fen // 100}.{fen % 100:02d}"


def field_problems(error: DomainError) -> dict[str, str]:
    """Per field, what to fix (the form shows it beside the field)."""
    problems = {}
    for name, messages in (error.fields or {}).items():
        if name.startswith("_"):
            continue
        if isinstance(messages, dict):  # a nested field (location.lat)
            messages = [m for inner in messages.values() for m in inner]
        problems[name] = _in_words(messages)
    return problems


# The schemas' own messages that a form shows often, in the page's language; any other
# message of a refused field is "fix this one" (the page's sentence says what went wrong).
FIELD_MESSAGES = {
    "Missing data for required field.": "required",
    "Field may not be null.": "required",
    "Not a valid integer.": "whole_number",
    "Not a valid date.": "date",
    "Not a valid datetime.": "date",
    "Shorter than minimum length 1.": "required",
}


def _in_words(messages: list[Any]) -> str:
    keys = {FIELD_MESSAGES.get(str(m), "invalid") for m in messages} or {"invalid"}
    return "；".join(t(f"staff_bd.field_{key}") for key in sorted(keys))


def sentence(error: DomainError) -> str:
    """The refusal as a person reads it: the code's sentence (or "fix the fields")."""
    if error.code in ("validation_error",) and error.fields:
        return t("forms.fix_fields")
    return error_sentence(error.code, error.status)


@bp.app_template_global()
def staff_action(action: str) -> str:
    """An audit action (``merchant.graded``) in words, or as it is when it has none."""
    return texts()["staff_bd"].get("action_" + action.replace(".", "_"), action)
