"""The background jobs a web process runs beside its requests (``jobs.py``): the mail
outbox worker and the view flusher, started and stopped with the app."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quart import Quart

from gallery import create_app
from gallery.infra.db import Database
from gallery.infra.runtime import Runtime
from tests.conftest import build_settings
from tests.helpers import make_active_user, register, stored_view_count
from tests.images import add_image_rows
from tests.mailbox import SmtpServer


async def test_web_process_worker_delivers_registration_mail_in_background(
    backend: dict[str, object], instance_root: object, clean: None
) -> None:
    server = SmtpServer()
    server.start()
    try:
        settings = build_settings(
            backend,
            instance_root,  # type: ignore[arg-type]
            run_worker=True,
            worker_poll_seconds=0.05,
            smtp_host=server.host,
            smtp_port=server.port,
        )
        app: Quart = create_app(settings)
        async with app.test_app():
            response = await register(app.test_client())
            assert response.status_code == 302  # the request did not wait for SMTP
            for _ in range(100):
                if server.messages:
                    break
                await asyncio.sleep(0.05)
        [mail] = server.messages
        assert mail["Subject"] == "Activate your Gallery account"
    finally:
        server.stop()


async def test_the_web_process_flushes_views_in_the_background(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    settings = build_settings(backend, instance_root, run_worker=True, view_flush_seconds=0.05)
    app = create_app(settings)
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
        response = await app.test_client().get(f"/api/v1/images/{image_id}")
        assert response.status_code == 200

        async def flushed() -> None:
            while await stored_view_count(runtime.db, image_id) != 1:
                await asyncio.sleep(0.05)

        # No flush_views call here: only the background loop can write it.
        await asyncio.wait_for(flushed(), timeout=60)  # a guard against hanging, not a speed test


async def test_views_are_flushed_when_the_web_process_stops(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    # An interval far longer than the test: only the flush at shutdown can write.
    settings = build_settings(backend, instance_root, run_worker=True, view_flush_seconds=3600)
    app = create_app(settings)
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
        await app.test_client().get(f"/api/v1/images/{image_id}")
        assert await stored_view_count(runtime.db, image_id) == 0
    database = Database(str(settings.database_url))
    try:
        assert await stored_view_count(database, image_id) == 1
    finally:
        await database.dispose()
