"""Comments: post, list, delete; the image's comment_count moves with them."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.models.comment import COMMENT_MAX_LENGTH, Comment
from gallery.models.image import Image
from gallery.models.social import Notification, NotificationKind
from gallery.models.user import Permission, User
from gallery.services import notifications
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from gallery.services.feeds import (
    bump_feed_version,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from gallery.services.images import lock_image


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_cursor: str | None


def check_content(content: str | None) -> str:
    text = (content or "").strip()
    if not text:
        raise InvalidInput("Write something before posting the comment.", field="content")
    if len(text) > COMMENT_MAX_LENGTH:
        raise InvalidInput(
            f"The comment is too long: at most {COMMENT_MAX_LENGTH} characters.",
            field="content",
        )
    return text


async def add_comment(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    author: User,
    content: str | None,
) -> Comment:
    """Post a comment (1–1000 characters) on an image and return it, author loaded."""
    if not author.is_active or not author.can(Permission.COMMENT):
        raise PermissionDenied("Your account may not comment.")
    text = check_content(content)
    # The image row first: see lock_image on why this order avoids deadlocks.
    image_author_id = await lock_image(session, image_id)
    # In SQL, in the same transaction: concurrent comments never lose a count.
    await session.execute(
        update(Image)
        .where(Image.id == image_id)
        .values(comment_count=Image.comment_count + 1)
        .execution_options(synchronize_session=False)
    )
    comment = Comment(image_id=image_id, author_id=author.id, content=text)
    session.add(comment)
    await session.flush()  # the notice refers to the comment's id
    await notifications.notify(
        session,
        recipient_id=image_author_id,
        actor_id=author.id,
        kind=NotificationKind.COMMENT,
        image_id=image_id,
        comment_id=comment.id,
    )
    await session.commit()
    comment.author = author
    if redis is not None:
        await bump_feed_version(redis)
        if image_author_id != author.id:
            await notifications.bump_for(redis, image_author_id)
    return comment


async def list_comments(
    session: AsyncSession, image_id: int, *, limit: int | None, cursor: str | None
) -> CommentPage:
    """An image's comments, oldest first, by keyset; ``NotFoundError`` for no image."""
    size = check_limit(limit)
    after_id = decode_cursor(cursor)
    if await session.scalar(select(Image.id).where(Image.id == image_id)) is None:
        raise NotFoundError("There is no image with that id (it may have been deleted).")
    query = (
        select(Comment)
        .options(joinedload(Comment.author))
        .where(Comment.image_id == image_id)
        .order_by(Comment.id)
        .limit(size + 1)
    )
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    rows = list((await session.scalars(query)).all())
    has_more = len(rows) > size
    rows = rows[:size]
    return CommentPage(comments=rows, next_cursor=encode_cursor(rows[-1].id) if has_more else None)


def may_delete_comment(actor: User | None, comment: Comment, image_author_id: int) -> bool:
    """The comment's author, the image's owner, or a moderator."""
    return actor is not None and (
        actor.id in (comment.author_id, image_author_id) or actor.can(Permission.MODERATE)
    )


async def delete_comment(
    session: AsyncSession, redis: aioredis.Redis | None, *, comment_id: int, actor: User
) -> int:
    """Delete a comment; returns the id of the image it was on."""
    found = (
        await session.execute(
            select(Comment, Image.author_id)
            .join(Image, Image.id == Comment.image_id)
            .where(Comment.id == comment_id)
        )
    ).first()
    if found is None:
        raise NotFoundError("There is no comment with that id (it may have been deleted).")
    comment, image_author_id = found
    if not may_delete_comment(actor, comment, image_author_id):
        raise PermissionDenied(
            "Only the comment's author, the image's owner or a moderator can delete it."
        )
    image_id = comment.image_id
    # Its notice goes with it (explicitly: SQLite cascades only with its pragma on).
    withdrawn = await session.execute(
        delete(Notification).where(Notification.comment_id == comment_id)
    )
    await session.delete(comment)
    await session.execute(
        update(Image)
        .where(Image.id == image_id)
        .values(comment_count=Image.comment_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    if redis is not None:
        await bump_feed_version(redis)
        if withdrawn.rowcount:  # type: ignore[attr-defined]
            await notifications.bump_for(redis, image_author_id)
    return image_id
