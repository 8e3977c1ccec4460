"""The background jobs: what a web process runs beside its requests (when
``GALLERY_RUN_WORKER`` is on) and what ``gallery worker`` runs on its own.

They join infrastructure and services, so they live above both: the app
factory and the CLI hand them to the ``Runtime``.
"""

from __future__ import annotations

import asyncio

from gallery.infra.runtime import BackgroundJob, Runtime
from gallery.services import views


async def deliver_mail(runtime: Runtime, stop: asyncio.Event) -> None:
    """Send what the mail outbox holds, with retries, until stopped."""
    await runtime.outbox_worker().run(stop)


async def flush_views(runtime: Runtime, stop: asyncio.Event) -> None:
    """Move the views counted in Redis into ``images.view_count`` every few seconds."""
    assert runtime.redis is not None, "the runtime is started"
    await views.run_view_flusher(
        runtime.db, runtime.redis, stop, every_seconds=runtime.settings.view_flush_seconds
    )


BACKGROUND_JOBS: tuple[BackgroundJob, ...] = (deliver_mail, flush_views)
