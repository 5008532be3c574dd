"""Customer service tickets with SLA clocks in service hours."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.tickets.api import blp

    api.register_blueprint(blp)
