"""The background jobs: what a web process runs beside its requests (when
``GALLERY_RUN_WORKER`` is on) and what ``gallery worker`` runs on its own.

They join infrastructure and services, so they live above both: the app
factory and the CLI hand them to the ``Runtime``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gallery.infra.mail import make_transport
from gallery.infra.runtime import BackgroundJob, Runtime
from gallery.services import deletion, drafts, exports, views
from gallery.services import storage as stored_files
from gallery.services.mail import Mailer, OutboxWorker


async def deliver_mail(runtime: Runtime, stop: asyncio.Event) -> None:
    """Send what the mail outbox holds, with retries, until stopped."""
    worker = OutboxWorker(runtime.db, make_transport(runtime.settings), runtime.settings)
    await worker.run(stop)


async def flush_views(runtime: Runtime, stop: asyncio.Event) -> None:
    """Move the views counted in Redis into ``images.view_count`` every few seconds."""
    assert runtime.redis is not None, "the runtime is started"
    await views.run_view_flusher(
        runtime.db, runtime.redis, stop, every_seconds=runtime.settings.view_flush_seconds
    )


async def sweep_storage(runtime: Runtime, stop: asyncio.Event) -> None:
    """Remove the files crashes orphaned (see ``services.storage``), and drafts
    nobody posted within a day (``services.drafts``), every few minutes."""
    settings = runtime.settings
    await stored_files.run_sweeper(
        runtime.db,
        runtime.storage,
        stop,
        every_seconds=settings.storage_sweep_seconds,
        write_grace=timedelta(seconds=settings.storage_write_grace_seconds),
        first=lambda: drafts.sweep_drafts(runtime.db, runtime.storage),
    )


async def empty_deleted_accounts(runtime: Runtime, stop: asyncio.Event) -> None:
    """Remove what deleted accounts left, in batches (``services.deletion``)."""
    await deletion.run_account_deleter(
        runtime.db,
        runtime.storage,
        runtime.export_storage,
        runtime.redis,
        stop,
        every_seconds=ACCOUNT_DELETER_SECONDS,
    )


async def build_data_exports(runtime: Runtime, stop: asyncio.Event) -> None:
    """Build the archives people asked for, and remove expired ones (``services.exports``)."""
    await exports.run_export_builder(
        runtime.db,
        runtime.storage,
        runtime.export_storage,
        Mailer(runtime.settings),
        stop,
        every_seconds=EXPORT_BUILDER_SECONDS,
    )


# How often the worker looks for deleted accounts to empty (the request that
# deletes one does not wait for it; a few seconds is soon enough).
ACCOUNT_DELETER_SECONDS = 5.0
# How often the worker looks for exports to build (it builds them one after another).
EXPORT_BUILDER_SECONDS = 5.0

BACKGROUND_JOBS: tuple[BackgroundJob, ...] = (
    deliver_mail,
    flush_views,
    sweep_storage,
    empty_deleted_accounts,
    build_data_exports,
)
