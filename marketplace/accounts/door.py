"""``GET /api/v1/me`` at the front door (``core.frontdoor``): the app's first call when a
shopper opens it (the crowd's waiting room before a flash opening), answered before Flask.

The view answers a shopper from Redis already: their profile's JSON is a copy tagged with
the user's generation, read in the same round trip as the token's principal
(``principals.profile``). This lane sends that same text when both are current and the
token may be used without the database (``service.authenticated_in_cache``); a shop's
staff (whose shop link is read from the database), a stale or missing copy, any doubt go
to the view, which answers and refreshes the copy as before (tests compare the two)."""

from __future__ import annotations

from flask import Flask

from marketplace.accounts import principals, service
from marketplace.accounts.auth import bearer_of
from marketplace.accounts.models import Role
from marketplace.core.frontdoor import Answer, front_door


def install(app: Flask) -> None:
    front_door(app).route("GET", "/api/v1/me", me)


def me(environ: dict) -> Answer | None:
    token = bearer_of(environ.get("HTTP_AUTHORIZATION", ""))
    if token is None or environ.get("QUERY_STRING"):
        return None
    signed_in = service.authenticated_in_cache(token, principals.ME_READS)
    if signed_in is None:
        return None
    principal, (cached,), _ = signed_in
    if cached is None or principal.has_role(Role.MERCHANT_STAFF):
        return None
    return Answer("200 OK", [("Content-Type", "application/json")], cached["json"].encode())
