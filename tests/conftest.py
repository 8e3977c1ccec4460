"""Test fixtures: real databases, a real Redis, a real SMTP server.

Two back-ends, chosen by ``GALLERY_TEST_BACKEND``:

* ``embedded`` (default): SQLite in a temporary instance folder, the embedded
  Redis server the app starts itself, mail written to ``<instance>/mail``;
* ``mariadb``: MariaDB (``GALLERY_TEST_DATABASE_URL``, a database the tests
  create and drop), Redis (``GALLERY_TEST_REDIS_URL``, a database they flush),
  an aiosmtpd SMTP server and an S3-compatible server (SeaweedFS, whose bucket
  holds the photos) that the tests start.

``GALLERY_TEST_STORAGE`` (``folder`` or ``s3``) overrides where photos go:
the folder on the embedded pass, the bucket on the MariaDB pass by default.

Every test gets empty tables, an empty Redis database and no stored photos,
and leaves them so.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from argon2 import PasswordHasher
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import delete, exists, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from werkzeug.routing import Rule

from gallery import create_app
from gallery.cli import upgrade_schema
from gallery.infra.db import Database
from gallery.infra.redis import EmbeddedRedis, connect
from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Location
from gallery.models import Base
from gallery.services import passwords
from gallery.settings import Settings
from tests.mailbox import FileMailbox, Mailbox, SmtpMailbox, SmtpServer
from tests.private_servers import PrivateRedis
from tests.s3_server import (
    S3Server,
    client_config,
    create_bucket,
    delete_bucket,
    start_s3_server,
)

BACKEND = os.environ.get("GALLERY_TEST_BACKEND", "embedded")
MARIADB_URL = os.environ.get(
    "GALLERY_TEST_DATABASE_URL",
    "mysql+asyncmy://root@127.0.0.1:3306/gallery_test?charset=utf8mb4",
)
REDIS_URL = os.environ.get("GALLERY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STORAGE = os.environ.get("GALLERY_TEST_STORAGE", "s3" if BACKEND == "mariadb" else "folder")
TEST_BUCKET = "gallery-tests"
TEST_PREFIX = "media"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-production-0123456789"

# The fault drills (tests/faults) start private MariaDB and Redis servers and
# break them on purpose; they need MariaDB's binaries and root, and take their
# time, so they run in the MariaDB pass of CI only, never on the embedded default.
# Fuzzing the API with schemathesis (a minute) runs once too, in that pass:
# what it checks, the document against the answers, does not depend on the back-end.
# So do the live-update tests (tests/live): two-worker servers, one per test.
collect_ignore = [] if BACKEND == "mariadb" else ["faults", "live", "web/api/test_openapi_fuzz.py"]


def pytest_report_header() -> str:
    return f"gallery test backend: {BACKEND}"


async def _recreate_mariadb_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database
    assert name and re.fullmatch(r"[A-Za-z0-9_]+", name), "test database names are plain words"
    engine = create_async_engine(parsed.set(database=""))
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await connection.execute(
            text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    await engine.dispose()


async def _drop_mariadb_database(url: str) -> None:
    parsed = make_url(url)
    engine = create_async_engine(parsed.set(database=""))
    async with engine.begin() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS `{parsed.database}`"))
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def light_password_hashing() -> Iterator[None]:
    """Argon2id at its lightest in this process (one pass over 1 MiB, about 2 ms).

    The site's cost (argon2-cffi's defaults: three passes over 64 MiB, about
    0.1 s, more on a busy machine) is there to slow down whoever steals the
    hashes; the tests make and check a few thousand passwords, and at that
    cost they spent minutes of each CI pass on it. Hashes carry their own
    parameters, so the servers the browser tests and drills start (which keep
    the site's cost) verify these too, and a hash they make is checked here.
    """
    passwords._hasher.cache_clear()
    original = passwords._hasher
    passwords._hasher = functools.lru_cache(maxsize=1)(  # type: ignore[assignment]
        lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    yield
    passwords._hasher = original  # type: ignore[assignment]


@pytest.fixture(scope="session", autouse=True)
def url_rules_compiled_once() -> Iterator[None]:
    """Compile each URL rule's builders once per test run, not once per test.

    Almost every test builds a new app, and werkzeug compiles every one of its
    ~160 URL rules into two Python functions (through ``ast`` and
    ``compile``): 55 of the 60 ms ``create_app`` takes, over a minute of each
    CI pass. A builder is a plain function of the rule's text, its parsed
    parts and its defaults (the rule itself is bound to it afterwards), so the
    same rule in the next test's app gets the same function back. The site
    compiles its rules once per worker and does not need this.
    """
    original = Rule._compile_builder
    builders: dict[tuple[object, ...], Callable[..., tuple[str, str]]] = {}

    def compile_builder(rule: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        key = (
            rule.rule,
            tuple(rule._trace),
            repr(sorted((rule.defaults or {}).items())),
            append_unknown,
        )
        builder = builders.get(key)
        if builder is None:
            builder = builders[key] = original(rule, append_unknown)
        return builder

    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
    yield
    Rule._compile_builder = original  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def instance_root() -> Iterator[Path]:
    # Short, because the embedded Redis listens on a unix socket in it.
    root = Path(tempfile.mkdtemp(prefix="gal-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer | None]:
    """The aiosmtpd server the app's mail goes to on the MariaDB back-end."""
    if BACKEND != "mariadb":
        yield None
        return
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(instance_root: Path) -> Iterator[S3Server | None]:
    """The S3-compatible server and bucket of the pass (``None`` when photos go to the folder)."""
    if STORAGE == "folder":
        yield None
        return
    if STORAGE != "s3":
        raise pytest.UsageError(f"unknown GALLERY_TEST_STORAGE {STORAGE!r}")
    server = start_s3_server(instance_root / "s3")
    try:
        asyncio.run(create_bucket(server, TEST_BUCKET))
        yield server
        asyncio.run(delete_bucket(server, TEST_BUCKET))
    finally:
        server.stop()


@pytest.fixture(scope="session")
def any_s3_server(s3_server: S3Server | None, instance_root: Path) -> Iterator[S3Server]:
    """An S3 server for the tests of the S3 backend itself, on either pass: the
    pass's own, or one started for them (only when a test asks)."""
    if s3_server is not None:
        yield s3_server
        return
    server = start_s3_server(instance_root / "s3-backend-tests")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def s3_bucket(any_s3_server: S3Server) -> AsyncIterator[str]:
    """A new, empty bucket of the test's own, deleted (with what is in it) afterwards."""
    name = f"gallery-test-{secrets.token_hex(4)}"
    await create_bucket(any_s3_server, name)
    try:
        yield name
    finally:
        await delete_bucket(any_s3_server, name)


def storage_settings(server: S3Server | None) -> dict[str, object]:
    """The GALLERY_* storage settings that put photos in the test bucket."""
    if server is None:
        return {}
    return {
        "storage_url": f"s3://{TEST_BUCKET}/{TEST_PREFIX}",
        "s3_endpoint_url": server.endpoint_url,
        "s3_region": server.region,
        "s3_access_key_id": server.access_key_id,
        "s3_secret_access_key": server.secret_access_key,
    }


@pytest.fixture(scope="session")
def backend(
    instance_root: Path, smtp_server: SmtpServer | None, s3_server: S3Server | None
) -> Iterator[dict[str, object]]:
    """The schema at Alembic head, and the Redis server, for the whole session."""
    storage = storage_settings(s3_server)
    if BACKEND == "mariadb":
        asyncio.run(_recreate_mariadb_database(MARIADB_URL))
        upgrade_schema(MARIADB_URL)
        yield {
            "database_url": MARIADB_URL,
            "redis_url": REDIS_URL,
            "smtp": smtp_server,
            "storage": storage,
        }
        asyncio.run(_drop_mariadb_database(MARIADB_URL))
    elif BACKEND == "embedded":
        database_url = f"sqlite+aiosqlite:///{instance_root / 'gallery.db'}"
        upgrade_schema(database_url)
        embedded = EmbeddedRedis(instance_root)
        asyncio.run(embedded.ensure_running())
        yield {"database_url": database_url, "redis_url": None, "smtp": None, "storage": storage}
        asyncio.run(embedded.stop())
    else:
        raise pytest.UsageError(f"unknown GALLERY_TEST_BACKEND {BACKEND!r}")


def build_settings(
    backend: dict[str, object], instance_root: Path, **overrides: object
) -> Settings:
    smtp = backend["smtp"]
    values: dict[str, object] = {
        "env": "testing",
        "secret_key": TEST_SECRET_KEY,
        "instance_dir": instance_root,
        "database_url": backend["database_url"],
        "redis_url": backend["redis_url"],
        "smtp_host": smtp.host if smtp else None,  # type: ignore[attr-defined]
        "smtp_port": smtp.port if smtp else None,  # type: ignore[attr-defined]
        "public_url": "http://gallery.test",
        "run_worker": False,
        "mail_retry_base_seconds": 0,
        "worker_poll_seconds": 0.1,
        **backend["storage"],  # type: ignore[dict-item]
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


HARNESS_REDIS_TIMEOUT_SECONDS = 15.0


@pytest.fixture
def settings(backend: dict[str, object], instance_root: Path) -> Settings:
    # In-process tests wait longer for a Redis reply than the site's 1 s: on a
    # loaded CI machine a reply has taken longer (ETags went missing). What a
    # hung Redis costs is proven by the drills, on servers they freeze for real.
    return build_settings(
        backend, instance_root, redis_timeout_seconds=HARNESS_REDIS_TIMEOUT_SECONDS
    )


async def _empty_everything(settings: Settings) -> None:
    database = Database(str(settings.database_url))
    tables = list(reversed(Base.metadata.sorted_tables))  # children before parents
    async with database.session() as session, session.begin():
        # One round trip finds the few tables a test wrote to; a DELETE for each
        # of the others would cost a round trip for nothing, twice per test.
        written = (await session.execute(select(*(exists().select_from(t) for t in tables)))).one()
        for table, has_rows in zip(tables, written, strict=True):
            if has_rows:
                await session.execute(delete(table))
    await database.dispose()
    redis_url = settings.redis_url or EmbeddedRedis(settings.instance_dir).url
    # The harness is not the subject: on a loaded CI machine (both passes run at
    # once) the site's 1 s connect timeout has failed a test's set-up here.
    redis = connect(redis_url, socket_timeout=HARNESS_REDIS_TIMEOUT_SECONDS)
    await redis.flushdb()
    await redis.aclose()
    shutil.rmtree(settings.mail_dir, ignore_errors=True)
    shutil.rmtree(settings.export_dir, ignore_errors=True)
    if settings.media_dir is not None:
        shutil.rmtree(settings.media_dir, ignore_errors=True)
    if settings.storage_url:
        await asyncio.to_thread(_empty_bucket_prefix, settings)


@functools.cache
def _bucket_client(endpoint_url: str, region: str, key_id: str, secret: str) -> Any:
    """A plain (blocking) botocore client, made once: emptying the bucket before and
    after every test would otherwise build an aiobotocore client each time."""
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=client_config(),
    )


def _empty_bucket_prefix(settings: Settings) -> None:
    location = S3Location.parse(str(settings.storage_url))
    client = _bucket_client(
        str(settings.s3_endpoint_url),
        str(settings.s3_region),
        str(settings.s3_access_key_id),
        str(settings.s3_secret_access_key),
    )
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix
    ):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=location.bucket, Delete={"Objects": keys, "Quiet": True})


@pytest.fixture
async def clean(settings: Settings) -> AsyncIterator[None]:
    """Empty tables, Redis, the mail and media folders before and after the test."""
    await _empty_everything(settings)
    yield
    await _empty_everything(settings)


@pytest.fixture
async def app(settings: Settings, clean: None) -> AsyncIterator[Quart]:
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def runtime(app: Quart) -> Runtime:
    return app.extensions["gallery"]


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@pytest.fixture
def mailbox(runtime: Runtime, smtp_server: SmtpServer | None) -> Mailbox:
    """The mail the app sent, delivered by running its outbox worker on demand."""
    if smtp_server is not None:
        smtp_server.messages.clear()
        return SmtpMailbox(runtime, smtp_server)
    return FileMailbox(runtime)


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A redis-server of the test's own, to stop, restart and freeze (tests/private_servers.py)."""
    data_dir = tmp_path / "redis"
    data_dir.mkdir()
    redis = PrivateRedis(data_dir)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


@pytest.fixture
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crawler trusts the environment (operators behind a proxy); the local site
    must be reached directly whatever the machine running the tests has set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
