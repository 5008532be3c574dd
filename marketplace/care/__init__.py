"""Customer care: the A/B/C segments of shoppers, customer service's list of lapsed
customers with its contact log (won back within 14 days), and the automatic refund of
expired unused vouchers of deals whose operator chose it."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.care.api import blp

    api.register_blueprint(blp)
