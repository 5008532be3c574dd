"""Checkout: orders with snapshotted prices, stock reservation (with a Redis gate for
flash deals), payment through the provider, and the money events of an order
(``actions``)."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    # The views and commands are imported when the app is built, not with the package: a
    # domain that imports this package's models or services never pulls in its views.
    from marketplace.orders import door
    from marketplace.orders.api import blp
    from marketplace.orders.cli import flash_cli, orders_cli

    api.register_blueprint(blp)
    door.install(app)  # the flash crowd's refusals, answered before Flask (door.py)
    app.cli.add_command(orders_cli)
    app.cli.add_command(flash_cli)
