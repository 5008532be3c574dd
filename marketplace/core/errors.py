"""Domain errors with stable codes, and the one JSON error shape every response uses.

Domains raise ``DomainError`` subclasses (or ``abort``-style HTTP errors from the framework);
``register_error_handlers`` turns all of them, and any unexpected exception, into::

    {"error": {"code": "validation_error", "message": "...", "fields": {...},
               "request_id": "..."}}
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the caller can act on. ``code`` is stable API; ``message`` is for people."""

    status = 400
    code = "bad_request"
    message = "The request cannot be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)


class InvalidInput(DomainError):
    status = 422
    code = "validation_error"
    message = "Some fields are invalid."


class AuthenticationRequired(DomainError):
    status = 401
    code = "unauthenticated"
    message = "Log in to do this."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="linli"'})
        super().__init__(message, **kwargs)


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class BodyRequired(DomainError):
    status = 400
    code = "body_required"
    message = "This request needs a JSON body (send {} to change nothing)."


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    message = "Send the body as JSON with Content-Type: application/json."


class PayloadTooLarge(DomainError):
    status = 413
    code = "file_too_large"
    message = "The file is too large."


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    message = "A service Linli depends on is unavailable; try again shortly."


# Codes for HTTP errors raised by the framework rather than by a domain.
HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthenticated", "Log in to do this."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    409: ("conflict", "The request conflicts with the current state."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
    422: ("validation_error", "Some fields are invalid."),
    428: ("precondition_required", "A precondition header is required."),
    429: ("rate_limited", "Too many requests; try again later."),
    500: ("internal_error", "Something went wrong on our side; it has been logged."),
    503: ("service_unavailable", "A service Linli depends on is unavailable."),
}


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(
        required=True, metadata={"description": "stable machine-readable code, e.g. otp_expired"}
    )
    message = ma.fields.String(required=True, metadata={"description": "human-readable message"})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "per-field messages for validation errors"},
    )
    request_id = ma.fields.String(metadata={"description": "quote this when asking support"})


class ErrorSchema(ma.Schema):
    """The one error shape of the API (documentation only; the handlers build it)."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


def error_response(
    status: int, code: str, message: str, fields: Any = None, headers: dict | None = None
):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = jsonify(error=body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten_webargs_messages(messages: Any) -> tuple[dict[str, Any] | None, bool]:
    """webargs reports ``{"json": {...}, "query": {...}}``; callers want field → messages.

    Returns the fields and whether the body itself (not a field) was unreadable."""
    if not isinstance(messages, dict):
        return None, False
    fields: dict[str, Any] = {}
    malformed = False
    for location, errors in messages.items():
        if isinstance(errors, dict):
            for name, msgs in errors.items():
                body = location in ("json", "form", "files", "multipart")
                key = name if body else f"{location}.{name}"
                fields[key] = msgs
        else:
            # e.g. {"json": ["Invalid JSON body."]}: the document as a whole is unusable
            malformed = True
            fields["_body" if location == "json" else location] = errors
    return fields or None, malformed


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    code, message = HTTP_CODES.get(status, (f"http_{status}", error.description or error.name))
    data = getattr(error, "data", None) or {}
    fields, malformed = _flatten_webargs_messages(data.get("errors") or data.get("messages"))
    if malformed:
        code = "malformed_request"
        message = "The request body is not valid JSON of the right shape."
        status = 400
    if "message" in data:
        message = data["message"]
    headers = dict(data.get("headers") or {})
    if status == 405 and error.get_headers():
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
    return error_response(status, code, message, fields, headers)


def handle_domain_error(error: DomainError):
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error (request_id=%s)", g.get("request_id"))
    code, message = HTTP_CODES[500]
    return error_response(500, code, message)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
