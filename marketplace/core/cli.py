"""What every ``flask`` command of ours shares: a failure ends in one readable line
(``Error: ...``, exit status 1) instead of a traceback, for the failures a person at the
terminal can act on: a domain error, Redis or the payment provider not answering, the
database refusing. Anything else is a bug and keeps its traceback.

While a command runs, log records are held back and printed when it ends; when it ends in
such a failure, only records of ERROR and above are printed, since the one line says what
the retries and warnings before it would (``LINLI_LOG_LEVEL=DEBUG`` prints everything as
it happens)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError

from marketplace.core.errors import DomainError

RUNNING_HINT = "is `make run` running? flask commands read its settings from .run/env"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def describe(error: BaseException) -> str:
    """One line saying what failed, where, and what to do."""
    config = current_app.config
    if isinstance(error, DomainError):
        line = f"{error.message} [{error.code}]"
        if error.fields:
            line += f" {error.fields}"
        if error.code.startswith("payment_provider"):
            line += f"; provider: {config['LINLI_STRIPE_API_BASE']}"
            if error.code == "payment_provider_unavailable":
                line += f" ({RUNNING_HINT})"
        return line
    if isinstance(error, RedisConnectionError | RedisTimeoutError):
        return (
            f"Redis is not answering at {config['LINLI_REDIS_URL']}: {_first_line(error)} "
            f"({RUNNING_HINT})"
        )
    if isinstance(error, OperationalError):
        return f"the database refused: {_first_line(error.orig or error)} (try `make migrate`)"
    return _first_line(error)


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def readable_failures() -> Iterator[None]:
    root = logging.getLogger()
    if root.getEffectiveLevel() <= logging.DEBUG:
        handlers, held = None, None
    else:
        handlers, held = root.handlers[:], _Held()
        root.handlers = [held]
    keep = logging.NOTSET
    try:
        yield
    except (DomainError, RedisConnectionError, RedisTimeoutError, OperationalError) as error:
        keep = logging.ERROR
        raise click.ClickException(describe(error)) from None
    finally:
        if held is not None and handlers is not None:
            root.handlers = handlers
            for record in held.records:
                if record.levelno >= keep:
                    root.handle(record)


def fails_readably(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command inside ``readable_failures`` (within its app context)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with readable_failures():
            return func(*args, **kwargs)

    return wrapper


class CliGroup(AppGroup):
    """A command group whose commands fail in one line (see the module's docstring)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
        register = super().command(*args, **kwargs)  # wraps in the app context

        def decorator(func: Callable[..., Any]) -> click.Command:
            return register(fails_readably(func))

        return decorator
