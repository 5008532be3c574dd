"""The checkout's lane at the front door (``core.frontdoor``): a flash crowd turned away
before Flask.

Thousands of shoppers tap "buy" on a deal with 200 units; all but 200 are told "sold out"
(or "not open yet", "limit reached"). That answer needs one Redis round trip — the token's
cached principal, the deal's sale state and the flash gate's view of the shopper, read
together — yet on the full path it also costs routing, two webargs schemas, the view's
decorators and an exception through Flask's error handlers, which is most of a refused
tap's time. This lane answers exactly those taps itself:

- ``POST /api/v1/orders`` with a bearer token, a JSON body of only ``deal_id`` and
  ``quantity`` that the API's schema would accept, and a valid ``Idempotency-Key`` or none;
- the token's principal is current in Redis and lets the request on as a shopper
  (``accounts.service.authenticated_in_cache``: revoked, expired, disabled, stale or due for
  its last-use write all go the full way);
- the screen refuses the attempt finally (``orders.stock.turned_away``, the same function
  ``admit`` starts with).

Everything else — a buyer the screen lets through, any doubt, any error, Redis
unavailable — goes on to the app unchanged, body included, and is decided there as
before. So the lane never answers differently from the app, only sooner: the refusal has
the API's error shape, status, request id and headers (tests compare the two).
"""

from __future__ import annotations

import io
import json

from flask import Flask, current_app

from marketplace.accounts import service as accounts
from marketplace.accounts.auth import bearer_of
from marketplace.accounts.models import Role
from marketplace.core.api import IDEMPOTENCY_KEY_LENGTH, INTERNAL_KEY_PREFIX
from marketplace.core.clock import now
from marketplace.core.errors import DomainError
from marketplace.core.frontdoor import REQUEST_ID_KEY, Answer, front_door
from marketplace.deals import sale_state
from marketplace.orders import service, stock

PATH = "/api/v1/orders"
MAX_BODY = 512  # bytes; a real tap's body is ~30, anything larger takes the full path
_STATUS = {409: "409 CONFLICT"}


def install(app: Flask) -> None:
    front_door(app).route("POST", PATH, refused_tap)


def refused_tap(environ: dict) -> Answer | None:
    """The refusal the app would give this tap, or None (the app decides). Reads the body,
    and puts it back for the app."""
    token = bearer_of(environ.get("HTTP_AUTHORIZATION", ""))
    # The media type exactly (``core.api._is_json`` refuses application/jsonx with a 415);
    # the app also takes application/*+json, which goes to it.
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip(" \t").lower()
    if token is None or mimetype != "application/json":
        return None
    # A plain Content-Length (as werkzeug reads it), no Transfer-Encoding: werkzeug would
    # read a chunked body to its end, not to a length beside it.
    length_text = environ.get("CONTENT_LENGTH", "").strip(" \t")
    if "HTTP_TRANSFER_ENCODING" in environ or not (length_text.isascii() and length_text.isdigit()):
        return None
    length = int(length_text)
    if not 0 < length <= MAX_BODY:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)  # the app reads the same body
    if len(raw) != length:  # the client went away: the app answers that
        return None
    tap = _tap(raw, environ.get("HTTP_IDEMPOTENCY_KEY"))
    if tap is None:
        return None
    error = _turned_away(token, *tap)
    return None if error is None else _answer(error, environ[REQUEST_ID_KEY])


def _tap(raw: bytes, key: str | None) -> tuple[int, int, str | None] | None:
    """The deal, quantity and key of a body and header ``OrderCreateSchema`` and
    ``IdempotencyKeySchema`` accept, limited to the fields a tap sends; else None."""
    if key is not None and (
        not IDEMPOTENCY_KEY_LENGTH[0] <= len(key) <= IDEMPOTENCY_KEY_LENGTH[1]
        or key.startswith(INTERNAL_KEY_PREFIX)
    ):
        return None
    try:
        # as webargs reads it (``core.parse_json``): strict UTF-8, so a BOM or UTF-16 is the
        # app's 400, not a body this lane reads
        body = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return None
    if type(body) is not dict or not body.keys() <= {"deal_id", "quantity"}:
        return None
    deal_id, quantity = body.get("deal_id"), body.get("quantity", 1)
    if type(deal_id) is not int or not 0 < deal_id < 2**31:
        return None
    if type(quantity) is not int or not 1 <= quantity <= service.MAX_QUANTITY:
        return None
    return deal_id, quantity, key or None


def _turned_away(token: str, deal_id: int, quantity: int, key: str | None) -> DomainError | None:
    """One Redis round trip: the principal, the sale state, the gate's view of the shopper."""
    signed_in = accounts.authenticated_in_cache(token, stock.screen_reads(deal_id, key))
    if signed_in is None:
        return None
    principal, (state_copy,), view = signed_in
    if principal.must_change_password or not principal.has_role(Role.SHOPPER):
        return None
    if state_copy is None:
        return None
    state = sale_state.from_copy(deal_id, state_copy)
    return stock.turned_away(state, view, quantity, key, now())


def _answer(error: DomainError, request_id: str) -> Answer | None:
    """What ``core.errors.handle_domain_error`` sends (``jsonify``'s compact JSON)."""
    status = _STATUS.get(error.status)
    if status is None or error.fields or error.headers or current_app.debug:
        return None  # (in debug mode the app indents its JSON)
    payload = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    body = f"{current_app.json.dumps(payload, separators=(',', ':'))}\n".encode()
    return Answer(status, [("Content-Type", "application/json")], body)
