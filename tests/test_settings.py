"""Settings: profiles, defaults, and the production safety checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery import create_app
from gallery.settings import ConfigurationError, Environment, Settings


def test_defaults_describe_the_embedded_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("GALLERY_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    assert settings.instance_dir == tmp_path / "instance"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'instance' / 'gallery.db'}"
    assert settings.uses_embedded_redis
    assert settings.media_dir == tmp_path / "instance" / "media"
    assert settings.mail_dir == tmp_path / "instance" / "mail"
    assert settings.max_upload_bytes == 16 * 1024 * 1024
    assert settings.cookie_secure is False
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.mail_from == "Gallery <no-reply@localhost>"
    # Strangers are remembered for hours (a kept flash, the CSRF cookie), sign-ins for days.
    assert settings.anonymous_session_hours == 2
    assert settings.anonymous_session_seconds == 2 * 3600


def test_environment_variables_and_dotenv_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "GALLERY_MAX_UPLOAD_MB=3\nGALLERY_PUBLIC_URL=https://photos.example/\n"
    )
    monkeypatch.setenv("GALLERY_SMTP_HOST", "mail.example")
    monkeypatch.setenv("GALLERY_ENV", "production")
    monkeypatch.setenv("GALLERY_ANONYMOUS_SESSION_HOURS", "6")
    settings = Settings()
    assert settings.anonymous_session_seconds == 6 * 3600
    assert settings.max_upload_mb == 3
    assert settings.public_url == "https://photos.example"
    assert settings.smtp_host == "mail.example"
    assert settings.cookie_secure is True  # production default


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, env="production", instance_dir=tmp_path, secret_key=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="GALLERY_SECRET_KEY"):
        create_app(settings)
    weak = Settings(_env_file=None, env="production", instance_dir=tmp_path, secret_key="short")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least 32"):
        create_app(weak)
    assert not (tmp_path / "secret_key").exists()


def test_production_warns_loudly_about_insecure_cookies(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        env="production",
        instance_dir=tmp_path,  # type: ignore[arg-type]
        secret_key="x" * 40,
        cookie_secure=False,
        redis_url="redis://127.0.0.1:1/0",
    )
    with pytest.warns(UserWarning, match="GALLERY_COOKIE_SECURE is false in production"):
        create_app(settings)


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, instance_dir=tmp_path)  # type: ignore[arg-type]
    first = settings.resolve_secret_key()
    assert len(first) >= 40
    assert Settings(_env_file=None, instance_dir=tmp_path).resolve_secret_key() == first  # type: ignore[arg-type]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="env"):
        Settings(_env_file=None, env="staging")  # type: ignore[arg-type]
