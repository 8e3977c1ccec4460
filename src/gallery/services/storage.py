"""No orphaned files, ever: the ledger of pending writes and deletes, and its sweep.

Bytes and rows live in two systems (the folder or the bucket, and the
database) that share no transaction. So every change to stored files is first
written to ``storage_pending`` in a transaction of its own, and cleared in the
transaction that makes it final:

- an upload records its keys as ``write`` *before* storing the bytes, and
  deletes those records in the transaction that commits the image row;
- a deletion records the keys as ``delete`` in the transaction that deletes
  the row, removes the files, then clears the records.

Whatever a crash (``kill -9``, a lost machine) or a failing store leaves
recorded is finished by ``sweep``, which the worker runs every few minutes: a
``write`` older than the grace period whose key no row uses is removed, a
``delete`` is retried. Both are idempotent, so several workers may sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import Database
from gallery.infra.storage import Storage, StoredFileMissing
from gallery.models.base import utcnow
from gallery.models.image import Photo
from gallery.models.storage import PendingStorage, StorageIntent
from gallery.models.user import AVATAR_SIZES, User, avatar_file_key

# One size of an avatar (models/user.py avatar_file_key): "<root>64.jpg" of "<root>.jpg".
AVATAR_SIZE_KEY = re.compile(r"(?P<root>.+_avatar)\d+(?P<extension>\.\w+)")

log = logging.getLogger(__name__)

# A ``delete`` is retried once this old: its request removes the files itself
# right after the commit, and the sweep should not race it.
DELETE_GRACE = timedelta(minutes=1)
# Records handled per transaction of the sweep.
SWEEP_BATCH = 200


async def record_writes(session: AsyncSession, keys: Iterable[str]) -> list[int]:
    """Record that ``keys`` are about to be written, durably (commits ``session``).

    Returns the records' ids, for ``clear`` in the transaction that commits the row.
    """
    records = [PendingStorage(key=key, intent=StorageIntent.WRITE.value) for key in keys]
    session.add_all(records)
    await session.commit()
    return [record.id for record in records]


def record_deletes(session: AsyncSession, keys: Iterable[str]) -> list[PendingStorage]:
    """Add ``delete`` records to the transaction that deletes the row owning ``keys``."""
    records = [PendingStorage(key=key, intent=StorageIntent.DELETE.value) for key in keys]
    session.add_all(records)
    return records


async def clear(session: AsyncSession, record_ids: Sequence[int]) -> None:
    """Remove records in ``session``'s transaction (the caller commits)."""
    if record_ids:
        await session.execute(delete(PendingStorage).where(PendingStorage.id.in_(record_ids)))


async def remove_files(
    session: AsyncSession, storage: Storage, records: Sequence[PendingStorage]
) -> None:
    """Remove the files of committed ``delete`` records, then the records.

    A file the store will not remove now keeps its record, so the sweep retries it.
    """
    removed = []
    for record in records:
        try:
            await storage.delete(record.key)
        except OSError:
            log.warning("Could not remove stored file %s; the sweep will retry", record.key)
        else:
            removed.append(record.id)
    await clear(session, removed)
    await session.commit()


async def forget_failed_writes(
    session: AsyncSession, storage: Storage, keys: Iterable[str], record_ids: Sequence[int]
) -> None:
    """After a failed upload: remove what was stored, then its records (best effort)."""
    removed = True
    for key in keys:
        try:
            await storage.delete(key)
        except OSError:
            removed = False
            log.warning("Could not remove stored file %s; the sweep will", key)
    if removed:
        try:
            await clear(session, record_ids)
            await session.commit()
        except SQLAlchemyError:
            # The database is why the upload failed, perhaps: the sweep clears them.
            log.warning("Could not clear the records of a failed upload; the sweep will")


@dataclass
class SweepReport:
    """What a sweep removed (or, dry, would remove)."""

    removed: list[str] = field(default_factory=list)
    # Recorded writes whose row was committed after all: only the record goes.
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # Records still within their grace period.
    waiting: int = 0


async def sweep(
    db: Database,
    storage: Storage,
    *,
    write_grace: timedelta,
    delete_grace: timedelta = DELETE_GRACE,
    dry_run: bool = False,
) -> SweepReport:
    """Finish what crashes left in the ledger: remove orphaned files, retry deletes.

    A ``write`` record counts as a crash's leftover once older than
    ``write_grace`` (longer than any upload takes: its request may still be
    storing). Its file is removed unless a row uses the key.
    """
    report = SweepReport()
    now = utcnow()
    due = or_(
        (PendingStorage.intent == StorageIntent.WRITE.value)
        & (PendingStorage.created_at <= now - write_grace),
        (PendingStorage.intent == StorageIntent.DELETE.value)
        & (PendingStorage.created_at <= now - delete_grace),
    )
    last_id = 0
    while True:
        async with db.sessionmaker() as session:
            query = (
                select(PendingStorage)
                .where(due, PendingStorage.id > last_id)
                .order_by(PendingStorage.id)
                .limit(SWEEP_BATCH)
            )
            if not db.is_sqlite and not dry_run:
                # Several workers sweep at once: each takes records the others do not hold.
                query = query.with_for_update(skip_locked=True)
            records = list(await session.scalars(query))
            if not records:
                break
            last_id = records[-1].id
            in_use = await _keys_in_use(session, [r.key for r in records])
            done: list[int] = []
            for record in records:
                orphan = record.intent == StorageIntent.DELETE.value or record.key not in in_use
                if not orphan:
                    report.kept.append(record.key)
                    done.append(record.id)
                    continue
                if dry_run:
                    report.removed.append(record.key)
                    continue
                try:
                    await storage.delete(record.key)
                except OSError:
                    log.warning("Sweep: could not remove %s; next round", record.key)
                    report.failed.append(record.key)
                else:
                    report.removed.append(record.key)
                    done.append(record.id)
            if not dry_run:
                await clear(session, done)
                await session.commit()
    async with db.sessionmaker() as session:
        waiting = select(func.count()).select_from(PendingStorage).where(~due)
        report.waiting = await session.scalar(waiting) or 0
    return report


