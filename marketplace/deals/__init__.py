"""Deals and the catalog: the three deal types, publishing slots, popup days, and what
shoppers browse."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    # The views are imported when the app is built, not with the package: every module that
    # imports deals.models (orders, vouchers, distribution...) imports this package first,
    # and the views import layers above deals (distribution, for the tier ceiling). The
    # views import every deals module with a table (popup, weekly) themselves.
    from marketplace.deals import door
    from marketplace.deals.api import blp, media

    api.register_blueprint(blp)
    api.register_blueprint(media)
    door.install(app)  # the catalog's cached answers, sent before Flask (door.py)
