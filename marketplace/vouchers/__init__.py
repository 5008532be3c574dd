"""Vouchers: issued per unit of a paid order, redeemed once at the shop."""

from flask import Flask

from marketplace.core.api import Api, register_path_pattern


def init_app(app: Flask, api: Api) -> None:
    # The views and commands are imported when the app is built, not with the package: a
    # domain that imports this package's models or services never pulls in its views.
    from marketplace.vouchers.api import blp
    from marketplace.vouchers.service import CODE_INPUT

    register_path_pattern(app, api, "voucher_code", CODE_INPUT)
    api.register_blueprint(blp)