async def _keys_in_use(session: AsyncSession, keys: list[str]) -> set[str]:
    columns = (Photo.original_key, Photo.display_key, Photo.thumb_key)
    used: set[str] = set()
    for column in columns:
        used.update(await session.scalars(select(column).where(column.in_(keys))))
    # A srcset width's key is not in a column: its photo's stem and widths say it.
    by_stem: dict[str, list[str]] = {}
    for key in keys:
        stem, separator, _ = key.rpartition("_w")
        if separator:
            by_stem.setdefault(stem, []).append(key)
    if by_stem:
        photos = await session.scalars(select(Photo).where(Photo.variant_stem.in_(by_stem)))
        for photo in photos:
            used.update(set(by_stem[photo.variant_stem]) & set(photo.variant_keys))
    # Nor is an avatar's size: "<stem>_avatar64.jpg" is in use while an account's
    # avatar_key is "<stem>_avatar.jpg".
    by_avatar: dict[str, list[str]] = {}
    for key in keys:
        sized = AVATAR_SIZE_KEY.fullmatch(key)
        if sized:
            by_avatar.setdefault(sized["root"] + sized["extension"], []).append(key)
    if by_avatar:
        for avatar_key in await session.scalars(
            select(User.avatar_key).where(User.avatar_key.in_(by_avatar))
        ):
            used.update(by_avatar[avatar_key or ""])
    return used


async def run_sweeper(
    db: Database,
    storage: Storage,
    stop: asyncio.Event,
    *,
    every_seconds: float,
    write_grace: timedelta,
    first: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Sweep every ``every_seconds`` until ``stop`` is set (the worker's job).

    ``first`` runs before each round: a clean-up whose deletions this round's
    sweep then finishes if a store refused them (old drafts, ``services.drafts``).
    """
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
        if stop.is_set():
            break
        if first is not None:
            try:
                await first()
            except Exception:  # as below: the next round tries again
                log.exception("Clean-up before the storage sweep failed; the next round retries")
        try:
            report = await sweep(db, storage, write_grace=write_grace)
        except Exception:  # a database or store blip: the next round tries again
            log.exception("Storage sweep failed; the next round retries")
            continue
        if report.removed or report.failed:
            log.info(
                "Storage sweep: removed %d orphaned file(s), %d could not be removed",
                len(report.removed),
                len(report.failed),
            )


async def stored_keys(db: Database) -> list[str]:
    """Every key a row points to: each photo's variants, and avatars."""
    async with db.sessionmaker() as session:
        keys: list[str] = []
        for photo in await session.scalars(select(Photo).order_by(Photo.id)):
            keys.extend(photo.storage_keys)
        for avatar_key in await session.scalars(select(User.avatar_key).order_by(User.id)):
            if avatar_key:
                keys.extend(avatar_file_key(avatar_key, size) for size in AVATAR_SIZES)
    return keys


@dataclass
class MigrationReport:
    copied: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    # Rows point to them, but the source has no such file.
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


async def copy_files(
    source: Storage,
    target: Storage,
    keys: Sequence[str],
    *,
    concurrency: int,
    progress: Callable[[int], None] = lambda _: None,
) -> MigrationReport:
    """Copy ``keys`` from ``source`` to ``target``, skipping those already there whole.

    Resumable by design: a rerun finds what the last run copied by its size.
    Each copy is verified by the size the target reports afterwards.
    """
    report = MigrationReport()
    queue = iter(keys)

    async def copy(key: str) -> None:
        try:
            size = await source.size(key)
            if size is None:
                report.missing.append(key)
            elif await target.size(key) == size:
                report.already_there.append(key)
            else:
                data = await source.open(key)  # blocking-ok: a coroutine of the Storage interface
                await target.put(key, data)
                stored = await target.size(key)
                if stored != size:
                    report.failed.append((key, f"{stored} bytes arrived of {size}"))
                else:
                    report.copied.append(key)
        except (OSError, StoredFileMissing) as error:
            report.failed.append((key, str(error)))
        progress(1)

    async def copier() -> None:
        # ``concurrency`` copiers share one iterator: a million keys are not a
        # million tasks.
        for key in queue:
            await copy(key)

    await asyncio.gather(*(copier() for _ in range(concurrency)))
    return report
