"""Posting and deleting posts of 1–10 photos.

Each photo of a post is decoded and re-encoded in a thread
(``imaging.process``) and its files written under a random name of its own;
only when every photo is stored are the post and its photos committed, in one
transaction. If anything fails on the way (one photo that is not an image is
enough), the files written so far are removed again, so a failed post leaves
neither file nor row. A deletion removes the rows (comments and photos go
with them) first and the files after, so no row ever points at a missing
file. Both are recorded in the storage ledger first (``services.storage``),
so that not even a crash leaves orphaned files.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import redis.asyncio as aioredis
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery import imaging
from gallery.infra.storage import Storage, new_stem
from gallery.models.comment import Comment
from gallery.models.image import (
    ALT_TEXT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    MAX_PHOTOS_PER_POST,
    Image,
    Photo,
    PostVisibility,
)
from gallery.models.moderation import ModerationAction, Report
from gallery.models.social import Like, Notification, image_tags
from gallery.models.user import Permission, User
from gallery.services import live, moderation, notifications
from gallery.services import storage as stored_files
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied, Rejected
from gallery.services.feeds import bump_feed_version
from gallery.services.permissions import can, require_permission
from gallery.services.tags import attach_tags, parse_hashtags
from gallery.services.validation import bounded_text
from gallery.services.visibility import check_post_visible

T = TypeVar("T")

log = logging.getLogger(__name__)

# Photos are processed in a process of their own per web process, at low CPU
# priority (``imaging.run_at_low_priority``). In threads, ten 12-megapixel
# photos (2.5 s of CPU each) made the feed's p99 on the same two cores 18×
# longer: the threads took the GIL between Pillow's calls and the cores from
# the requests (make bench, the uploads phase). A niced process yields both.
# One at a time bounds the memory (a few hundred megabytes at the peak of a
# 12-megapixel photo); the web workers already number the cores.
IMAGING_PROCESSES = 1
_imaging_pool: ProcessPoolExecutor | None = None


def imaging_pool() -> ProcessPoolExecutor:
    """The pool the photos of this process are made in (started on first use).

    Spawned, not forked: a fork would copy the event loop's threads and locks.
    Shut down by ``concurrent.futures`` when the process exits, after the
    photos under way.
    """
    global _imaging_pool
    if _imaging_pool is None:
        this_process = multiprocessing.current_process()
        if this_process.daemon:
            # Hypercorn starts its workers as daemonic processes (its default),
            # and multiprocessing allows those no children. The imaging process
            # ends with its parent all the same (its pipe closes), so the worker
            # stops calling itself daemonic to be allowed one.
            this_process._config["daemon"] = False  # type: ignore[attr-defined]
        _imaging_pool = ProcessPoolExecutor(
            max_workers=IMAGING_PROCESSES,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=imaging.run_at_low_priority,
            initargs=(os.getpid(),),
        )
    return _imaging_pool


async def stop_imaging_pool() -> None:
    """End this process's imaging process, if it started one (the app's shutdown).

    Left to the interpreter's exit, the pool's shutdown kept a stopping web
    worker alive for 15 s and more, past what a graceful stop allows.
    """
    global _imaging_pool
    pool, _imaging_pool = _imaging_pool, None
    if pool is not None:
        await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def _replace_broken_pool(broken: ProcessPoolExecutor) -> None:
    global _imaging_pool
    if _imaging_pool is broken:
        _imaging_pool = None
        broken.shutdown(wait=False, cancel_futures=True)


def check_description(description: str | None) -> str:
    return bounded_text(
        description, what="description", field="description", max_length=DESCRIPTION_MAX_LENGTH
    )


def check_alt_text(alt_text: str | None) -> str:
    return bounded_text(alt_text, what="alt text", field="alt_text", max_length=ALT_TEXT_MAX_LENGTH)


def check_photo_count(count: int) -> None:
    if count < 1:
        raise InvalidInput("Choose at least one photo.", field="file")
    if count > MAX_PHOTOS_PER_POST:
        raise InvalidInput(
            f"A post has at most {MAX_PHOTOS_PER_POST} photos; choose fewer.", field="file"
        )


def check_can_upload(user: User) -> None:
    require_permission(user, Permission.UPLOAD)


@dataclass(frozen=True)
class PhotoUpload:
    """One photo of a post being made: the uploaded bytes and what the author says it shows."""

    data: bytes
    alt_text: str = ""


@dataclass(frozen=True)
class ImportedFrom:
    """Where `gallery import` found a post's photo: kept on the post (``Image.source_url``)."""

    url: str
    url_sha256: str  # of the normalised URL (services/web_import.py)
    content_sha256: str  # of the bytes as fetched


