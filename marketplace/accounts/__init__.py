"""Accounts and auth: users with roles, OTP and password login, bearer tokens."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.accounts import door
    from marketplace.accounts.api import blp
    from marketplace.accounts.cli import users_cli

    api.register_blueprint(blp)
    door.install(app)  # GET /me from Redis, answered before Flask (door.py)
    # The one-of rule TokenRequestSchema.one_method enforces, said in the document too.
    api.spec.components.schemas["TokenRequest"]["oneOf"] = [
        {"required": ["phone", "code"]},
        {"required": ["username", "password"]},
    ]
    app.cli.add_command(users_cli)
