"""The `gallery` command, run as a user would run it (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import (
    ModerationAction,
    ModerationEntry,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
)
from gallery.services.mail import Mailer
from gallery.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import make_active_user

REPO = Path(__file__).resolve().parents[1]


def gallery_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    env.update(
        GALLERY_ENV="testing",
        GALLERY_SECRET_KEY=TEST_SECRET_KEY,
        GALLERY_INSTANCE_DIR=str(settings.instance_dir),
        GALLERY_DATABASE_URL=str(settings.database_url),
        GALLERY_PUBLIC_URL=settings.public_url,
    )
    if settings.redis_url:
        env["GALLERY_REDIS_URL"] = settings.redis_url
    if settings.smtp_host:
        env["GALLERY_SMTP_HOST"] = settings.smtp_host
        env["GALLERY_SMTP_PORT"] = str(settings.smtp_port)
    env.update(storage_env(settings))
    env.update(extra)
    return env


def storage_env(settings: Settings) -> dict[str, str]:
    """The storage settings, as GALLERY_* variables (the bucket, on the MariaDB pass)."""
    names = (
        "storage_url",
        "s3_endpoint_url",
        "s3_region",
        "s3_access_key_id",
        "s3_secret_access_key",
        "s3_addressing_style",
        "media_url",
    )
    return {
        f"GALLERY_{name.upper()}": str(getattr(settings, name))
        for name in names
        if getattr(settings, name) is not None
    }


def gallery(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gallery.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


async def test_create_admin(runtime: Runtime, settings: Settings) -> None:
    env = gallery_env(settings)
    result = await asyncio.to_thread(
        gallery,
        "create-admin",
        "Root",
        "root@example.com",
        "--password-stdin",
        env=env,
        stdin="an admin password\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Administrator Root created." in result.stdout
    async with runtime.db.session() as session:
        admin = await session.scalar(select(User).where(User.username_key == "root"))
    assert admin is not None and admin.is_active and admin.permissions == Role.ADMINISTRATOR

    again = await asyncio.to_thread(
        gallery,
        "create-admin",
        "root",
        "other@example.com",
        "--password-stdin",
        env=env,
        stdin="an admin password\n",
    )
    assert again.returncode == 1
    assert "That username is taken." in again.stderr

    short = await asyncio.to_thread(
        gallery,
        "create-admin",
        "admin2",
        "a2@example.com",
        "--password-stdin",
        env=env,
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr


async def test_set_role_changes_the_role_and_logs_it(runtime: Runtime, settings: Settings) -> None:
    env = gallery_env(settings)
    await make_active_user(runtime, "Carol", "carol@example.com")

    promoted = await asyncio.to_thread(gallery, "set-role", "carol", "moderator", env=env)
    assert promoted.returncode == 0, promoted.stderr
    assert "Carol is now moderator." in promoted.stdout
    admin = await asyncio.to_thread(
        gallery, "set-role", "CAROL", "admin", "--reason", "runs the site", env=env
    )
    assert admin.returncode == 0, admin.stderr
    async with runtime.db.session() as session:
        carol = await session.scalar(select(User).where(User.username_key == "carol"))
        entries = (
            await session.scalars(select(ModerationEntry).order_by(ModerationEntry.id))
        ).all()
    assert carol is not None and carol.permissions == Role.ADMINISTRATOR
    assert [(e.actor_id, e.action, e.subject_id) for e in entries] == [
        (None, ModerationAction.CHANGE_ROLE, carol.id)
    ] * 2
    assert entries[0].summary == "Role of Carol: user → moderator."
    assert entries[1].reason == "runs the site"

    # The only administrator cannot be demoted: the site would have none.
    last = await asyncio.to_thread(gallery, "set-role", "carol", "user", env=env)
    assert last.returncode == 1
    assert "only working administrator" in last.stderr
    unknown_user = await asyncio.to_thread(gallery, "set-role", "nobody", "user", env=env)
    assert unknown_user.returncode == 1
    assert "There is no user called 'nobody'." in unknown_user.stderr
    unknown_role = await asyncio.to_thread(gallery, "set-role", "carol", "king", env=env)
    assert unknown_role.returncode == 2
    assert "'king' is not one of" in unknown_role.stderr


async def test_worker_process_delivers_the_outbox_and_stops_cleanly(
    runtime: Runtime, settings: Settings
) -> None:
    async with runtime.db.session() as session:
        session.add(
            Mailer(runtime.settings).compose(
                "bob@example.com", "Hello", "activate", username="bob", link="http://x/activate/t"
            )
        )
        await session.commit()
    env = gallery_env(settings, GALLERY_WORKER_POLL_SECONDS="0.1")
    process = subprocess.Popen(
        [sys.executable, "-m", "gallery.cli", "worker"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            async with runtime.db.session() as session:
                status = await session.scalar(select(OutboxMessage.status))
            if status == OutboxStatus.SENT:
                break
            await asyncio.sleep(0.1)
        assert status == OutboxStatus.SENT
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    assert process.returncode == 0, output
    assert "Mail worker stopped" in output


def test_serve_runs_the_site_and_stops_its_embedded_redis(tmp_path: Path) -> None:
    """`gallery serve` on the embedded default: schema, Redis, Hypercorn; all gone after SIGTERM."""
    import httpx

    from gallery.infra.redis import EmbeddedRedis
    from tests.mailbox import free_port

    instance = Path(tempfile.mkdtemp(prefix="gals-", dir="/tmp"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    env.update(GALLERY_INSTANCE_DIR=str(instance), GALLERY_ENV="development")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gallery.cli",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
        assert (instance / "gallery.db").exists()
        assert (instance / "redis" / "redis.sock").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    try:
        assert process.returncode == 0, output
        assert '"GET /login' in output, output  # the access log, on outside production
        assert not asyncio.run(EmbeddedRedis(instance).is_running())
    finally:
        asyncio.run(EmbeddedRedis(instance).stop())
        shutil.rmtree(instance, ignore_errors=True)