class PhotosRejected(Rejected):
    """Some photos of a post are not acceptable: ``failures`` maps each one's position to why.

    The post is not made; the message names every failed photo, so the author
    can drop or replace just those and try again with the rest.
    """

    def __init__(self, failures: dict[int, Rejected], count: int) -> None:
        self.failures = failures
        first = failures[min(failures)]
        if count == 1:
            message = first.message
        else:
            message = " ".join(
                f"Photo {position + 1}: {failure.message}"
                for position, failure in sorted(failures.items())
            )
        super().__init__(message, status=first.status, field="file")


async def process_upload(data: bytes) -> imaging.ProcessedImage:
    """Validate and re-encode an upload in the imaging process; ``Rejected`` says why not."""
    return await in_imaging_process(imaging.process, data)


async def in_imaging_process(work: Callable[..., T], *args: object) -> T:
    """``work`` (a function of ``imaging``) run in the imaging process; its
    ``ImageRejected`` becomes ``Rejected`` on the ``file`` field.

    Should that process die (killed, out of memory), the next call starts a
    new one: the photo is tried once more there, then refused with 422.
    """
    loop = asyncio.get_running_loop()
    for attempt in range(2):
        pool = imaging_pool()
        try:
            return await loop.run_in_executor(pool, work, *args)
        except imaging.ImageRejected as error:
            raise Rejected(error.message, status=error.status, field="file") from error
        except BrokenProcessPool:
            log.warning("The imaging process died; starting another (attempt %d)", attempt + 1)
            _replace_broken_pool(pool)
    raise Rejected(
        "This image could not be processed (the image processor stopped on it). "
        "Please try another copy.",
        status=422,
        field="file",
    )


async def process_photos(uploads: Sequence[PhotoUpload]) -> list[imaging.ProcessedImage]:
    """Every photo processed (two at a time, off the loop), or ``PhotosRejected`` on bad ones."""
    outcomes = await asyncio.gather(
        *(process_upload(upload.data) for upload in uploads), return_exceptions=True
    )
    failures: dict[int, Rejected] = {}
    processed: list[imaging.ProcessedImage] = []
    for position, outcome in enumerate(outcomes):
        if isinstance(outcome, Rejected):
            failures[position] = outcome
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            processed.append(outcome)
    if failures:
        raise PhotosRejected(failures, len(uploads))
    return processed


def new_photo(
    owner_id: int, processed: imaging.ProcessedImage, alt_text: str, position: int = 0
) -> tuple[Photo, dict[str, bytes]]:
    """A photo row under a fresh random name and the bytes to store under its keys."""
    stem = new_stem()
    variants = {
        "original": processed.original,
        "display": processed.display,
        "thumb": processed.thumb,
    }
    keys = {name: f"{stem}_{name}.{variant.extension}" for name, variant in variants.items()}
    responsive = processed.responsive
    photo = Photo(
        owner_id=owner_id,
        position=position,
        original_key=keys["original"],
        display_key=keys["display"],
        thumb_key=keys["thumb"],
        width=processed.display.width,
        height=processed.display.height,
        thumb_size=processed.thumb.width,
        alt_text=alt_text,
        variant_stem=stem if responsive else "",
        variant_widths=",".join(str(variant.width) for variant in responsive),
        variant_format=responsive[0].modern.extension if responsive else "",
        variant_has_jpeg=bool(responsive) and all(v.fallback for v in responsive),
        blurhash=processed.blurhash or None,
    )
    files = {keys[name]: variant.data for name, variant in variants.items()}
    for variant in responsive:
        files[photo.variant_key(variant.width, variant.modern.extension)] = variant.modern.data
        if variant.fallback is not None and photo.variant_has_jpeg:
            files[photo.variant_key(variant.width, "jpg")] = variant.fallback.data
    return photo, files


