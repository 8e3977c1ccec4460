""" "Download my data": an archive of everything an account made, built in the background.

The owner asks (at most once a day); the worker (``run_export_builder``)
claims the request with one conditional UPDATE, so two workers never build the
same one, and writes a zip straight into the export storage
(``infra.storage.make_export_storage``, apart from the public media):

- ``profile.json``: the account as its owner sees it on the settings pages
  (no password hash, second-factor secret or recovery codes);
- ``posts.json``: every post with its caption, alt texts, tags, visibility,
  times and counts, each photo pointing at its file in ``photos/``;
- ``comments.json``, ``likes.json``, ``follows.json``: what the account said,
  liked and follows, and who follows it;
- ``photos/``: every photo at full size (the original as stored: as uploaded,
  without its metadata), ``avatar.jpg`` if there is one;
- ``README.txt``: what each file holds.

The archive is never whole in memory: rows are read in batches, files in
chunks, and the zip's bytes flow to ``Storage.put_stream`` (an S3 multipart
upload, or a temporary file renamed into place) as they are made. At most one
chunk of a photo and one part of the upload are held at a time.

When it is stored, a mail links to the download (``/settings/data/<id>/download``,
for the signed-in owner only), valid for ``VALID_DAYS``; then the archive is
removed. A build that dies with its worker (its ``heartbeat_at`` stops
moving) is taken up again from the start by the next worker; after
``MAX_ATTEMPTS`` it is marked failed and the owner may ask again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil
from typing import IO, Any, NamedTuple

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import Database
from gallery.infra.storage import Storage, StoredFileMissing, new_stem
from gallery.models.base import utcnow
from gallery.models.comment import Comment
from gallery.models.export import DataExport, ExportStatus
from gallery.models.image import Image, Photo
from gallery.models.social import Follow, Like, Tag, image_tags
from gallery.models.user import User
from gallery.services.errors import Conflict, NotFoundError, TooSoon
from gallery.services.mail import Mailer
from gallery.services.notifications import kinds_off

log = logging.getLogger(__name__)

# How long a built archive may be downloaded.
VALID_DAYS = 7
# One archive a day per account: each reads every row and file the account has.
REQUEST_INTERVAL = timedelta(days=1)
# A build whose worker has not written a heartbeat for this long died with it.
STALE_AFTER = timedelta(minutes=5)
HEARTBEAT_SECONDS = 30.0
# Builds tried this often are marked failed (a file that breaks the build
# every time should not keep a worker busy forever).
MAX_ATTEMPTS = 3
# Rows read per query, and bytes handed to the store at once.
ROWS_PER_BATCH = 500
CHUNK_BYTES = 1024 * 1024
# The exports a settings page lists.
LISTED = 10
ARCHIVE_README = """\
Your Gallery data, as of {made_at} (UTC)

profile.json   your account: names, e-mail address, bio, website, settings
posts.json     your posts: caption, alt texts, tags, visibility, times, counts;
               each photo names its file in photos/
comments.json  the comments you wrote, with the post each is on
likes.json     the posts you liked, and when
follows.json   whom you follow, and who follows you
photos/        every photo you posted, at full size
avatar.jpg     your avatar (320 px), if you chose one

Times are ISO 8601 in UTC. Links point at {site_url}.
"""


# -- asking for one, and finding it ------------------------------------------


async def request_export(session: AsyncSession, user: User) -> DataExport:
    """Ask for an archive of ``user``'s data.

    ``Conflict`` while one is being made, ``TooSoon`` within a day of the last.
    """
    # The account row is the lock: two requests at once are one after the other.
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    latest = await session.scalar(
        select(DataExport)
        .where(DataExport.user_id == user.id, DataExport.status != ExportStatus.FAILED)
        .order_by(DataExport.requested_at.desc(), DataExport.id.desc())
        .limit(1)
    )
    if latest is not None:
        if latest.status in (ExportStatus.WAITING, ExportStatus.BUILDING):
            raise Conflict("Your archive is being made already: we will mail you when it is ready.")
        next_allowed = latest.requested_at + REQUEST_INTERVAL
        if utcnow() < next_allowed:
            raise TooSoon(
                "You can ask for one archive a day: the next one from "
                f"{next_allowed:%Y-%m-%d %H:%M} UTC.",
                retry_after=ceil((next_allowed - utcnow()).total_seconds()),
            )
    export = DataExport(user_id=user.id, status=ExportStatus.WAITING, attempts=0)
    session.add(export)
    await session.commit()
    return export


async def exports_of(session: AsyncSession, user: User) -> list[DataExport]:
    """``user``'s latest exports, newest first."""
    return list(
        await session.scalars(
            select(DataExport)
            .where(DataExport.user_id == user.id)
            .order_by(DataExport.requested_at.desc(), DataExport.id.desc())
            .limit(LISTED)
        )
    )


