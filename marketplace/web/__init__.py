"""The pages: server-rendered HTML in the same app as the JSON API.

``shop`` is the shoppers' mobile web at ``/``; the merchant portal (``merchant``,
``/merchant``) and the staff console (``staff``, ``/staff``) sit beside it on the same
foundation, with the password login of ``console``: one base template per
audience, the texts of ``texts/zh-CN.toml``, the filters for money and time, the assets in
``static/`` (vendored files pinned with their licences), CSRF on every state change, the
security headers and HTML error pages. Page handlers are as thin as API views: they call
the same domain functions and never read another domain's tables themselves.

``init_app`` must run after every domain has registered its API blueprints: it exempts
those from CSRF (they authenticate with bearer tokens, not cookies) and turns the app's
JSON error handlers into HTML error pages for page URLs.
"""

from __future__ import annotations

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.web import assets, errors, filters, poster, security, session, texts
    from marketplace.web.merchant import bp as merchant_bp
    from marketplace.web.merchant import reviews as merchant_reviews  # noqa: F401  [reviews]

    # the shop's page modules add their routes to shop.bp
    from marketplace.web.shop import (  # noqa: F401
        checkout,
        distributor,
        giveaway,
        login,
        reviews,  # [reviews] rate a visit, a deal's reviews block
        share,
        support,
        vouchers,
    )
    from marketplace.web.shop import views as shop
    from marketplace.web.staff import bp as staff_bp

    texts.init_app(app)
    filters.init_app(app)
    assets.init_app(app)
    poster.init_app(app)
    app.register_blueprint(shop.bp)
    app.register_blueprint(merchant_bp)
    app.register_blueprint(staff_bp)
    security.init_app(app)
    session.init_app(app)
    errors.init_app(app)
