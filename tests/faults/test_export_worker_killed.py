"""Drill: the worker building a data export is killed (SIGKILL) half-way through.

A real ``gallery worker`` process builds a 60 MB archive into the export
storage (the bucket, on this pass: an S3 multipart upload) and is killed
while the upload is open, so none of its clean-up runs. What it leaves (the
request marked "building", an unfinished upload) must not stop the archive
from being made: once its heartbeat is stale, the next worker takes the
request up from the start, removes the dead one's leftovers, and builds it.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Storage
from gallery.infra.storage import LocalStorage
from gallery.models import DataExport, ExportStatus, Photo
from gallery.models.base import utcnow
from gallery.services import exports
from gallery.services.mail import Mailer
from gallery.settings import Settings
from tests.helpers import add_user_rows
from tests.images import add_image_rows, list_stored_keys
from tests.test_cli import REPO, gallery_env

PHOTOS = 20
PHOTO_BYTES = 3_000_000
# A bound on waiting for the worker to get half-way, not a timed assertion.
PATIENCE_SECONDS = 120.0


async def export_row(runtime: Runtime) -> DataExport:
    async with runtime.db.session() as session:
        row = await session.scalar(select(DataExport))
        assert row is not None
        return row


async def leftovers(store: object, key: str) -> int:
    """What a writer of ``key`` has open: S3 multipart uploads, or temporary files."""
    if isinstance(store, S3Storage):
        found = await store.client.list_multipart_uploads(
            Bucket=store.location.bucket, Prefix=store.location.object_key(key)
        )
        return len(found.get("Uploads", []))
    assert isinstance(store, LocalStorage)
    path = store.root / key
    return len(list(path.parent.glob(f".{path.name}.*.tmp")))


async def test_an_export_whose_worker_is_killed_midway_is_built_by_the_next(
    runtime: Runtime, settings: Settings
) -> None:
    (alice_id,) = await add_user_rows(runtime, "alice")
    post_ids = await add_image_rows(runtime, alice_id, PHOTOS)
    async with runtime.db.session() as session:
        keys = list(
            await session.scalars(select(Photo.original_key).where(Photo.image_id.in_(post_ids)))
        )
        session.add(DataExport(user_id=alice_id, status=ExportStatus.WAITING, attempts=0))
        await session.commit()
    for key in keys:
        await runtime.storage.put(key, os.urandom(PHOTO_BYTES))

    worker = subprocess.Popen(
        [sys.executable, "-m", "gallery.cli", "worker"],
        env=gallery_env(settings, GALLERY_WORKER_POLL_SECONDS="0.1"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    store = runtime.export_storage
    try:
        # Half-way: the archive's key is chosen and its upload is open.
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            row = await export_row(runtime)
            if row.archive_key is not None and await leftovers(store, row.archive_key):
                break
            assert worker.poll() is None, "the worker exited"
            if time.monotonic() > deadline or row.status == ExportStatus.READY:
                pytest.fail(f"never caught the worker half-way (the export is {row.status})")
            await asyncio.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        output, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == -signal.SIGKILL, output

    dead = await export_row(runtime)
    assert dead.status == ExportStatus.BUILDING
    assert dead.archive_key is not None
    assert await leftovers(store, dead.archive_key) >= 1
    # While its heartbeat is fresh, nobody else touches it.
    assert await exports.claim_next(runtime.db) is None
    # Five minutes later (as the clock would have it): the next worker takes it up.
    async with runtime.db.session() as session:
        await session.execute(
            update(DataExport).values(
                heartbeat_at=utcnow() - exports.STALE_AFTER - timedelta(seconds=1)
            )
        )
        await session.commit()
    export_id = await exports.claim_next(runtime.db)
    assert export_id == dead.id
    await exports.build(runtime.db, runtime.storage, store, Mailer(runtime.settings), export_id)

    done = await export_row(runtime)
    assert done.status == ExportStatus.READY
    assert done.attempts == 2
    assert done.archive_key is not None and done.archive_key != dead.archive_key
    assert await leftovers(store, dead.archive_key) == 0
    assert await list_stored_keys(store) == [done.archive_key]
    stream = await store.open_stream(done.archive_key)
    async with stream:
        data = b"".join([chunk async for chunk in stream])
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    photos = [name for name in archive.namelist() if Path(name).parent.name == "photos"]
    assert len(photos) == PHOTOS
