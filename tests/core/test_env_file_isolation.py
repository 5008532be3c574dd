"""The suite never reads the settings a `make run` left in .run/env."""

from __future__ import annotations

from marketplace import settings


def test_the_suite_ignores_make_runs_env_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "env").write_text("LINLI_MIN_CHARGE=12345\n")
    monkeypatch.delenv("LINLI_ENV", raising=False)
    monkeypatch.delenv("LINLI_MIN_CHARGE", raising=False)
    monkeypatch.setattr(settings, "ENV_FILE", tmp_path / ".run" / "env")

    assert settings.load()["LINLI_MIN_CHARGE"] != 12345
