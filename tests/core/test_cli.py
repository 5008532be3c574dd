"""``flask`` commands in a second terminal: they read the settings ``make run`` left in
.run/env, and fail in one readable line when a service they need is not there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from marketplace import settings
from marketplace.accounts.models import Role
from marketplace.core.db import db
from tests.conftest import build_app
from tests.factories import buy, live_deal, live_merchant, quick_shopper, staff

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


def test_the_env_file_completes_the_environment_which_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "env"
    env_file.write_text(
        "# written by make run\n\nLINLI_REDIS_URL=redis://127.0.0.1:6390/0\n"
        "LINLI_STRIPE_API_BASE=http://127.0.0.1:8421\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("LINLI_ENV", raising=False)
    monkeypatch.delenv("LINLI_REDIS_URL", raising=False)
    monkeypatch.setenv("LINLI_STRIPE_API_BASE", "http://127.0.0.1:9999")

    config = settings.load(settings.process_environ(env_file))

    assert config["LINLI_REDIS_URL"] == "redis://127.0.0.1:6390/0"  # from the file
    assert config["LINLI_STRIPE_API_BASE"] == "http://127.0.0.1:9999"  # the environment wins


def test_the_env_file_is_for_development_only(tmp_path, monkeypatch):
    env_file = tmp_path / "env"
    env_file.write_text("LINLI_REDIS_URL=redis://127.0.0.1:6390/0\n", encoding="utf-8")
    monkeypatch.setenv("LINLI_ENV", "production")
    monkeypatch.delenv("LINLI_REDIS_URL", raising=False)

    assert "LINLI_REDIS_URL" not in settings.process_environ(env_file)
    env_file.write_text("LINLI_ENV=production\nLINLI_REDIS_URL=redis://x:1/0\n", encoding="utf-8")
    monkeypatch.delenv("LINLI_ENV")
    assert "LINLI_REDIS_URL" not in settings.process_environ(env_file)
    env_file.write_text("LINLI_REDIS_URL\n", encoding="utf-8")
    monkeypatch.setenv("LINLI_ENV", "development")
    with pytest.raises(settings.SettingsError, match="expected KEY=VALUE"):
        settings.process_environ(env_file)


def flask_command(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    """``flask ARGS`` as a person runs it in another terminal: no LINLI_* variables of its
    own, only the env file (pointed at through LINLI_ENV_FILE instead of .run/env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update({"LINLI_ENV_FILE": str(env_file), "FLASK_APP": "wsgi"})
    return subprocess.run(  # noqa: S603 - our own entry point
        [FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def write_env(path: Path, app, **values: str) -> Path:
    settings_of_the_run = {
        "LINLI_ENV": "development",
        "LINLI_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LINLI_INSTANCE_PATH": app.config["LINLI_INSTANCE_PATH"],
        "LINLI_REDIS_URL": app.config["LINLI_REDIS_URL"],
        "LINLI_STRIPE_API_BASE": app.config["LINLI_STRIPE_API_BASE"],
        **values,
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in settings_of_the_run.items()), "utf-8")
    return path


@pytest.fixture
def pending_order(app, client, clock):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    deal = live_deal(app, client, bd, merchant["id"])
    checkout = buy(client, quick_shopper(app), deal["id"]).get_json()
    return checkout["order"]["id"]


def test_orders_pay_in_another_terminal_uses_the_runs_provider(app, pending_order, tmp_path):
    env_file = write_env(tmp_path / "env", app)  # the provider the order was made with

    result = flask_command(env_file, "orders", "pay", str(pending_order))

    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout


def test_an_unreachable_provider_is_one_readable_line(app, pending_order, tmp_path):
    env_file = write_env(tmp_path / "env", app, LINLI_STRIPE_API_BASE="http://127.0.0.1:9")

    result = flask_command(env_file, "orders", "pay", str(pending_order))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "payment_provider_unavailable" in errors[0] and "http://127.0.0.1:9" in errors[0]
    assert len(result.stderr.splitlines()) <= 2  # and the client's own warning, if logged


def test_an_unreachable_redis_is_one_readable_line(app, client, clock, tmp_path):
    bd = staff(app, client, Role.BD)
    merchant = live_merchant(client, bd)
    live_deal(app, client, bd, merchant["id"], "flash")
    broken = build_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        "redis://127.0.0.1:9/0",
        app.config["LINLI_INSTANCE_PATH"],
    )

    result = broken.test_cli_runner().invoke(args=["flash", "rebuild"])
    with broken.app_context():
        db.engine.dispose()

    assert result.exit_code == 1
    assert result.output.startswith("Error: Redis is not answering at redis://127.0.0.1:9/0")
    assert len(result.output.strip().splitlines()) == 1
