"""Every setting Linli reads, in one place.

Each setting is an environment variable with a documented default. ``load()`` turns the
environment into Flask config keys; ``create_app(config=...)`` may override any key (tests
do). In development, variables missing from the environment are taken from ``.run/env``,
which ``make run`` writes with the settings it chose, so a ``flask`` command in a second
terminal talks to the same Redis and payment server. README.md's settings table is checked
against ``SETTINGS`` by the test suite, so a setting added here without documentation fails
the build.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Written by scripts/run-dev (``make run``): the LINLI_* settings of the running system.
# LINLI_ENV_FILE points elsewhere (the tests use it; it is not itself read from the file).
ENV_FILE = PROJECT_ROOT / ".run" / "env"
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production
DEV_WEBHOOK_SECRET = "whsec_linli_dev"  # noqa: S105 - refused in production
DEV_STRIPE_KEY = "sk_test_linli_dev"  # refused in production
ENVIRONMENTS = ("development", "testing", "production")
INSTALLATION_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


class SettingsError(RuntimeError):
    """A setting is missing or unusable; the process must not start."""


def _int(value: str) -> int:
    return int(value)


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _str(value: str) -> str:
    return value


@dataclass(frozen=True)
class Setting:
    env: str
    key: str
    default: str
    help: str
    parse: Callable[[str], Any] = _str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "LINLI_ENV",
        "LINLI_ENV",
        "development",
        "development, testing or production; production refuses dev secrets",
    ),
    Setting(
        "LINLI_SECRET_KEY",
        "SECRET_KEY",
        DEV_SECRET_KEY,
        "signs cookies and keys one-time-code hashes; must be set in production",
    ),
    Setting(
        "LINLI_INSTANCE_PATH",
        "LINLI_INSTANCE_PATH",
        str(PROJECT_ROOT / "instance"),
        "folder for the SQLite file and uploaded files",
    ),
    Setting(
        "LINLI_DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        "",
        "SQLAlchemy URL; empty means sqlite:///<instance>/linli.sqlite3. "
        "postgresql:// URLs use psycopg 3",
    ),
    Setting(
        "LINLI_REDIS_URL",
        "LINLI_REDIS_URL",
        "redis://127.0.0.1:6379/0",
        "Redis for RQ queues, the scheduler, rate limits and hot counters",
    ),
    Setting(
        "LINLI_STRIPE_API_BASE",
        "LINLI_STRIPE_API_BASE",
        "http://127.0.0.1:8420",
        "Stripe API base URL: the local localstripe server in dev, "
        "https://api.stripe.com in production",
    ),
    Setting(
        "LINLI_STRIPE_SECRET_KEY",
        "LINLI_STRIPE_SECRET_KEY",
        DEV_STRIPE_KEY,
        "Stripe secret API key; must be set in production",
    ),
    Setting(
        "LINLI_STRIPE_PUBLISHABLE_KEY",
        "LINLI_STRIPE_PUBLISHABLE_KEY",
        "pk_test_linli_dev",
        "Stripe publishable key handed to the mobile web",
    ),
    Setting(
        "LINLI_STRIPE_JS_URL",
        "LINLI_STRIPE_JS_URL",
        "",
        "Stripe.js for the checkout page (its origin is the only foreign script the pages' "
        "Content-Security-Policy allows); empty: https://js.stripe.com/v3/ when the API base "
        "is api.stripe.com, else the API base's /js.stripe.com/v3/ (localstripe's stand-in)",
    ),
    Setting(
        "LINLI_STRIPE_WEBHOOK_SECRET",
        "LINLI_STRIPE_WEBHOOK_SECRET",
        DEV_WEBHOOK_SECRET,
        "secret that signs provider webhooks (Stripe-Signature); must be set in production",
    ),
    Setting(
        "LINLI_INSTALLATION_ID",
        "LINLI_INSTALLATION_ID",
        "",
        "names this installation in every provider Idempotency-Key, so two environments on "
        "one Stripe account never share keys; empty: generated once into "
        "<instance>/installation-id (development, tests); must be set in production",
    ),
    Setting(
        "LINLI_TIME_ZONE",
        "LINLI_TIME_ZONE",
        "Asia/Shanghai",
        "zone for showing and scheduling times; storage is always UTC",
    ),
    Setting(
        "LINLI_CS_PHONE",
        "LINLI_CS_PHONE",
        "13808700000",
        "customer-service phone (same number as its WeChat), shown on deals and home",
    ),
    Setting(
        "LINLI_CITY_CENTRE",
        "LINLI_CITY_CENTRE",
        "27.3383,103.7172",
        "lat,lng of the city centre: where the pages measure distances from until a shopper "
        "shares their location, and how far (50 km) a shared location may lie",
    ),
    Setting(
        "LINLI_SMS_BACKEND",
        "LINLI_SMS_BACKEND",
        "console",
        "SMS sender: console (prints codes to the log) or memory (tests read them)",
    ),
    Setting(
        "LINLI_FLASH_STOCK_CAP",
        "LINLI_FLASH_STOCK_CAP",
        "200",
        "largest stock a flash (zero-margin) deal may have",
        _int,
    ),
    Setting(
        "LINLI_MIN_CHARGE",
        "LINLI_MIN_CHARGE",
        "400",
        "smallest sale price a deal may have, in fen: the payment provider's minimum charge "
        "(Stripe: USD 0.50 or its equivalent; 400 = ¥4.00 for CNY)",
        _int,
    ),
    Setting(
        "LINLI_CATALOG_CACHE",
        "LINLI_CATALOG_CACHE",
        "1",
        "cache the public catalog (deal list, deal pages, home) in Redis",
        _bool,
    ),
    Setting(
        "LINLI_ORDER_PAYMENT_MINUTES",
        "LINLI_ORDER_PAYMENT_MINUTES",
        "15",
        "minutes an unpaid order holds its stock before it expires",
        _int,
    ),
    Setting(
        "LINLI_WEB_BASE_URL",
        "LINLI_WEB_BASE_URL",
        "",
        "where the mobile web lives; share links redirect there (empty: this host)",
    ),
    Setting(
        "LINLI_NOTIFIER_BACKEND",
        "LINLI_NOTIFIER_BACKEND",
        "console",
        "team notifications (SLA breaches, pushes): console (log), wecom or memory (tests)",
    ),
    Setting(
        "LINLI_WECOM_WEBHOOKS",
        "LINLI_WECOM_WEBHOOKS",
        "",
        "WeCom group-robot URLs per channel: cs=URL,team=URL,wecom=URL,community=URL,"
        "official_account=URL",
    ),
    Setting(
        "LINLI_SHOPPER_TOKEN_TTL_HOURS",
        "LINLI_SHOPPER_TOKEN_TTL_HOURS",
        "720",
        "lifetime of a shopper's bearer token",
        _int,
    ),
    Setting(
        "LINLI_STAFF_TOKEN_TTL_HOURS",
        "LINLI_STAFF_TOKEN_TTL_HOURS",
        "12",
        "lifetime of a staff or merchant-staff bearer token",
        _int,
    ),
    Setting(
        "LINLI_TRUST_PROXY",
        "LINLI_TRUST_PROXY",
        "0",
        "number of reverse proxies whose X-Forwarded-For is trusted for client IPs",
        _int,
    ),
    Setting("LINLI_LOG_LEVEL", "LINLI_LOG_LEVEL", "INFO", "root log level"),
    Setting("LINLI_SQL_ECHO", "SQLALCHEMY_ECHO", "0", "log every SQL statement", _bool),
)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments and blank lines skipped); a missing file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        values[key.strip()] = value.strip()
    return values


def process_environ(env_file: Path | None = None) -> dict[str, str]:
    """The process environment, completed by ``env_file`` (default: ``LINLI_ENV_FILE`` or
    ``.run/env``) in development: a variable set in the environment always wins, and
    outside development the file is not used (a production process is configured
    explicitly)."""
    environ = dict(os.environ)
    if env_file is None:
        env_file = Path(environ.get("LINLI_ENV_FILE") or ENV_FILE)
    if environ.get("LINLI_ENV", "development") != "development":
        return environ
    from_file = read_env_file(env_file)
    if from_file.get("LINLI_ENV", "development") != "development":
        return environ
    return {**from_file, **environ}


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from ``environ`` (default: the process environment completed by
    ``.run/env``, see ``process_environ``)."""
    environ = process_environ() if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env, setting.default)
        try:
            config[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{setting.env}={raw!r}: {exc}") from exc
    return config


def finalize(config: dict[str, Any]) -> dict[str, Any]:
    """Fill derived values and refuse configurations that must not run."""
    env = config["LINLI_ENV"]
    if env not in ENVIRONMENTS:
        raise SettingsError(f"LINLI_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    instance = Path(config["LINLI_INSTANCE_PATH"])
    config["LINLI_INSTANCE_PATH"] = str(instance)
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'linli.sqlite3'}"
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["SQLALCHEMY_DATABASE_URI"])
    try:
        ZoneInfo(config["LINLI_TIME_ZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"LINLI_TIME_ZONE: unknown zone {config['LINLI_TIME_ZONE']!r}") from exc
    try:
        lat, lng = (float(part) for part in config["LINLI_CITY_CENTRE"].split(","))
    except ValueError as exc:
        raise SettingsError("LINLI_CITY_CENTRE must be lat,lng, e.g. 27.3383,103.7172") from exc
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise SettingsError("LINLI_CITY_CENTRE: latitude is -90..90 and longitude -180..180")
    if config["LINLI_MIN_CHARGE"] < 1:
        raise SettingsError("LINLI_MIN_CHARGE is a price in fen: at least 1")
    if config["LINLI_SMS_BACKEND"] not in ("console", "memory"):
        raise SettingsError("LINLI_SMS_BACKEND must be console or memory")
    if config["LINLI_NOTIFIER_BACKEND"] not in ("console", "memory", "wecom"):
        raise SettingsError("LINLI_NOTIFIER_BACKEND must be console, wecom or memory")
    installation = config["LINLI_INSTALLATION_ID"]
    if installation and not INSTALLATION_ID.fullmatch(installation):
        raise SettingsError("LINLI_INSTALLATION_ID: 1 to 40 of A-Z a-z 0-9 _ -")
    if env == "production":
        if config["SECRET_KEY"] in (DEV_SECRET_KEY, "") or len(config["SECRET_KEY"]) < 32:
            raise SettingsError(
                "LINLI_SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        if config["LINLI_STRIPE_WEBHOOK_SECRET"] in (DEV_WEBHOOK_SECRET, ""):
            raise SettingsError("LINLI_STRIPE_WEBHOOK_SECRET must be set in production")
        if config["LINLI_STRIPE_SECRET_KEY"] in (DEV_STRIPE_KEY, ""):
            raise SettingsError("LINLI_STRIPE_SECRET_KEY must be set in production")
        if not config["LINLI_INSTALLATION_ID"]:
            raise SettingsError(
                "LINLI_INSTALLATION_ID must be set in production (one value shared by every "
                "process of this installation, different from every other installation)"
            )
        if config["LINLI_SMS_BACKEND"] == "memory":
            raise SettingsError("LINLI_SMS_BACKEND=memory is for tests only")
    return config


def normalize_database_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would otherwise pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
