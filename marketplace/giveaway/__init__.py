"""The weekly free-meal giveaway (霸王餐): a campaign of 5–10 free meals of one shop's deal;
shoppers enter with a screenshot of their WeChat Moments post and its likes, customer
service verifies the likes, and at the window's end the most-liked verified entries win a
free voucher of the deal (``service.close_campaign``, run by the ``close_giveaways`` job)."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.giveaway.api import blp

    api.register_blueprint(blp)
