"""What the customer-service and general-manager pages of the console share (``cs``,
``money``, ``admin``): page numbers and filters read from the query, forms loaded with the
API's own schemas, and a refused action shown on its page with the API's status and the
code's sentence.

A list is a page of a domain query (``web.routing.page_of``, 20 rows, which the portal's
pages use too); its filters stay in the query string, so the pager keeps them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import render_template, request

from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.web.routing import PAGE_SIZE, page_number, page_of  # noqa: F401 (re-exported)
from marketplace.web.texts import error_sentence, t, texts


def choice(name: str, allowed: list[str] | tuple[str, ...], default: str | None = None) -> Any:
    """A filter from the query: one of ``allowed``, else ``default`` (an unknown value is
    ignored, as the API ignores unknown query parameters)."""
    value = request.args.get(name, "")
    return value if value in allowed else default


def load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """The form, loaded by the API's schema: a bad field is the API's validation error."""
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def new_key() -> str:
    """An Idempotency-Key made when a form is drawn: posting that form twice (a double
    click) is one action, as for the API's header."""
    return secrets.token_hex(16)


def problem_of(error: DomainError) -> str:
    fields = sorted(name for name in (error.fields or {}) if not name.startswith("_"))
    if fields and error.code == "validation_error":
        names = texts().get("staff_fields", {})
        return t("staff_ops.fix_fields", fields="、".join(names.get(f, f) for f in fields))
    return error_sentence(error.code, error.status)


def act(action: Callable[[], Any], again: Callable[..., FlaskResponse]) -> Any:
    """Run a page's action (one domain call) and commit; a domain refusal rolls back and
    draws the page again (``again(problem=…, status=…)``) with the API's status and the
    sentence of its code. A 404 stays the 404 page."""
    try:
        result = action()
        db.session.commit()
        return result
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        raise Refused(again(problem=problem_of(error), status=error.status)) from error


class Refused(Exception):
    """An action was refused: ``response`` is its page, drawn again with the reason."""

    def __init__(self, response: FlaskResponse) -> None:
        super().__init__("refused")
        self.response = response


def render(template: str, *, status: int = 200, **context: Any) -> FlaskResponse:
    html = render_template(template, **context)
    return FlaskResponse(html, status=status, mimetype="text/html")


def _register() -> None:
    from marketplace.web.staff import bp

    @bp.errorhandler(Refused)
    def refused(error: Refused) -> FlaskResponse:
        return error.response


_register()


def labelled(value: str, prefix: str) -> tuple[str, str]:
    """A filter's value with its words (``t(prefix + value)``), for the tabs."""
    return value, t(prefix + value)


def _filters() -> None:
    from marketplace.web.staff import bp

    bp.add_app_template_filter(labelled, "labelled")


_filters()
