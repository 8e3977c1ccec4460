"""Notifications: a comment on your image, a like of it, a new follower.

Notices are written in the same transaction as what caused them, never for
one's own actions, and withdrawn with it (an unlike removes the like's notice,
an unfollow the follow's, a deleted comment its own), so toggling a like never
piles up notices.

Each user has a *version* in Redis that moves after every change to their
notices. It keys a cache of the unread count (so the bell on every page costs
one Redis read, not a query) and the ETags of the notification endpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from gallery.models.base import utcnow
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.social import Notification, NotificationKind
from gallery.models.user import User
from gallery.services import live
from gallery.services.errors import InvalidInput, NotFoundError
from gallery.services.feeds import bump_version, current_version
from gallery.services.paging import check_limit, decode_cursor, encode_cursor
from gallery.services.visibility import not_hidden

log = logging.getLogger(__name__)

UNREAD_CACHE_SECONDS = 600


@dataclass(frozen=True)
class NotificationEntry:
    """A notice with what it is about: the image (likes, comments) and the comment."""

    notification: Notification
    image: Image | None
    comment: Comment | None


@dataclass(frozen=True)
class NotificationPage:
    entries: list[NotificationEntry]
    next_cursor: str | None
    unread_count: int


def version_key(user_id: int) -> str:
    return f"notifications:version:{user_id}"


async def version(redis: aioredis.Redis, user_id: int) -> str:
    """The version of ``user_id``'s notices (for ETags and the unread-count cache)."""
    return await current_version(redis, version_key(user_id))


async def bump_for(redis: aioredis.Redis, user_id: int) -> None:
    """Move ``user_id``'s version on (``changed`` does this and tells their pages)."""
    await bump_version(redis, version_key(user_id))


async def changed(session: AsyncSession, redis: aioredis.Redis, user_id: int) -> None:
    """Call after committing a change to ``user_id``'s notices: the version moves, and
    their open pages get the new unread count at once (``services.live``)."""
    await bump_for(redis, user_id)
    await live.unread_changed(
        redis, user_id=user_id, unread=await unread_count(session, redis, user_id)
    )


# -- writing (inside the caller's transaction) --------------------------------


async def notify(
    session: AsyncSession,
    *,
    recipient_id: int,
    actor_id: int,
    kind: NotificationKind,
    image_id: int | None = None,
    comment_id: int | None = None,
) -> None:
    """Add a notice to the caller's transaction, unless the actor is the recipient
    or the recipient turned that kind of notice off (``set_kinds_off``)."""
    if recipient_id == actor_id:
        return
    turned_off = await session.scalar(select(User.notices_off).where(User.id == recipient_id))
    if turned_off and kind.value in turned_off.split(","):
        return
    session.add(
        Notification(
            recipient_id=recipient_id,
            actor_id=actor_id,
            kind=kind.value,
            image_id=image_id,
            comment_id=comment_id,
        )
    )


# What each kind of notice is about, as the settings page offers them.
KIND_LABELS = {
    NotificationKind.LIKE: "Likes of your photos",
    NotificationKind.COMMENT: "Comments on your photos",
    NotificationKind.FOLLOW: "New followers",
    NotificationKind.FOLLOW_REQUEST: "Requests to follow your private account",
    NotificationKind.FOLLOW_ACCEPTED: "Your follow requests accepted",
}


def kinds_off(user: User) -> set[NotificationKind]:
    """The kinds of notice ``user`` turned off."""
    return {NotificationKind(kind) for kind in (user.notices_off or "").split(",") if kind}


async def set_kinds_off(session: AsyncSession, user: User, kinds: set[NotificationKind]) -> None:
    """Turn these kinds of notice off (and every other on): from now on they are not
    made. Notices already made stay; a follow request still waits on its page."""
    user.notices_off = ",".join(sorted(kind.value for kind in kinds)) or None
    await session.commit()


def kinds_named(names: list[str]) -> set[NotificationKind]:
    """The kinds named (``InvalidInput`` for a name that is no kind)."""
    try:
        return {NotificationKind(name) for name in names}
    except ValueError:
        raise InvalidInput(
            "Unknown kind of notice: choose among " + ", ".join(kind.value for kind in KIND_LABELS),
            field="kinds",
        ) from None