async def downloadable(session: AsyncSession, user: User, export_id: int) -> DataExport:
    """``user``'s export ``export_id`` if its archive may be downloaded; else ``NotFoundError``."""
    export = await session.get(DataExport, export_id)
    if (
        export is None
        or export.user_id != user.id
        or export.status != ExportStatus.READY
        or export.archive_key is None
        or export.expires_at is None
        or export.expires_at <= utcnow()
    ):
        raise NotFoundError(
            "There is no such archive: it may have expired. Ask for a new one on the "
            "“Your data” page."
        )
    return export


def archive_name(user: User, export: DataExport) -> str:
    """The name the browser saves the archive under."""
    made = export.finished_at or export.requested_at
    return f"gallery-{user.username}-{made:%Y-%m-%d}.zip"


# -- writing the archive ------------------------------------------------------


class _Sink:
    """Where the zip writes its bytes; the builder takes them out as they come.

    It cannot seek, so ``zipfile`` writes each entry's sizes after its data
    (a data descriptor): nothing has to be gone back to.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _extension(key: str) -> str:
    return key.rsplit(".", 1)[-1] if "." in key else "bin"


class _PhotoFile(NamedTuple):
    id: int
    post_id: int
    position: int
    key: str
    created_at: datetime


@dataclass
class _Builder:
    session: AsyncSession
    media: Storage
    user: User
    site_url: str
    heartbeat: Callable[[], Awaitable[None]]
    last_beat: float = 0.0

    async def _beat(self) -> None:
        if time.monotonic() - self.last_beat >= HEARTBEAT_SECONDS:
            self.last_beat = time.monotonic()
            await self.heartbeat()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The archive's bytes, in pieces of about ``CHUNK_BYTES``."""
        self.last_beat = time.monotonic()
        sink = _Sink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            made_at = utcnow()
            archive.writestr(
                "README.txt",
                ARCHIVE_README.format(made_at=f"{made_at:%Y-%m-%d %H:%M}", site_url=self.site_url),
            )
            archive.writestr("profile.json", _dump(await self._profile()))
            yield sink.take()

            files: dict[int, str] = {}
            async for photo in self._photos():
                name = f"photos/{photo.post_id}-{photo.position + 1}.{_extension(photo.key)}"
                try:
                    pieces = await self.media.open_stream(photo.key, CHUNK_BYTES)
                except StoredFileMissing:
                    log.warning("Export of user %d: photo %d has no file", self.user.id, photo.id)
                    continue
                entry = zipfile.ZipInfo(name, date_time=_zip_time(photo.created_at))
                entry.compress_type = zipfile.ZIP_STORED  # photos do not compress
                async with pieces:
                    with _new_entry(archive, entry) as handle:
                        async for piece in pieces:
                            handle.write(piece)
                            if len(sink.buffer) >= CHUNK_BYTES:
                                yield sink.take()
                files[photo.id] = name
                yield sink.take()
                await self._beat()

            if self.user.avatar_key:
                with contextlib.suppress(StoredFileMissing):
                    largest = self.user.avatar_keys[-1]
                    avatar = await self.media.open(largest)  # blocking-ok: awaited Storage.open
                    archive.writestr("avatar.jpg", avatar, compress_type=zipfile.ZIP_STORED)
                    yield sink.take()

            for name, rows in (
                ("posts.json", self._posts(files)),
                ("comments.json", self._comments()),
                ("likes.json", self._likes()),
                ("follows.json", self._follows()),
            ):
                with _new_entry(archive, name) as handle:
                    async for text in _json_array(rows):
                        handle.write(text.encode())
                        if len(sink.buffer) >= CHUNK_BYTES:
                            yield sink.take()
                            await self._beat()
                yield sink.take()
        yield sink.take()  # the central directory, written as the zip closes

    async def _profile(self) -> dict[str, Any]:
        user = self.user
        return {
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "bio": user.bio,
            "website": user.website,
            "url": f"{self.site_url}/u/{user.username}",
            "joined_at": _iso(user.created_at),
            "private_account": user.is_private,
            "appearance": user.theme,
            "show_sensitive_posts": user.show_sensitive,
            "notifications_off": sorted(kinds_off(user)),
            "two_factor": user.has_two_factor,
        }

    async def _photos(self) -> AsyncIterator[_PhotoFile]:
        # Columns, not rows: an account's thousands of photos never pile up in the session.
        last_id = 0
        while True:
            batch = [
                _PhotoFile(*row)
                for row in await self.session.execute(
                    select(Photo.id, Image.id, Photo.position, Photo.original_key, Photo.created_at)
                    .join(Image, Photo.image_id == Image.id)
                    .where(Image.author_id == self.user.id, Photo.id > last_id)
                    .order_by(Photo.id)
                    .limit(ROWS_PER_BATCH)
                )
            ]
            if not batch:
                return
            for photo in batch:
                yield photo
            last_id = batch[-1].id

    async def _posts(self, files: dict[int, str]) -> AsyncIterator[dict[str, Any]]:
        last_id = 0
        while True:
            posts = list(
                await self.session.scalars(
                    select(Image)
                    .where(Image.author_id == self.user.id, Image.id > last_id)
                    .order_by(Image.id)
                    .limit(ROWS_PER_BATCH)
                )
            )
            if not posts:
                return
            tags: dict[int, list[str]] = {}
            for post_id, name in await self.session.execute(
                select(image_tags.c.image_id, Tag.name)
                .join(Tag, Tag.id == image_tags.c.tag_id)
                .where(image_tags.c.image_id.in_([post.id for post in posts]))
            ):
                tags.setdefault(post_id, []).append(name)
            for post in posts:
                yield {
                    "id": post.id,
                    "url": f"{self.site_url}/images/{post.id}",
                    "caption": post.description,
                    "created_at": _iso(post.created_at),
                    "edited_at": _iso(post.edited_at),
                    "visibility": post.visibility,
                    "tags": sorted(tags.get(post.id, [])),
                    "content_warning": post.content_warning if post.sensitive else None,
                    "comments_disabled": post.comments_disabled,
                    "like_count": post.like_count,
                    "comment_count": post.comment_count,
                    "photos": [
                        {
                            "file": files.get(photo.id),
                            "alt_text": photo.alt_text,
                            "width": photo.width,
                            "height": photo.height,
                        }
                        for photo in post.photos
                    ],
                }
            last_id = posts[-1].id
            for post in posts:
                self.session.expunge(post)  # with its photos

    async def _comments(self) -> AsyncIterator[dict[str, Any]]:
        last_id = 0
        while True:
            comments = (
                await self.session.execute(
                    select(Comment.id, Comment.image_id, Comment.content, Comment.created_at)
                    .where(Comment.author_id == self.user.id, Comment.id > last_id)
                    .order_by(Comment.id)
                    .limit(ROWS_PER_BATCH)
                )
            ).all()
            if not comments:
                return
            for comment_id, post_id, text, written_at in comments:
                yield {
                    "id": comment_id,
                    "post_id": post_id,
                    "post_url": f"{self.site_url}/images/{post_id}",
                    "text": text,
                    "created_at": _iso(written_at),
                }
            last_id = comments[-1][0]

    async def _likes(self) -> AsyncIterator[dict[str, Any]]:
        last_id = 0
        while True:
            likes = (
                await self.session.execute(
                    select(Like.image_id, Like.created_at)
                    .where(Like.user_id == self.user.id, Like.image_id > last_id)
                    .order_by(Like.image_id)
                    .limit(ROWS_PER_BATCH)
                )
            ).all()
            if not likes:
                return
            for post_id, liked_at in likes:
                yield {
                    "post_id": post_id,
                    "post_url": f"{self.site_url}/images/{post_id}",
                    "liked_at": _iso(liked_at),
                }
            last_id = likes[-1][0]

    async def _follows(self) -> AsyncIterator[dict[str, Any]]:
        for direction, mine, theirs in (
            ("following", Follow.follower_id, Follow.followed_id),
            ("follower", Follow.followed_id, Follow.follower_id),
        ):
            last_id = 0
            while True:
                rows = (
                    await self.session.execute(
                        select(Follow.id, User.username, Follow.created_at)
                        .join(User, User.id == theirs)
                        .where(mine == self.user.id, Follow.id > last_id)
                        .order_by(Follow.id)
                        .limit(ROWS_PER_BATCH)
                    )
                ).all()
                if not rows:
                    break
                for _, username, since in rows:
                    yield {
                        "relation": direction,
                        "username": username,
                        "url": f"{self.site_url}/u/{username}",
                        "since": _iso(since),
                    }
                last_id = rows[-1][0]


