"""Typed settings read from ``GALLERY_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TESTING = "testing"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The settings cannot describe a safe, working site."""


class Settings(BaseSettings):
    """Everything configurable about Gallery; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="GALLERY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.DEVELOPMENT
    secret_key: str | None = None
    instance_dir: Path = Path("instance")
    database_url: str | None = None
    redis_url: str | None = None

    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 30.0

    mail_from: str = "Gallery <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8000"
    media_dir: Path | None = None
    # -- Where photos are stored -----------------------------------------------------
    # Unset: the folder ``media_dir``. ``s3://bucket`` or ``s3://bucket/prefix``: an
    # S3-compatible bucket (Amazon S3, MinIO, Ceph RGW, R2, B2…), which every
    # instance on every machine shares.
    storage_url: str | None = None
    # The store's endpoint (unset: Amazon S3, or botocore's AWS_ENDPOINT_URL_S3).
    s3_endpoint_url: str | None = None
    # Unset: AWS_REGION / AWS_DEFAULT_REGION, as botocore reads them, else us-east-1.
    s3_region: str | None = None
    # Unset: botocore's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, roles).
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # "auto" (path-style with an endpoint set, virtual-hosted on AWS), "path" or "virtual".
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Where browsers fetch stored keys from, when that is public (a CDN, the
    # bucket's website endpoint): ``<media_url>/<key>``. Unset with S3: presigned
    # URLs; unset with the folder: ``/media/<key>`` on the site itself.
    media_url: str | None = None
    # How long a presigned URL is valid (at most 7 days). URLs are signed per
    # half-lifetime window, so each one handed out is valid for at least half.
    s3_url_lifetime_seconds: int = Field(default=7 * 24 * 3600, ge=120, le=7 * 24 * 3600)
    # How often the worker finishes what crashes left in the storage ledger, and
    # how old a recorded write must be before its file counts as an orphan
    # (longer than any upload takes, retries included).
    storage_sweep_seconds: float = Field(default=300.0, gt=0)
    storage_write_grace_seconds: int = Field(default=3600, ge=0)
    max_upload_mb: int = Field(default=16, ge=1)
    cookie_secure: bool | None = None

    # How many reverse proxies (nginx) sit in front and set X-Forwarded-For/-Proto.
    proxy_hops: int = Field(default=0, ge=0)

    # Background work. The web process runs the mail worker unless told not to
    # (deployments that run `gallery worker` separately set this to false).
    run_worker: bool = True
    worker_poll_seconds: float = Field(default=2.0, gt=0)
    mail_retry_base_seconds: float = Field(default=30.0, ge=0)
    mail_retry_max_seconds: float = Field(default=3600.0, ge=0)
    mail_max_attempts: int = Field(default=12, ge=1)
    # How often counted image views move from Redis into images.view_count.
    view_flush_seconds: float = Field(default=30.0, gt=0)

    # Rate limits are on by default; tests of other behaviour may lift them.
    rate_limits_enabled: bool = True

    # How long sign-ins last: a browser session without "remember me" (the
    # record in Redis still expires after this), and with it.
    session_ttl_seconds: int = 24 * 3600
    remember_ttl_seconds: int = 30 * 24 * 3600
    # How long a visitor who is not signed in is remembered: a kept flash
    # message (their server-side session) and the signed cookie behind their
    # forms' CSRF token. Hours, not the sign-in's days: strangers must not be
    # able to make the site keep state for long.
    anonymous_session_hours: int = Field(default=2, ge=1)

    # -- Connection pools and overload (each per process) ------------------------
    # Database connections: pool + overflow. Two Hypercorn workers at 10 + 20 use
    # at most 60 of MariaDB's default 151, leaving room for `gallery worker` and
    # the CLI (30 each at most).
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=20, ge=0)
    # Redis connections; redis-py's own default (100) raised an error when used up.
    redis_pool_size: int = Field(default=64, ge=1)
    # How long one Redis connect or reply may take before Redis counts as down
    # (it answers in well under a millisecond when well).
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    # How long one database connect may take before the database counts as down.
    db_connect_timeout_seconds: int = Field(default=5, ge=1)
    # How long a request waits for a free database or Redis connection before it
    # is answered 503 with Retry-After: above the queueing of a busy moment, below
    # the point where clients and proxies give up on their own.
    pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # Requests one process serves at once; more are answered 503 at once (0 = no limit).
    max_requests_in_flight: int = Field(default=2048, ge=0)

    # -- Live updates over WebSocket (/api/v1/live) -----------------------------
    # Off: the endpoint answers 404 and pages keep polling.
    live_enabled: bool = True
    # Open sockets one process holds; more are refused (503) until some close.
    live_max_sockets: int = Field(default=10_000, ge=1)
    # Of which one client address may hold (per process): one visitor's tabs
    # are a handful, and nobody may take every socket of a process alone.
    live_max_sockets_per_address: int = Field(default=100, ge=1)
    # Messages waiting for one slow socket before it gets "resync" instead.
    live_queue_size: int = Field(default=256, ge=2)
    # How often a process checks that the sign-ins behind its sockets still exist.
    live_session_check_seconds: float = Field(default=2.0, gt=0)
    # How often an idle socket is sent {"type":"keepalive"}: within nginx's
    # proxy_read_timeout (60 s by default), and a write that finds a dead peer.
    live_keepalive_seconds: float = Field(default=25.0, gt=0)

    @field_validator("storage_url")
    @classmethod
    def _storage_url_is_a_bucket(cls, value: str | None) -> str | None:
        if value and not value.startswith("s3://"):
            raise ValueError("must be s3://bucket or s3://bucket/prefix (unset: the media folder)")
        return value or None

    @model_validator(mode="after")
    def _fill_derived_defaults(self) -> Self:
        self.instance_dir = self.instance_dir.expanduser().resolve()
        if self.media_dir is None:
            self.media_dir = self.instance_dir / "media"
        if self.database_url is None:
            self.database_url = f"sqlite+aiosqlite:///{self.instance_dir / 'gallery.db'}"
        if self.cookie_secure is None:
            self.cookie_secure = self.env is Environment.PRODUCTION
        self.public_url = self.public_url.rstrip("/")
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")

    @property
    def mail_dir(self) -> Path:
        return self.instance_dir / "mail"

    @property
    def export_dir(self) -> Path:
        """Where data exports are kept without a bucket: not under the media, which
        are served by URL (``infra.storage.make_export_storage``)."""
        return self.instance_dir / "exports"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def anonymous_session_seconds(self) -> int:
        return self.anonymous_session_hours * 3600

    def resolve_secret_key(self) -> str:
        """The key that signs cookies and tokens.

        Production must be given one; elsewhere a key is generated once and kept
        in the instance folder so that restarts do not sign everybody out.
        """
        if self.secret_key:
            if self.is_production and len(self.secret_key) < 32:
                raise ConfigurationError("GALLERY_SECRET_KEY must be at least 32 characters.")
            return self.secret_key
        if self.is_production:
            raise ConfigurationError(
                "GALLERY_SECRET_KEY is not set: production refuses to start without a real "
                "secret key (generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')."
            )
        key_file = self.instance_dir / "secret_key"
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            key = ""
        if not key:
            key = secrets.token_urlsafe(48)
            # Created exclusively so two processes starting at once agree on one key.
            try:
                with key_file.open("x", encoding="utf-8") as handle:
                    handle.write(key)
                key_file.chmod(0o600)
            except FileExistsError:
                key = key_file.read_text(encoding="utf-8").strip()
        return key
