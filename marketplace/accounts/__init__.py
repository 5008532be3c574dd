"""Accounts and auth: users with roles, OTP and password login, bearer tokens."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.accounts.api import blp
    from marketplace.accounts.cli import users_cli

    api.register_blueprint(blp)
    app.cli.add_command(users_cli)
