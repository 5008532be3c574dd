"""Log lines in UTC, whatever the process's time zone, with no colour codes.

Every Linli process writes ``2026-11-23T02:00:00.123Z LEVEL logger: message``. The app
(``create_app``) formats its records with ``UtcFormatter``. ``rq cron`` must run with
``TZ=Asia/Shanghai`` (it reads cron expressions in local time), so ``make run`` starts it
with ``--config marketplace.core.logs``: rq applies ``DICT_CONFIG`` below, which puts a UTC
handler on the root logger, and rq then adds none of its own. ``rq worker`` takes
``--log-format``/``--date-format`` and runs with ``TZ=UTC`` (scripts/run-dev).
"""

from __future__ import annotations

import logging
import time

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UtcFormatter(logging.Formatter):
    """ISO 8601 timestamps in UTC with a ``Z``."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, **kwargs) -> None:
        super().__init__(fmt or _FORMAT, datefmt, **kwargs)


def handler() -> logging.Handler:
    """A stderr handler with the UTC format."""
    stream = logging.StreamHandler()
    stream.setFormatter(UtcFormatter())
    return stream


# Read by rq (``rq cron --config marketplace.core.logs``): rq takes this module's UPPERCASE
# names as its settings, so nothing else here is upper case.
DICT_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"utc": {"()": UtcFormatter}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "utc",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
}
