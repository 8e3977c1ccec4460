"""The storage ledger and its sweep: whatever happens between the bytes and the
database, no file is left that no row points to (services/storage.py).

These run on the storage of the pass: the folder on the embedded pass, the
S3 bucket on the MariaDB pass.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gallery.infra.runtime import Runtime
from gallery.infra.storage import Storage, new_stem
from gallery.models import Image, PendingStorage, StorageIntent, User
from gallery.models.user import AVATAR_SIZES, avatar_file_key
from gallery.services import images, profiles
from gallery.services import storage as stored_files_service
from tests.helpers import count_rows, delete_image, make_active_user
from tests.images import DEFAULT_PHOTO_FILES, jpeg_bytes, store_image, stored_files

NO_GRACE = timedelta(0)
AN_HOUR = timedelta(hours=1)


class RefusingDeletes:
    """The pass's storage, except that deleting fails (a store that is down, say)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.refusing = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.storage, name)

    async def delete(self, key: str) -> None:
        if self.refusing:
            raise PermissionError(f"refused to delete {key}")
        await self.storage.delete(key)


async def ledger(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(PendingStorage.intent, PendingStorage.key).order_by(PendingStorage.id)
        )
        return [(intent, key) for intent, key in rows]


async def crash_mid_upload(runtime: Runtime) -> list[str]:
    """What an upload leaves when its process dies after storing, before committing."""
    keys = [f"{new_stem()}_{name}.jpg" for name in ("original", "display", "thumb")]
    async with runtime.db.session() as session:
        await stored_files_service.record_writes(session, keys)
    for key in keys:
        await runtime.storage.put(key, jpeg_bytes())
    return keys


async def test_an_upload_and_a_deletion_leave_the_ledger_empty(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id)
    assert len(await stored_files(runtime)) == DEFAULT_PHOTO_FILES
    assert await ledger(runtime) == []

    await delete_image(runtime, user_id, image_id)
    assert await stored_files(runtime) == []
    assert await ledger(runtime) == []


async def test_the_sweep_removes_what_a_crash_mid_upload_left(runtime: Runtime) -> None:
    keys = await crash_mid_upload(runtime)
    assert sorted(keys) == await stored_files(runtime)
    assert {intent for intent, _ in await ledger(runtime)} == {StorageIntent.WRITE.value}

    # Within the grace period the upload may still be running: nothing goes.
    early = await stored_files_service.sweep(runtime.db, runtime.storage, write_grace=AN_HOUR)
    assert (early.removed, early.waiting) == ([], 3)
    assert len(await stored_files(runtime)) == 3

    report = await stored_files_service.sweep(runtime.db, runtime.storage, write_grace=NO_GRACE)
    assert sorted(report.removed) == sorted(keys)
    assert await stored_files(runtime) == []
    assert await ledger(runtime) == []


async def test_a_dry_sweep_lists_and_removes_nothing(runtime: Runtime) -> None:
    keys = await crash_mid_upload(runtime)

    report = await stored_files_service.sweep(
        runtime.db, runtime.storage, write_grace=NO_GRACE, dry_run=True
    )
    assert sorted(report.removed) == sorted(keys)
    assert await stored_files(runtime) == sorted(keys)
    assert len(await ledger(runtime)) == 3


async def test_the_sweep_never_removes_a_file_a_row_uses(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id)
    async with runtime.db.session() as session:
        image = await session.get(Image, image_id)
        assert image is not None
        # A record that outlived its commit (it cannot, but the sweep must not care).
        await stored_files_service.record_writes(session, image.storage_keys)

    report = await stored_files_service.sweep(runtime.db, runtime.storage, write_grace=NO_GRACE)
    assert report.removed == []
    assert len(report.kept) == DEFAULT_PHOTO_FILES  # the srcset widths too
    assert len(await stored_files(runtime)) == DEFAULT_PHOTO_FILES
    assert await ledger(runtime) == []


async def test_the_sweep_keeps_an_avatar_in_use_and_removes_a_forgotten_one(
    runtime: Runtime,
) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        user = await session.get_one(User, user_id)
        await profiles.set_avatar(session, runtime.storage, None, user, jpeg_bytes(), None)
        in_use = user.avatar_keys
        # Records that outlived their commit, and a crash that never pointed a row at its files.
        await stored_files_service.record_writes(session, in_use)
    forgotten = [avatar_file_key(f"{new_stem()}_avatar.jpg", size) for size in AVATAR_SIZES]
    async with runtime.db.session() as session:
        await stored_files_service.record_writes(session, forgotten)
    for key in forgotten:
        await runtime.storage.put(key, jpeg_bytes(8, 8))

    report = await stored_files_service.sweep(runtime.db, runtime.storage, write_grace=NO_GRACE)
    assert sorted(report.removed) == sorted(forgotten)
    assert sorted(report.kept) == sorted(in_use)
    assert await stored_files(runtime) == sorted(in_use)
    assert sorted(await stored_files_service.stored_keys(runtime.db)) == sorted(in_use)


async def test_files_the_store_would_not_delete_are_retried_by_the_sweep(
    runtime: Runtime,
) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id)
    refusing = RefusingDeletes(runtime.storage)
    async with runtime.db.session() as session:
        actor = await session.get(User, user_id)
        assert actor is not None
        await images.delete_image(
            session,
            refusing,  # type: ignore[arg-type]
            runtime.redis,
            image_id=image_id,
            actor=actor,
        )
    # The row is gone at once; its files wait in the ledger.
    assert await count_rows(runtime, Image) == 0
    assert len(await stored_files(runtime)) == DEFAULT_PHOTO_FILES
    assert [intent for intent, _ in await ledger(runtime)] == [
        StorageIntent.DELETE.value
    ] * DEFAULT_PHOTO_FILES

    async def sweep_now() -> stored_files_service.SweepReport:
        return await stored_files_service.sweep(
            runtime.db,
            refusing,  # type: ignore[arg-type]
            write_grace=NO_GRACE,
            delete_grace=NO_GRACE,
        )

    still_down = await sweep_now()
    assert len(still_down.failed) == DEFAULT_PHOTO_FILES
    assert len(await ledger(runtime)) == DEFAULT_PHOTO_FILES

    refusing.refusing = False
    report = await sweep_now()
    assert len(report.removed) == DEFAULT_PHOTO_FILES
    assert await stored_files(runtime) == []
    assert await ledger(runtime) == []


async def test_a_failed_upload_leaves_neither_files_nor_records(runtime: Runtime) -> None:
    ghost = User(id=424242, username="ghost", is_active=True, permissions=0xFF)
    async with runtime.db.session() as session:
        with pytest.raises(IntegrityError):  # the foreign key: there is no such author
            await images.ingest(
                session, runtime.storage, runtime.redis, author=ghost, data=jpeg_bytes()
            )
    assert await count_rows(runtime, Image) == 0
    assert await stored_files(runtime) == []
    assert await ledger(runtime) == []
