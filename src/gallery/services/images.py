"""Uploading and deleting images.

An upload is decoded and re-encoded in a thread (``imaging.process``), its
files written under one random name, and only then is its row committed; if
anything fails on the way, the files written so far are removed again, so a
failed upload leaves neither file nor row. A deletion removes the row (its
comments go with it) first and the files after, so no row ever points at a
missing file. Both are recorded in the storage ledger first
(``services.storage``), so that not even a crash leaves orphaned files.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import redis.asyncio as aioredis
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery import imaging
from gallery.infra.storage import Storage, new_stem
from gallery.models.comment import Comment
from gallery.models.image import DESCRIPTION_MAX_LENGTH, Image
from gallery.models.moderation import ModerationAction, Report
from gallery.models.social import Like, Notification, image_tags
from gallery.models.user import Permission, User
from gallery.services import live, moderation, notifications
from gallery.services import storage as stored_files
from gallery.services.errors import NotFoundError, PermissionDenied, Rejected
from gallery.services.feeds import bump_feed_version
from gallery.services.permissions import can, require_permission
from gallery.services.tags import attach_tags, parse_hashtags
from gallery.services.validation import bounded_text

log = logging.getLogger(__name__)

# Decoding a large photo takes a few hundred megabytes for a moment: two at a
# time per process bounds that memory, and the event loop never waits on it.
IMAGING_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="imaging")


def check_description(description: str | None) -> str:
    return bounded_text(
        description, what="description", field="description", max_length=DESCRIPTION_MAX_LENGTH
    )


def check_can_upload(user: User) -> None:
    require_permission(user, Permission.UPLOAD)


async def process_upload(data: bytes) -> imaging.ProcessedImage:
    """Validate and re-encode an upload off the event loop; ``Rejected`` says why not."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(IMAGING_THREADS, imaging.process, data)
    except imaging.ImageRejected as error:
        raise Rejected(error.message, status=error.status, field="file") from error


async def ingest(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    author: User,
    data: bytes,
    description: str | None = "",
) -> Image:
    """Store an uploaded image for ``author`` and return its committed row.

    Raises ``PermissionDenied``, ``InvalidInput`` or ``Rejected`` (415 not an
    image, 422 damaged or too many pixels); nothing is stored in that case.
    """
    check_can_upload(author)
    text = check_description(description)
    processed = await process_upload(data)

    stem = new_stem()
    variants = {
        "original": processed.original,
        "display": processed.display,
        "thumb": processed.thumb,
    }
    keys = {name: f"{stem}_{name}.{variant.extension}" for name, variant in variants.items()}
    # Durably first: a crash from here to the commit leaves records the sweep
    # finishes, never files that nothing points to.
    pending = await stored_files.record_writes(session, keys.values())
    try:
        await asyncio.gather(*(storage.put(keys[name], v.data) for name, v in variants.items()))
        image = Image(
            author_id=author.id,
            original_key=keys["original"],
            display_key=keys["display"],
            thumb_key=keys["thumb"],
            width=processed.display.width,
            height=processed.display.height,
            thumb_size=processed.thumb.width,
            description=text,
            comment_count=0,
            like_count=0,
            view_count=0,
        )
        session.add(image)
        # The id, so its hashtags are linked in the same transaction as the row.
        await session.flush()
        await attach_tags(session, image.id, parse_hashtags(text))
        await stored_files.clear(session, pending)
        await session.commit()
    except BaseException:
        await session.rollback()
        await stored_files.forget_failed_writes(session, storage, keys.values(), pending)
        raise
    image.author = author
    if redis is not None:
        await bump_feed_version(redis)
        await live.photo_posted(
            redis,
            image_id=image.id,
            author_id=author.id,
            author_username=author.username,
            tags=parse_hashtags(text),
        )
    return image


async def get_image(session: AsyncSession, image_id: int) -> Image:
    """The image with its author; ``NotFoundError`` if there is none."""
    image = await session.scalar(
        select(Image).options(joinedload(Image.author)).where(Image.id == image_id)
    )
    if image is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    return image


class LockedImage(NamedTuple):
    author_id: int
    comments_disabled: bool


async def lock_image(session: AsyncSession, image_id: int) -> LockedImage:
    """Lock the image row for this transaction; return its author and comment switch.

    ``NotFoundError`` if there is no such image. Likes and comments take this
    lock before touching rows that refer to the image: inserting those first
    would take a shared lock on it (the foreign-key check), and two requests
    upgrading their shared locks to update the counter would deadlock on
    MariaDB. SQLite has no row locks (writers take turns), so there is no
    ``FOR UPDATE`` there.
    """
    row = (
        await session.execute(
            select(Image.author_id, Image.comments_disabled)
            .where(Image.id == image_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    return LockedImage(author_id=row[0], comments_disabled=bool(row[1]))


def may_change_image(actor: User | None, image: Image) -> bool:
    """Its owner (even a locked one may take their own photo down) or a moderator."""
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
        raise PermissionDenied("Only the owner or a moderator can delete this image.")
    why = moderation.check_reason(reason)
    keys = image.storage_keys
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
