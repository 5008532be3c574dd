"""A distributor's share link, followed: the page a shopper opens from WeChat.

``/s/{code}`` counts the click (``distribution.links.record_click``) and brings the visitor
to the deal (or the home page) with the link's code in ``?ref=`` and in the ``linli_ref``
cookie, which the login (page or API) and checkout (page or API) hand to
``distribution.binding.bind_customer``: the visitor is bound to the distributor when they
log in or buy, as through the API. An unknown link is the 404 page.
"""

from __future__ import annotations

from flask import current_app, redirect, request, url_for

from marketplace.core.db import db
from marketplace.distribution import links
from marketplace.web.shop.login import REF_COOKIE
from marketplace.web.shop.views import bp

REF_COOKIE_DAYS = 30


@bp.get("/s/<string:code>")
def follow_share_link(code: str):
    """Follow a share link: the click is recorded and the attribution travels on."""
    link = links.record_click(code, ip=request.remote_addr, user_agent=request.user_agent.string)
    db.session.commit()
    base = current_app.config["LINLI_WEB_BASE_URL"].rstrip("/")
    path = url_for("shop.deal", deal_id=link.deal_id) if link.deal_id else url_for("shop.home")
    response = redirect(f"{base}{path}?ref={link.code}", code=302)
    response.set_cookie(
        REF_COOKIE,
        link.code,
        max_age=REF_COOKIE_DAYS * 86400,
        samesite="Lax",
        secure=request.is_secure,
        httponly=True,
    )
    return response
