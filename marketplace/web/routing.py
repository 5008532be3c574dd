"""Which requests are pages: everything but the JSON API and the other machine endpoints.

The API keeps its JSON errors and its own headers; a page URL (and a mistyped one) gets
an HTML error page, the security headers and CSRF checks."""

from __future__ import annotations

from flask import request

from marketplace.core.api import API_PREFIX

# Answered as JSON (or bytes) for programs: the API, deal images, the probes, and for now
# the share-link redirect, whose 404 the OpenAPI document promises as JSON; the share-link
# step of the shoppers' web moves it to the pages (an HTML page, documented as such).
MACHINE_PREFIXES = (
    API_PREFIX.rsplit("/", 1)[0] + "/",
    "/media/",
    "/healthz",
    "/readyz",
    "/s/",
)


def is_page_request() -> bool:
    return not request.path.startswith(MACHINE_PREFIXES)


def is_htmx_request() -> bool:
    """htmx asks for a fragment (``HX-Request``); a history restore wants the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
