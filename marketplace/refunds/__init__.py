"""Manual refunds: request, decision by customer service, payment back through the
provider, and the recovery of an interrupted refund."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    # The views and commands are imported when the app is built, not with the package: a
    # domain that imports this package's models or services never pulls in its views.
    from marketplace.refunds.api import blp
    from marketplace.refunds.cli import refunds_cli

    api.register_blueprint(blp)
    app.cli.add_command(refunds_cli)
