"""The flask-smorest API object and the documentation helpers shared by domain blueprints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, Request, abort, jsonify, request, send_from_directory, url_for
from marshmallow import validate
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.routing import UnicodeConverter

from marketplace.core.errors import (
    BodyRequired,
    ErrorSchema,
    UnsupportedMediaType,
    handle_http_exception,
)
from marketplace.core.fields import IdConverter

API_PREFIX = "/api/v1"
# Swagger UI's files come from the flask-swagger-ui package (its dist/ folder is
# swagger-ui-dist, Apache-2.0, LICENSE beside the files) and are served by this app, so
# /api/v1/docs works without internet. Only what flask-smorest's page loads is served.
SWAGGER_UI_ASSETS_PATH = API_PREFIX + "/docs/assets/"
SWAGGER_UI_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "LICENSE": "text/plain",
    "VERSION": "text/plain",
}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):  # the one error shape, not flask-smorest's
        return handle_http_exception(error)


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser plus a ``multipart`` location: the form fields and the files of
    a multipart request read (and documented) as one schema."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}  # noqa: RUF012

    def load_multipart(self, req: Request, schema: ma.Schema) -> MultiDictProxy:
        return MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)


def _has_body() -> bool:
    return bool(request.content_length) or bool(request.get_data(cache=True))


def _is_json() -> bool:
    mimetype = request.mimetype or ""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _enforce_json_body(required: bool) -> Callable:
    """What the document says of a JSON body, enforced: a body in another format is refused
    (it would otherwise be read as no body and change nothing), and a required one must be
    there. Runs before webargs, which treats both as an empty object."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _has_body():
                if not _is_json():
                    raise UnsupportedMediaType()
            elif required:
                raise BodyRequired()
            return func(*args, **kwargs)

        return wrapper

    return decorator


class Blueprint(flask_smorest.Blueprint):
    """A domain's blueprint; ``url_prefix`` is relative to ``/api/v1``.

    A JSON body argument is required unless declared ``required=False``; the server holds
    to that (400 ``body_required``) and refuses a body that is not JSON (415)."""

    ARGUMENTS_PARSER = ArgumentsParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012 - flask-smorest's class attribute
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }

    def __init__(self, name: str, import_name: str, *, url_prefix: str = "", **kwargs: Any):
        super().__init__(name, import_name, url_prefix=API_PREFIX + url_prefix, **kwargs)

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable:
        if isinstance(schema, type):
            # One instance for every request: given a class, webargs builds a schema (and
            # deep-copies its fields) on each request; loading with one is thread-safe.
            schema = schema()
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse
        enforce = _enforce_json_body(kwargs.get("required", True))

        def decorator(func: Callable) -> Callable:
            wrapped = parse(func)
            enforced = enforce(wrapped)
            enforced._apidoc = wrapped._apidoc  # type: ignore[attr-defined]
            responses = enforced._apidoc["arguments"]["responses"]
            responses.setdefault(400, HTTPStatus.BAD_REQUEST.name)
            responses.setdefault(415, HTTPStatus.UNSUPPORTED_MEDIA_TYPE.name)
            return enforced

        decorator.__doc__ = parse.__doc__
        return decorator


# Keys Linli makes itself (a giveaway's prize order, ...) start with this; a client's key
# may not, so no request can take the place of one (or be taken for one).
INTERNAL_KEY_PREFIX = "linli:"
IDEMPOTENCY_KEY_LENGTH = (1, 80)


class IdempotencyKeySchema(ma.Schema):
    """The ``Idempotency-Key`` header of a money-moving POST (one definition for all)."""

    key = ma.fields.String(
        data_key="Idempotency-Key",
        validate=[
            validate.Length(*IDEMPOTENCY_KEY_LENGTH),
            validate.Regexp(
                f"^(?!{INTERNAL_KEY_PREFIX})",
                error=f"Keys starting with '{INTERNAL_KEY_PREFIX}' are Linli's own.",
            ),
        ],
        metadata={
            "description": "repeat the request safely: the same key returns the first result"
        },
    )


# A throwaway blueprint lets shared decorators (auth, rate limits) document their error
# responses through flask-smorest's public alt_response/doc API.
_DOC = flask_smorest.Blueprint("_linli_doc", __name__)


def documents_errors(*statuses: int) -> Callable:
    """Document that a view may answer with these error statuses (in the error shape)."""

    def decorator(func: Callable) -> Callable:
        for status in statuses:
            func = _DOC.alt_response(status, response=HTTPStatus(status).name)(func)
        return func

    return decorator


def doc(**kwargs: Any) -> Callable:
    return flask_smorest.Blueprint.doc(**kwargs)


def register_path_pattern(app: Flask, api: Api, name: str, pattern: str) -> None:
    """``<name:…>`` in a route: a segment matched like ``<string:…>`` but documented with
    ``pattern``, so a malformed value reaches the domain and gets its own clear error."""
    converter = type(f"{name.title().replace('_', '')}Converter", (UnicodeConverter,), {})
    app.url_map.converters[name] = converter
    api.register_converter(converter, lambda _: {"type": "string", "pattern": pattern})


def init_api(app: Flask) -> Api:
    app.config.setdefault("API_TITLE", "Linli")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", SWAGGER_UI_ASSETS_PATH)
    # No validator badge: it would send the document to validator.swagger.io.
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Linli (邻里) local-life group-buying API. Money is integer fen "
                    "(3990 = ¥39.90); times are ISO 8601 with offset, UTC inside, "
                    "Asia/Shanghai for display. Every error has the shape "
                    '{"error": {"code", "message", "fields"?, "request_id"?}}.'
                )
            },
        },
    )
    # Every <int:…> in a route is an id: past the columns' range it is a 404, not a 500.
    app.url_map.converters["int"] = IdConverter
    api = Api(app)
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "opaque token from POST /auth/token"},
    )
    app.extensions["linli.api"] = api
    _register_docs_routes(app)
    return api


def swagger_ui_dist() -> str:
    from importlib.resources import files

    return str(files("flask_swagger_ui") / "dist")


def _register_docs_routes(app: Flask) -> None:
    """``/api/v1/``: where things are; ``/api/v1/docs/assets/...``: Swagger UI's files.
    Their endpoints start with ``api-docs`` like flask-smorest's pages: they are not API
    operations and stay out of the OpenAPI document."""

    def index():
        return jsonify(
            {
                "name": app.config["API_TITLE"],
                "version": app.config["API_VERSION"],
                "docs": url_for("api-docs.openapi_swagger_ui"),
                "openapi": url_for("api-docs.openapi_json"),
                "health": url_for("probes.healthz"),
                "ready": url_for("probes.readyz"),
            }
        )

    def asset(filename: str):
        mimetype = SWAGGER_UI_ASSETS.get(filename)
        if mimetype is None:
            abort(404)
        return send_from_directory(swagger_ui_dist(), filename, mimetype=mimetype, max_age=3600)

    app.add_url_rule(API_PREFIX + "/", endpoint="api-docs-index", view_func=index)
    app.add_url_rule(
        SWAGGER_UI_ASSETS_PATH + "<filename>", endpoint="api-docs-assets", view_func=asset
    )
