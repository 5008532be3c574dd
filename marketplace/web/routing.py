"""Which requests are pages: everything but the JSON API and the other machine endpoints.

The API keeps its JSON errors and its own headers; a page URL (and a mistyped one) gets
an HTML error page, the security headers and CSRF checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import request

from marketplace.core.api import API_PREFIX
from marketplace.core.pagination import paginate

# Answered as JSON (or bytes) for programs: the API, deal images, the probes. The share
# link (/s/{code}) is a page: people follow it, and an unknown one is the 404 page.
MACHINE_PREFIXES = (
    API_PREFIX.rsplit("/", 1)[0] + "/",
    "/media/",
    "/healthz",
    "/readyz",
)


def is_page_request() -> bool:
    return not request.path.startswith(MACHINE_PREFIXES)


def is_htmx_request() -> bool:
    """htmx asks for a fragment (``HX-Request``); a history restore wants the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def is_number(raw: str) -> bool:
    """True if ``raw`` (a query or form value) is a plain number ``int`` can read: ASCII
    digits only (``str.isdigit`` also takes "²" and other digits ``int`` refuses) and at
    most 18 of them (no page number or id is longer; ``int`` refuses over 4,300)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def query_args() -> dict[str, str]:
    """The current query string, to carry into ``url_for`` (filters and pages kept): keys
    starting with "_" are left out, since ``url_for`` reads ``_scheme``, ``_external``,
    ``_anchor`` and ``_method`` as its own options."""
    return {k: v for k, v in request.args.items() if not k.startswith("_")}


def page_number() -> int:
    """The list page asked for (``?page=``): 1 to 10,000, anything else the first page."""
    raw = request.args.get("page", "")
    return min(int(raw), 10_000) if is_number(raw) and int(raw) > 0 else 1


PAGE_SIZE = 20


def page_of(
    query: sa.Select,
    page_size: int = PAGE_SIZE,
    *,
    path: dict[str, Any] | None = None,
    fetch: Callable[[sa.Select, int, int], dict[str, Any]] = paginate,
) -> dict[str, Any]:
    """One page of ``query`` (``core.pagination.paginate``) with what a pager needs: the
    page asked for (past the end, as a stale or hand-typed link may be: the last page),
    how many pages, and what the pager's links must keep: the page's path arguments (a
    campaign's or a statement's id: ``path``, by default a GET request's own) and its
    query's other arguments. ``fetch(query, page, page_size)`` reads the page: entities by
    default, or rows of a multi-column query (``care.page_rows``)."""
    page = page_number()
    result = fetch(query, page, page_size)
    pages = max(1, math.ceil(result["total"] / page_size))
    if page > pages:
        page = pages
        result = fetch(query, page, page_size)
    # The page's query but the page, then its own path (a campaign's, a statement's id),
    # which a query argument of the same name must not replace. A form's POST that shows
    # the page again has the action's path, not the page's: it names the page's.
    if path is None:
        path = (request.view_args or {}) if request.method == "GET" else {}
    kept = {k: v for k, v in request.args.items() if k != "page" and v and k not in path}
    kept.update(path)
    return {**result, "page": page, "pages": pages, "kept": kept}