@asynccontextmanager
async def storing(
    session: AsyncSession, storage: Storage, files: dict[str, bytes]
) -> AsyncIterator[None]:
    """Write ``files``, run the block (which adds the rows), and commit; all or nothing.

    The keys go into the storage ledger first and durably: a crash from there
    to the commit leaves records the sweep finishes, never files that nothing
    points to. Any failure (the block's too) rolls back and removes what was
    written.
    """
    pending = await stored_files.record_writes(session, files.keys())
    try:
        await asyncio.gather(*(storage.put(key, data) for key, data in files.items()))
        yield
        await stored_files.clear(session, pending)
        await session.commit()
    except BaseException:
        await session.rollback()
        await stored_files.forget_failed_writes(session, storage, files.keys(), pending)
        raise


def new_post(
    author: User,
    description: str,
    photos: list[Photo],
    visibility: PostVisibility = PostVisibility.PUBLIC,
) -> Image:
    for position, photo in enumerate(photos):
        photo.position = position
    return Image(
        author_id=author.id,
        description=description,
        visibility=visibility.value,
        # As services/privacy.py keeps it: a public post of a public account.
        is_public=visibility == PostVisibility.PUBLIC and not author.is_private,
        comment_count=0,
        like_count=0,
        view_count=0,
        photos=photos,
    )


async def announce_post(redis: aioredis.Redis | None, post: Image, author: User) -> None:
    """After the commit: feeds move on and open pages hear of the new post."""
    if redis is None:
        return
    await bump_feed_version(redis)
    await live.photo_posted(
        redis,
        image_id=post.id,
        author_id=author.id,
        author_username=author.username,
        tags=parse_hashtags(post.description),
        public=post.is_public,
    )


async def ingest(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    author: User,
    data: bytes,
    description: str | None = "",
    alt_text: str | None = "",
    imported_from: ImportedFrom | None = None,
) -> Image:
    """A post of one photo (``create_post`` with one upload): the CLI's import, forge, the tests."""
    return await create_post(
        session,
        storage,
        redis,
        author=author,
        photos=[PhotoUpload(data, alt_text or "")],
        description=description,
        imported_from=imported_from,
    )


async def create_post(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    author: User,
    photos: Sequence[PhotoUpload],
    description: str | None = "",
    visibility: PostVisibility = PostVisibility.PUBLIC,
    imported_from: ImportedFrom | None = None,
) -> Image:
    """Store a post of ``photos`` (in that order) for ``author`` and return its committed row.

    ``imported_from`` is recorded in the same transaction, so an import that is
    stopped never finds a post it made without knowing where it came from.

    Raises ``PermissionDenied``, ``InvalidInput`` (no photo, more than ten, a
    caption or alt text too long) or ``PhotosRejected`` (415 not an image, 422
    damaged or too many pixels, for each such photo); nothing is stored then.
    """
    check_can_upload(author)
    check_photo_count(len(photos))
    text = check_description(description)
    alt_texts = [check_alt_text(upload.alt_text) for upload in photos]
    processed = await process_photos(photos)

    rows: list[Photo] = []
    files: dict[str, bytes] = {}
    for image, alt_text in zip(processed, alt_texts, strict=True):
        photo, photo_files = new_photo(author.id, image, alt_text)
        rows.append(photo)
        files.update(photo_files)
    post = new_post(author, text, rows, visibility)
    if imported_from is not None:
        post.source_url = imported_from.url
        post.source_url_sha256 = imported_from.url_sha256
        post.source_sha256 = imported_from.content_sha256
    async with storing(session, storage, files):
        session.add(post)
        # The id, so its hashtags are linked in the same transaction as the row.
        await session.flush()
        await attach_tags(session, post.id, parse_hashtags(text))
    post.author = author
    await announce_post(redis, post, author)
    return post


async def get_image(session: AsyncSession, image_id: int) -> Image:
    """The image with its author; ``NotFoundError`` if there is none."""
    image = await session.scalar(
        select(Image).options(joinedload(Image.author)).where(Image.id == image_id)
    )
    if image is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    return image


async def find_posted_photo(session: AsyncSession, photo_id: int) -> Photo | None:
    """The photo ``photo_id`` if it belongs to a post (drafts are their owner's alone)."""
    return await session.scalar(
        select(Photo).where(Photo.id == photo_id, Photo.image_id.is_not(None))
    )


class LockedImage(NamedTuple):
    author_id: int
    comments_disabled: bool
    is_public: bool


