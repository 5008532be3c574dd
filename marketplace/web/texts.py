"""Every interface sentence, from one file per language (``texts/zh-CN.toml``).

Templates call ``t("deal.sold", n=12)``; a ``{name}`` in the sentence takes the value.
Error pages and refusals look their sentence up by the API's error code
(``error_sentence``), so a code the API gives always has words a shopper understands.
"""

from __future__ import annotations

import functools
import logging
import tomllib
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context

LANGUAGE = "zh-CN"
TEXTS_DIR = Path(__file__).resolve().parent / "texts"
log = logging.getLogger(__name__)


@functools.cache
def texts(language: str = LANGUAGE) -> dict[str, dict[str, str]]:
    with (TEXTS_DIR / f"{language}.toml").open("rb") as f:
        return tomllib.load(f)


def t(key: str, **values: Any) -> str:
    """The sentence ``section.name``, formatted with ``values``. A missing one is a bug:
    it fails outside production (the page tests render every template), and in production
    shows the key rather than breaking the page."""
    section, _, name = key.partition(".")
    try:
        text = texts()[section][name]
    except KeyError:
        if has_app_context() and current_app.config["LINLI_ENV"] != "production":
            raise
        log.error("missing interface text %r", key)
        return key
    return text.format(**values) if values else text


def error_sentence(code: str | None, status: int) -> str:
    """What a person reads for the API error ``code`` (or, for a code without a sentence
    such as ``http_418``, for its status)."""
    errors = texts()["errors"]
    if code and code in errors:
        return errors[code]
    return texts()["error_pages"].get(str(status), texts()["error_pages"]["other"])


def error_title(status: int) -> str:
    pages = texts()["error_pages"]
    return pages.get(str(status), pages["other"])


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(t=t, error_sentence=error_sentence, LANGUAGE=LANGUAGE)
