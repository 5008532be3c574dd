"""Operations: liveness and readiness probes (scheduled-job status joins later)."""

from flask import Flask

from marketplace.core.api import Api


def init_app(app: Flask, api: Api) -> None:
    from marketplace.ops.api import probes

    api.register_blueprint(probes)
