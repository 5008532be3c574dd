"""Settings come from the environment, with documented defaults and production guards."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace import create_app, settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_an_embedded_dev_setup():
    config = settings.finalize(settings.load({}))

    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/linli.sqlite3")
    assert config["LINLI_STRIPE_API_BASE"] == "http://127.0.0.1:8420"
    assert config["LINLI_TIME_ZONE"] == "Asia/Shanghai"
    assert config["LINLI_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert config["LINLI_MIN_CHARGE"] == 400  # Stripe's minimum charge in CNY, ¥4.00


def test_postgresql_urls_use_psycopg3():
    config = settings.finalize(settings.load({"LINLI_DATABASE_URL": "postgresql://u@h/db"}))

    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "env",
    [
        {"LINLI_ENV": "production"},
        {"LINLI_ENV": "production", "LINLI_SECRET_KEY": "short"},
        {"LINLI_ENV": "production", "LINLI_SECRET_KEY": "x" * 40},  # webhook secret missing
        {  # Stripe key left at the dev default
            "LINLI_ENV": "production",
            "LINLI_SECRET_KEY": "x" * 40,
            "LINLI_STRIPE_WEBHOOK_SECRET": "whsec_real",
        },
        {  # no installation id: provider idempotency keys would not be namespaced
            "LINLI_ENV": "production",
            "LINLI_SECRET_KEY": "x" * 40,
            "LINLI_STRIPE_WEBHOOK_SECRET": "whsec_real",
            "LINLI_STRIPE_SECRET_KEY": "sk_live_real",
        },
        {"LINLI_INSTALLATION_ID": "two words"},
        {"LINLI_ENV": "staging"},
        {"LINLI_TIME_ZONE": "Mars/Olympus"},
        {"LINLI_STAFF_TOKEN_TTL_HOURS": "twelve"},
        {"LINLI_SMS_BACKEND": "carrier-pigeon"},
        {"LINLI_MIN_CHARGE": "0"},
        {"LINLI_MIN_CHARGE": "4.00"},
    ],
)
def test_unsafe_or_broken_configurations_refuse_to_start(env):
    with pytest.raises(settings.SettingsError):
        settings.finalize(settings.load(env))


def test_production_starts_with_real_secrets(tmp_path):
    app = create_app(
        {
            **settings.load(
                {
                    "LINLI_ENV": "production",
                    "LINLI_SECRET_KEY": "k" * 48,
                    "LINLI_STRIPE_WEBHOOK_SECRET": "whsec_real",
                    "LINLI_STRIPE_SECRET_KEY": "sk_live_real",
                    "LINLI_INSTALLATION_ID": "linli-prod",
                }
            ),
            "LINLI_INSTANCE_PATH": str(tmp_path),
        }
    )

    assert app.config["LINLI_ENV"] == "production" and not app.testing


def test_every_setting_is_documented_in_the_readme():
    readme = README.read_text(encoding="utf-8")

    missing = [s.env for s in settings.SETTINGS if f"`{s.env}`" not in readme]

    assert missing == []


def test_wecom_backend_reads_one_robot_per_channel(tmp_path):
    from marketplace.providers.notifier import WeComNotifier

    app = create_app(
        {
            **settings.load(
                {
                    "LINLI_NOTIFIER_BACKEND": "wecom",
                    "LINLI_WECOM_WEBHOOKS": "cs=http://127.0.0.1:9/a, team=http://127.0.0.1:9/b",
                }
            ),
            "LINLI_INSTANCE_PATH": str(tmp_path),
        }
    )

    notifier = app.extensions["linli.notifier"]
    assert isinstance(notifier, WeComNotifier)
    assert notifier.webhooks == {"cs": "http://127.0.0.1:9/a", "team": "http://127.0.0.1:9/b"}
