"""The catalog's lanes at the front door (``core.frontdoor``): the public catalog's cached
answers, sent before Flask.

The list, a deal's page and home are the same for every shopper and are kept in Redis as
the bytes the API sends (``core.cache``). A hit is one round trip, but on Flask's path it
also pays for routing, the request context, flask-smorest's wrappers and a ``Response``:
most of its time. These lanes send a fresh entry straight away, with the same status,
headers (ETag, Cache-Control) and body as the views, or a 304 for a client that holds it;
a miss, a stale entry, a query the view would refuse or anything unusual goes on to the
views, which build and store the entry as before (tests compare the two)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 - registers the "werkzeug.url_quote" codec error handler
from flask import Flask

from marketplace.core import cache
from marketplace.core.clock import local_today
from marketplace.core.frontdoor import Answer, front_door
from marketplace.deals.schemas import CATALOG_PARAMS


def install(app: Flask) -> None:
    door = front_door(app)
    door.route("GET", "/api/v1/deals", deals_list)
    door.route("GET", "/api/v1/deals/<int>", deal_page)
    door.route("GET", "/api/v1/home", home)


def deals_list(environ: dict) -> Answer | None:
    query = environ.get("QUERY_STRING", "")
    try:
        # exactly as werkzeug parses ``request.args``: invalid UTF-8 stays percent-encoded
        # (its codec error handler), so ``q=%FF`` is the text "%FF", as the view keys it,
        # not U+FFFD (another query's entry)
        pairs = parse_qsl(
            query.encode("latin-1").decode(),
            keep_blank_values=True,
            errors="werkzeug.url_quote",
        )
    except (UnicodeError, ValueError):
        return None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in CATALOG_PARAMS:
            params.setdefault(name, []).append(value)
    return _sent(environ, cache.fresh("deals", dict(sorted(params.items()))))


def deal_page(environ: dict) -> Answer | None:
    if environ.get("QUERY_STRING"):
        return None
    deal_id = int(environ["PATH_INFO"].rpartition("/")[2])
    return _sent(environ, cache.fresh("deal", {"id": deal_id}))


def home(environ: dict) -> Answer | None:
    if environ.get("QUERY_STRING"):
        return None
    return _sent(environ, cache.fresh("home", {"day": local_today().isoformat()}))


def _sent(environ: dict, entry: cache.CachedJSON | None) -> Answer | None:
    """``CachedJSON.response`` as the WSGI answer."""
    if entry is None:
        return None
    headers = list(entry.headers().items())
    if entry.held_by(environ.get("HTTP_IF_NONE_MATCH")):
        return Answer("304 NOT MODIFIED", headers)
    return Answer("200 OK", [*headers, ("Content-Type", "application/json")], entry.body)
