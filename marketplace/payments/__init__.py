"""Payment status from the provider: the signed webhook (``service``, its route in ``api``)
and syncing a pending order's payment with the provider (``sync``). The Stripe client itself
is a provider (``marketplace/providers/stripe.py``)."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    # The views are imported when the app is built, not with the package: a domain that
    # imports this package's models or services never pulls in its views.
    from marketplace.payments.api import blp

    api.register_blueprint(blp)
