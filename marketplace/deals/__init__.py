"""Deals and the catalog: the three deal types, publishing slots, popup days, and what
shoppers browse."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.deals import popup, weekly  # noqa: F401 - their tables
    from marketplace.deals.api import blp, media

    api.register_blueprint(blp)
    api.register_blueprint(media)
