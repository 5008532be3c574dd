"""Checkout: orders with snapshotted prices, stock reservation (with a Redis gate for
flash deals), payment through the provider, vouchers."""

from flask import Flask

from marketplace.core.api import Api, register_path_pattern


def init_app(app: Flask, api: Api) -> None:
    from marketplace.vouchers.service import CODE_INPUT

    register_path_pattern(app, api, "voucher_code", CODE_INPUT)
    from marketplace.orders.api import blp
    from marketplace.orders.cli import flash_cli, orders_cli

    api.register_blueprint(blp)
    app.cli.add_command(orders_cli)
    app.cli.add_command(flash_cli)