async def lock_image(session: AsyncSession, image_id: int) -> LockedImage:
    """Lock the image row for this transaction; return its author, comment switch and audience.

    ``NotFoundError`` if there is no such image. Likes and comments take this
    lock before touching rows that refer to the image: inserting those first
    would take a shared lock on it (the foreign-key check), and two requests
    upgrading their shared locks to update the counter would deadlock on
    MariaDB. SQLite has no row locks (writers take turns), so there is no
    ``FOR UPDATE`` there.
    """
    row = (
        await session.execute(
            select(Image.author_id, Image.comments_disabled, Image.is_public)
            .where(Image.id == image_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    return LockedImage(author_id=row[0], comments_disabled=bool(row[1]), is_public=bool(row[2]))


def may_change_image(actor: User | None, image: Image) -> bool:
    """Its owner (even a locked one may take their own photo down) or a moderator.

    Where this says no, the callers first ask ``check_post_visible``: someone
    who may not even see the post gets 404, as for an absent one, not 403.
    """
    return actor is not None and (actor.id == image.author_id or can(actor, Permission.MODERATE))


async def _author_name(session: AsyncSession, user_id: int) -> str:
    return await session.scalar(select(User.username).where(User.id == user_id)) or "?"


async def delete_image(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    actor: User,
    reason: str | None = None,
    moderating: bool = False,
) -> None:
    """Delete an image with its comments, likes, tags, notices, reports and files.

    Its owner or a moderator; a moderator deleting someone else's image (or
    any image from the report queue, ``moderating``) is written to the
    moderation log with ``reason``.
    """
    image = await session.get(Image, image_id)
    if image is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    if not may_change_image(actor, image):
        await check_post_visible(session, actor, image.author_id, image.is_public)
        raise PermissionDenied("Only the owner or a moderator can delete this image.")
    why = moderation.check_reason(reason)
    if moderating or actor.id != image.author_id:
        moderation.record(
            session,
            actor=actor,
            action=ModerationAction.DELETE_IMAGE,
            target=f"image {image_id}",
            subject_id=image.author_id,
            summary=moderation.image_summary(image, await _author_name(session, image.author_id)),
            reason=why,
        )
    await remove_post(session, storage, redis, image)


async def remove_post(
    session: AsyncSession, storage: Storage, redis: aioredis.Redis | None, image: Image
) -> None:
    """Delete ``image`` with everything that hangs on it, and commit; then its files.

    The caller has decided it may go (``delete_image``; an account's deletion).
    """
    image_id = image.id
    keys = image.storage_keys
    comment_ids = select(Comment.id).where(Comment.image_id == image_id)
    # Explicitly, not only by ON DELETE CASCADE: SQLite honours that only with
    # its foreign-key pragma on, and the outcome must not depend on it.
    for dependent in (
        delete(Report).where(or_(Report.image_id == image_id, Report.comment_id.in_(comment_ids))),
        delete(Notification).where(Notification.image_id == image_id),
        delete(Comment).where(Comment.image_id == image_id),
        delete(Like).where(Like.image_id == image_id),
        delete(image_tags).where(image_tags.c.image_id == image_id),
    ):
        await session.execute(dependent)
    await session.delete(image)
    removals = stored_files.record_deletes(session, keys)
    await session.commit()
    await stored_files.remove_files(session, storage, removals)
    if redis is not None:
        await bump_feed_version(redis)
        await live.photo_deleted(redis, image_id=image_id)
        # Its notices (likes, comments) left the owner's list with it.
        await notifications.changed(session, redis, image.author_id)


async def set_comments_enabled(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    actor: User,
    enabled: bool,
) -> Image:
    """Turn comments on an image on or off (its owner or a moderator).

    Existing comments stay; new ones are refused (``comments.add_comment``).
    """
    image = await session.get(Image, image_id)
    if image is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    if not may_change_image(actor, image):
        await check_post_visible(session, actor, image.author_id, image.is_public)
        raise PermissionDenied("Only the owner or a moderator can turn comments on or off.")
    if enabled:
        # A locked owner may still close their photo, not open it to comments again.
        require_permission(actor)
    if image.comments_disabled == (not enabled):
        return image
    image.comments_disabled = not enabled
    if actor.id != image.author_id:
        moderation.record(
            session,
            actor=actor,
            action=(
                ModerationAction.ENABLE_COMMENTS if enabled else ModerationAction.DISABLE_COMMENTS
            ),
            target=f"image {image_id}",
            subject_id=image.author_id,
            summary=moderation.image_summary(image, await _author_name(session, image.author_id)),
        )
    await session.commit()
    if redis is not None:
        await bump_feed_version(redis)
    return image
