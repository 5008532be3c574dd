"""The merchant side: onboarding, grading, contracts, locations, the merchant portal and
settlement (see DESIGN.md, "Merchants")."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from merchants.api import blp

    api.register_blueprint(blp)
