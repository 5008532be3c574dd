"""Distribution: distributors, share links, permanent bindings, two-level commission and
Moments streak bonuses."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.distribution import models  # noqa: F401 - tables for the metadata
    from marketplace.distribution.api import blp

    api.register_blueprint(blp)