async def withdraw(
    session: AsyncSession,
    *,
    recipient_id: int,
    actor_id: int,
    kind: NotificationKind,
    image_id: int | None = None,
) -> None:
    """Remove the notices an undone action gave (read or not): nothing stale stays."""
    query = delete(Notification).where(
        Notification.recipient_id == recipient_id,
        Notification.actor_id == actor_id,
        Notification.kind == kind.value,
    )
    if image_id is not None:
        query = query.where(Notification.image_id == image_id)
    await session.execute(query)


# -- reading ---------------------------------------------------------------


async def _count_unread(session: AsyncSession, user_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.recipient_id == user_id,
                Notification.read_at.is_(None),
                *not_hidden(user_id, Notification.actor_id),
            )
        )
        or 0
    )


async def unread_count(session: AsyncSession, redis: aioredis.Redis, user_id: int) -> int:
    """How many of ``user_id``'s notices are unread: one Redis read while nothing changed.

    The cache is keyed by the version, so a count computed while a change was
    being committed lands under the old version, where nobody looks any more.
    """
    try:
        current = await version(redis, user_id)
        key = f"notifications:unread:{user_id}:{current}"
        cached = await redis.get(key)
        if cached is not None:
            return int(cached)
    except RedisError:
        log.exception("Could not read the unread-count cache; counting in the database")
        return await _count_unread(session, user_id)
    count = await _count_unread(session, user_id)
    try:
        await redis.set(key, count, ex=UNREAD_CACHE_SECONDS)
    except RedisError:
        log.exception("Could not cache the unread count")
    return count


async def list_notifications(
    session: AsyncSession,
    redis: aioredis.Redis,
    *,
    user_id: int,
    limit: int | None,
    cursor: str | None,
) -> NotificationPage:
    """``user_id``'s notices, newest first (keyset), with the unread count; one query."""
    size = check_limit(limit)
    before_id = decode_cursor(cursor)
    image = aliased(Image)
    comment = aliased(Comment)
    query = (
        select(Notification, image, comment)
        .options(joinedload(Notification.actor))
        .outerjoin(image, image.id == Notification.image_id)
        .outerjoin(comment, comment.id == Notification.comment_id)
        .where(Notification.recipient_id == user_id, *not_hidden(user_id, Notification.actor_id))
        .order_by(Notification.id.desc())
        .limit(size + 1)
        # Marking read updates rows in SQL; rows this session loaded before must not win.
        .execution_options(populate_existing=True)
    )
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    rows = list((await session.execute(query)).all())
    has_more = len(rows) > size
    entries = [NotificationEntry(notification=n, image=i, comment=c) for n, i, c in rows[:size]]
    return NotificationPage(
        entries=entries,
        next_cursor=encode_cursor(entries[-1].notification.id) if has_more else None,
        unread_count=await unread_count(session, redis, user_id),
    )


async def mark_read(
    session: AsyncSession, redis: aioredis.Redis, *, user_id: int, notification_id: int
) -> int:
    """Mark one of ``user_id``'s notices read (again is fine); returns the unread count.

    Someone else's notice is ``NotFoundError``, as if it did not exist.
    """
    owner = await session.scalar(
        select(Notification.recipient_id).where(Notification.id == notification_id)
    )
    if owner != user_id:
        raise NotFoundError("There is no notification with that id.")
    changed = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return await _committed(session, redis, user_id, changed_rows=changed.rowcount)  # type: ignore[attr-defined]


async def mark_all_read(session: AsyncSession, redis: aioredis.Redis, *, user_id: int) -> int:
    """Mark every notice of ``user_id`` read; returns the unread count (0)."""
    changed = await session.execute(
        update(Notification)
        .where(Notification.recipient_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return await _committed(session, redis, user_id, changed_rows=changed.rowcount)  # type: ignore[attr-defined]


async def _committed(
    session: AsyncSession, redis: aioredis.Redis, user_id: int, *, changed_rows: int
) -> int:
    """Commit a read-marking, move the version if it changed anything; the unread count."""
    await session.commit()
    if changed_rows:
        await changed(session, redis, user_id)
    return await unread_count(session, redis, user_id)
