"""Reviews after use: a redeemed voucher's shopper rates the visit once; the merchant
replies once; staff hide a review with a reason, never edit it."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.reviews.api import blp, media

    api.register_blueprint(blp)
    api.register_blueprint(media)
