"""Linli: the shopper side and the platform core, and the app factory."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from flask_migrate import Migrate
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.middleware.proxy_fix import ProxyFix

from marketplace import settings
from marketplace.core import logs
from marketplace.core.api import init_api
from marketplace.core.db import db
from marketplace.core.errors import (
    Conflict,
    ServiceUnavailable,
    handle_domain_error,
    register_error_handlers,
)
from marketplace.core.frontdoor import REQUEST_ID
from marketplace.core.ratelimit import init_rate_limits
from marketplace.core.redis import init_redis
from marketplace.providers.notifier import init_notifier
from marketplace.providers.sms import init_sms
from marketplace.providers.storage import init_storage
from marketplace.providers.stripe import init_payments

MIGRATIONS_DIR = str(settings.PROJECT_ROOT / "migrations")
migrate = Migrate(compare_type=True, render_as_batch=True)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment's settings, with ``config`` overriding any key."""
    values = settings.load()
    values.update(config or {})
    values = settings.finalize(values)

    app = Flask(__name__, instance_path=values["LINLI_INSTANCE_PATH"])
    app.config.update(values)
    # JSON is UTF-8 (RFC 8259): send 李总, not \u674e\u603b.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["TESTING"] = values["LINLI_ENV"] == "testing" or values.get("TESTING", False)
    # Flask's own default is None (unlimited); uploads are capped at 10 MiB by their domain,
    # so a whole request may carry a little more than that and no more.
    app.config["MAX_CONTENT_LENGTH"] = values.get("MAX_CONTENT_LENGTH") or 12 * 1024 * 1024
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    # UTC timestamps with a Z, in every process (marketplace/core/logs.py).
    logging.basicConfig(level=app.config["LINLI_LOG_LEVEL"], handlers=[logs.handler()])
    app.extensions["linli.settings"] = values

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    init_redis(app)
    init_rate_limits(app)
    init_sms(app)
    init_notifier(app)
    init_storage(app)
    init_payments(app)
    api = init_api(app)
    register_error_handlers(app)
    _register_request_id(app)

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def _redis_down(error: Exception):
        logging.getLogger(__name__).error("redis unavailable: %s", error)
        unavailable = ServiceUnavailable(
            "A backing service is unavailable; try again shortly.", code="redis_unavailable"
        )
        return handle_domain_error(unavailable)

    @app.errorhandler(StaleDataError)
    def _concurrent_edit(error: Exception):
        # Two requests passed the version check together; the database caught the second.
        return handle_domain_error(
            Conflict(
                "Someone changed this record at the same moment; reload and try again.",
                code="stale_version",
            )
        )

    # The app factory is the composition root: it imports every domain here, not at the top,
    # so that `marketplace.core`, `marketplace.settings` and the domains can import from the
    # `marketplace` package without importing all of it.
    import merchants
    from marketplace import (
        accounts,
        care,
        deals,
        distribution,
        giveaway,
        jobs,
        ops,
        orders,
        payments,
        refunds,
        reviews,
        settlement,
        tickets,
        vouchers,
        web,
    )

    ops.init_app(app, api)
    accounts.init_app(app, api)
    merchants.init_app(app, api)
    deals.init_app(app, api)
    orders.init_app(app, api)
    vouchers.init_app(app, api)
    distribution.init_app(app, api)
    refunds.init_app(app, api)
    payments.init_app(app, api)
    tickets.init_app(app, api)
    reviews.init_app(app, api)
    care.init_app(app, api)
    settlement.init_app(app, api)
    giveaway.init_app(app, api)
    jobs.init_app(app, api)
    # The pages come last: they exempt the API blueprints above from CSRF and turn the
    # error handlers above into HTML error pages for page URLs.
    web.init_app(app, api)

    from seed.cli import seed_command  # the composition root wires `flask seed` too

    app.cli.add_command(seed_command)
    if app.config["LINLI_TRUST_PROXY"]:
        # Outermost, around the domains' front door (core.frontdoor) as well: a request
        # answered there has its client's address and scheme too (the server's access log
        # reads REMOTE_ADDR from the environ ProxyFix rewrites).
        n = app.config["LINLI_TRUST_PROXY"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


def _register_request_id(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response
