"""Photos sent ahead of their post: the composer's way of posting.

A phone's photos are several megabytes each, and ten of them in one request
would be over the upload limit and show one progress bar for all. So the
composer sends each photo on its own as soon as it is chosen
(``upload_draft``): it is decoded, cleaned and stored like any photo, and kept
as a *draft* (a ``Photo`` row with no post) that only its owner knows of.
Posting (``post_drafts``) then takes the drafts, in the order the author
arranged them and with their alt texts, into a new post in one transaction,
so a post appears only when every one of its photos is stored.

A photo that fails says why on its own, and the others stay stored. Drafts
that are never posted (the tab was closed) are removed after
``DRAFT_LIFETIME`` by the worker's sweep, files and all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from gallery.infra.db import Database
from gallery.infra.storage import Storage
from gallery.models.base import utcnow
from gallery.models.image import Image, Photo, PostVisibility
from gallery.models.user import User
from gallery.services import images
from gallery.services import storage as stored_files
from gallery.services.errors import Conflict, InvalidInput, NotFoundError
from gallery.services.tags import attach_tags, parse_hashtags

log = logging.getLogger(__name__)

DRAFT_LIFETIME = timedelta(hours=24)
# Enough for a few posts being composed at once in several tabs; a bound so
# that drafts cannot become free storage.
MAX_DRAFTS_PER_USER = 40


@dataclass(frozen=True)
class DraftChoice:
    """A draft as the author arranged it for the post: which one, and its alt text."""

    photo_id: int
    alt_text: str = ""


def _drafts_of(owner_id: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (Photo.owner_id == owner_id, Photo.image_id.is_(None))


async def upload_draft(
    session: AsyncSession,
    storage: Storage,
    *,
    owner: User,
    data: bytes,
    alt_text: str | None = "",
) -> Photo:
    """Store one photo for a post ``owner`` is composing; the committed draft.

    Raises what an upload raises (``PermissionDenied``, ``InvalidInput``,
    ``Rejected``), and ``Conflict`` when the owner already has
    ``MAX_DRAFTS_PER_USER`` drafts waiting.
    """
    images.check_can_upload(owner)
    text = images.check_alt_text(alt_text)
    waiting = await session.scalar(
        select(func.count()).select_from(Photo).where(*_drafts_of(owner.id))
    )
    if (waiting or 0) >= MAX_DRAFTS_PER_USER:
        raise Conflict(
            f"You have {MAX_DRAFTS_PER_USER} photos waiting to be posted; "
            "post or remove some first."
        )
    processed = await images.process_upload(data)
    photo, files = images.new_photo(owner.id, processed, text)
    async with images.storing(session, storage, files):
        session.add(photo)
    return photo


async def discard_draft(
    session: AsyncSession, storage: Storage, *, owner: User, photo_id: int
) -> None:
    """Remove one of ``owner``'s drafts and its files (the composer's "Remove").

    A photo already in a post is ``Conflict`` (delete the post, or edit it);
    anyone else's photo is ``NotFoundError``, as if it did not exist.
    """
    photo = await session.get(Photo, photo_id)
    if photo is None or photo.owner_id != owner.id:
        raise NotFoundError("There is no photo of yours with that id.")
    if photo.image_id is not None:
        raise Conflict("That photo is part of a post already.")
    removals = stored_files.record_deletes(session, photo.storage_keys)
    await session.delete(photo)
    await session.commit()
    await stored_files.remove_files(session, storage, removals)


async def post_drafts(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    author: User,
    choices: Sequence[DraftChoice],
    description: str | None = "",
    visibility: PostVisibility = PostVisibility.PUBLIC,
) -> Image:
    """A post of ``author``'s drafts in the order of ``choices``, with their alt texts.

    Each draft is taken once, under a row lock, so two requests posting the
    same drafts make one post (the other is ``NotFoundError``, as is a photo
    that is not the author's draft). ``InvalidInput`` for no photo, more than
    ten, the same photo twice, or a caption or alt text too long.
    """
    images.check_can_upload(author)
    images.check_photo_count(len(choices))
    text = images.check_description(description)
    alt_texts = [images.check_alt_text(choice.alt_text) for choice in choices]
    wanted = [choice.photo_id for choice in choices]
    if len(set(wanted)) != len(wanted):
        raise InvalidInput("The same photo is in the post twice.", field="photos")
    found = {
        photo.id: photo
        for photo in await session.scalars(
            select(Photo).where(Photo.id.in_(wanted), *_drafts_of(author.id)).with_for_update()
        )
    }
    missing = [position for position, photo_id in enumerate(wanted) if photo_id not in found]
    if missing:
        await session.commit()  # nothing written: it only ends the locking read
        numbers = ", ".join(str(position + 1) for position in missing)
        raise NotFoundError(
            f"Photo {numbers} is not one of your photos waiting to be posted "
            "(it may have been posted already, or removed after a day)."
        )
    photos = [found[photo_id] for photo_id in wanted]
    for photo, alt_text in zip(photos, alt_texts, strict=True):
        photo.alt_text = alt_text
    post = images.new_post(author, text, photos, visibility)
    session.add(post)
    await session.flush()
    await attach_tags(session, post.id, parse_hashtags(text))
    await session.commit()
    post.author = author
    await images.announce_post(redis, post, author)
    return post


async def sweep_drafts(
    db: Database, storage: Storage, *, older_than: timedelta = DRAFT_LIFETIME, batch: int = 200
) -> int:
    """Remove drafts older than ``older_than`` with their files; how many went.

    In batches, each its own transaction: the ledger records the files before
    the rows go, so a crash halfway leaves nothing the storage sweep misses.
    """
    removed = 0
    cutoff = utcnow() - older_than
    while True:
        async with db.sessionmaker() as session:
            stale = list(
                await session.scalars(
                    select(Photo)
                    .where(Photo.image_id.is_(None), Photo.created_at < cutoff)
                    .order_by(Photo.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not stale:
                return removed
            keys = [key for photo in stale for key in photo.storage_keys]
            removals = stored_files.record_deletes(session, keys)
            for photo in stale:
                await session.delete(photo)
            await session.commit()
            await stored_files.remove_files(session, storage, removals)
            removed += len(stale)
            log.info("Removed %d draft photo(s) older than %s", len(stale), older_than)
