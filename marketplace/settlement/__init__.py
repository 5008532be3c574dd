"""Monthly settlement: statements per party, payouts, reconciliation, the money overview."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.settlement.api import blp

    api.register_blueprint(blp)