def _new_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo | str) -> IO[bytes]:
    """An entry of the archive to write: into the sink's memory, never a file."""
    return archive.open(entry, "w")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


async def _json_array(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """A JSON array written one element at a time (a long account's rows never all at once)."""
    first = True
    async for row in rows:
        yield ("[\n  " if first else ",\n  ") + json.dumps(row, ensure_ascii=False)
        first = False
    yield "[]\n" if first else "\n]\n"


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    # A zip cannot hold a time before 1980.
    return max((moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second),
               (1980, 1, 1, 0, 0, 0))  # fmt: skip


# -- the worker's job -----------------------------------------------------------


async def claim_next(db: Database) -> int | None:
    """Take the oldest waiting export, or one whose worker died; its id, or None."""
    now = utcnow()
    async with db.session() as session:
        candidates = list(
            await session.scalars(
                select(DataExport.id)
                .where(
                    or_(
                        DataExport.status == ExportStatus.WAITING,
                        (DataExport.status == ExportStatus.BUILDING)
                        & (DataExport.heartbeat_at < now - STALE_AFTER),
                    )
                )
                .order_by(DataExport.requested_at)
                .limit(5)
            )
        )
        for export_id in candidates:
            # Conditional on what we saw: of two workers, one matches a row.
            claimed = await session.execute(
                update(DataExport)
                .where(
                    DataExport.id == export_id,
                    or_(
                        DataExport.status == ExportStatus.WAITING,
                        (DataExport.status == ExportStatus.BUILDING)
                        & (DataExport.heartbeat_at < now - STALE_AFTER),
                    ),
                )
                .values(
                    status=ExportStatus.BUILDING,
                    started_at=now,
                    heartbeat_at=now,
                    attempts=DataExport.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return export_id
    return None


async def build(
    db: Database, media: Storage, exports: Storage, mailer: Mailer, export_id: int
) -> None:
    """Build the claimed export ``export_id`` into the export storage, and mail its link."""
    async with db.session() as session:
        export = await session.get(DataExport, export_id)
        if export is None:
            return
        user = await session.get(User, export.user_id)
        if user is None or user.deleted_at is not None:
            await session.delete(export)
            await session.commit()
            return
        if export.attempts > MAX_ATTEMPTS:
            await _give_up(session, exports, export, "it failed every time it was tried")
            return
        # What an earlier attempt (killed mid-way) may have left goes first.
        await _remove_archive(exports, export.archive_key)
        key = f"{new_stem()}_export.zip"
        export.archive_key = key
        await session.commit()

    async def heartbeat() -> None:
        async with db.session() as beating:
            await beating.execute(
                update(DataExport)
                .where(DataExport.id == export_id, DataExport.status == ExportStatus.BUILDING)
                .values(heartbeat_at=utcnow())
            )
            await beating.commit()

    try:
        async with db.session() as reading:
            user = await reading.get(User, export.user_id)
            assert user is not None
            builder = _Builder(reading, media, user, mailer.settings.public_url, heartbeat)
            size = await exports.put_stream(key, builder.chunks())
    except Exception as error:
        log.exception("Export %d could not be built", export_id)
        async with db.session() as session:
            export = await session.get(DataExport, export_id)
            if export is not None and export.attempts >= MAX_ATTEMPTS:
                await _give_up(session, exports, export, f"{type(error).__name__}")
            elif export is not None:
                # Another try in the next round (``claim_next`` sees a stale heartbeat).
                export.heartbeat_at = utcnow() - STALE_AFTER
                await session.commit()
        return

    async with db.session() as session:
        now = utcnow()
        done = await session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.archive_key == key)
            .values(
                status=ExportStatus.READY,
                finished_at=now,
                expires_at=now + timedelta(days=VALID_DAYS),
                size_bytes=size,
                failure=None,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            # The account was deleted meanwhile (its exports with it): nobody will fetch this.
            await _remove_archive(exports, key)
            return
        export = await session.get(DataExport, export_id)
        user = await session.get(User, export.user_id) if export is not None else None
        if export is None or user is None:
            return
        session.add(
            mailer.compose(
                user.email,
                "Your Gallery data is ready to download",
                "export_ready",
                username=user.username,
                link=mailer.link(f"/settings/data/{export.id}/download"),
                size=readable_size(size),
                expires_at=f"{export.expires_at:%Y-%m-%d %H:%M} UTC",
            )
        )
        await session.commit()
    log.info("Export %d of user %d is ready (%d bytes)", export_id, user.id, size)


async def _give_up(session: AsyncSession, exports: Storage, export: DataExport, why: str) -> None:
    key = export.archive_key
    export.status = ExportStatus.FAILED
    export.failure = why[:255]
    export.finished_at = utcnow()
    export.archive_key = None
    await session.commit()
    await _remove_archive(exports, key)


async def _remove_archive(exports: Storage, key: str | None) -> None:
    if key is None:
        return
    # A worker killed mid-build leaves a temporary file, or an S3 multipart upload.
    await exports.abort_unfinished_uploads(key)
    await exports.delete(key)


async def expire_old(db: Database, exports: Storage) -> int:
    """Remove the archives whose week is over; how many."""
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(DataExport)
                .where(DataExport.status == ExportStatus.READY, DataExport.expires_at <= utcnow())
                .limit(ROWS_PER_BATCH)
            )
        )
        for export in due:
            await _remove_archive(exports, export.archive_key)
            export.status = ExportStatus.EXPIRED
            export.archive_key = None
        await session.commit()
    return len(due)


async def remove_exports_of(session: AsyncSession, exports: Storage, user_id: int) -> None:
    """A deleted account's exports, archives first (``services.deletion``); the caller commits."""
    for key in await session.scalars(
        select(DataExport.archive_key).where(
            DataExport.user_id == user_id, DataExport.archive_key.is_not(None)
        )
    ):
        await _remove_archive(exports, key)
    await session.execute(delete(DataExport).where(DataExport.user_id == user_id))


async def run_export_builder(
    db: Database,
    media: Storage,
    exports: Storage,
    mailer: Mailer,
    stop: asyncio.Event,
    *,
    every_seconds: float,
) -> None:
    """Build waiting exports and expire old ones until ``stop``; failures are logged."""
    while not stop.is_set():
        try:
            await expire_old(db, exports)
            while not stop.is_set() and (export_id := await claim_next(db)) is not None:
                await _build_unless_stopped(db, media, exports, mailer, export_id, stop)
        except Exception:
            log.exception("Building data exports failed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)


async def _build_unless_stopped(
    db: Database,
    media: Storage,
    exports: Storage,
    mailer: Mailer,
    export_id: int,
    stop: asyncio.Event,
) -> None:
    """A long build must not hold a stopping worker: it is cancelled and handed on."""
    building = asyncio.create_task(build(db, media, exports, mailer, export_id))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({building, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if building.done():
        building.result()
        return
    building.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await building
    # The next worker to look takes it up at once, instead of after STALE_AFTER.
    async with db.session() as session:
        await session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.status == ExportStatus.BUILDING)
            .values(heartbeat_at=utcnow() - STALE_AFTER)
        )
        await session.commit()


def readable_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    amount = float(size)
    for unit in ("KB", "MB", "GB"):
        amount /= 1000
        if amount < 1000 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"
