"""Error pages: the API's error handling, shown as HTML for page URLs.

The app's handlers (``marketplace.core.errors`` and the few in ``create_app``) decide the
status, the stable code and what is logged, and answer the one JSON error shape. For a
page request that answer is turned into a page in the same style as the rest, with the
code's sentence from the texts and the request id for support; the API keeps its JSON. So
a rule never decides twice what an error is: the page shows what the API would say.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, render_template
from flask_wtf.csrf import CSRFError

from marketplace.core.errors import error_response
from marketplace.web.routing import is_page_request
from marketplace.web.texts import error_sentence, error_title

log = logging.getLogger(__name__)
# Headers of the JSON error a page keeps (WWW-Authenticate is the API's bearer challenge).
KEPT_HEADERS = ("Retry-After", "Allow")


def error_page(response: Response) -> Response:
    """The HTML page for an API error ``response`` (status, code and headers kept)."""
    body: dict[str, Any] = (response.get_json(silent=True) or {}).get("error") or {}
    status = response.status_code
    code = body.get("code")
    context = {
        "status": status,
        "code": code,
        "title": error_title(status),
        "sentence": error_sentence(code, status),
        "request_id": body.get("request_id") or g.get("request_id"),
        "retry_after": response.headers.get("Retry-After"),
    }
    try:
        html = render_template("errors/error.html", **context)
    except Exception:  # the error page itself must not fail: plain words instead
        log.exception("could not render the error page")
        html = f"<!doctype html><meta charset=utf-8><h1>{status}</h1><p>{context['sentence']}"
    page = Response(html, status=status, mimetype="text/html")
    for name in KEPT_HEADERS:
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def _as_page(handler: Callable[[Exception], Any]) -> Callable[[Exception], Any]:
    @functools.wraps(handler)
    def handle(error: Exception) -> Any:
        response = handler(error)
        if not is_page_request() or not isinstance(response, Response):
            return response
        return error_page(response)

    return handle


def csrf_failed(error: CSRFError) -> Response:
    """A page form or htmx call without a valid token (the API is exempt)."""
    log.info("CSRF refused: %s", error.description)
    return error_response(400, "csrf_failed", "The form expired; reload the page and retry.")


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_failed)
    for by_class in app.error_handler_spec[None].values():
        for exception_class, handler in list(by_class.items()):
            by_class[exception_class] = _as_page(handler)
