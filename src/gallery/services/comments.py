"""Comments: post, list, delete; the image's comment_count moves with them."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.infra.storage import Storage
from gallery.models.comment import COMMENT_MAX_LENGTH, Comment
from gallery.models.image import Image
from gallery.models.moderation import ModerationAction, Report
from gallery.models.social import Notification, NotificationKind
from gallery.models.user import Permission, User
from gallery.services import avatars, live, moderation, notifications, visibility
from gallery.services.errors import NotFoundError, PermissionDenied
from gallery.services.feeds import bump_feed_version
from gallery.services.images import lock_image
from gallery.services.paging import check_limit, decode_cursor, trim_page
from gallery.services.permissions import can, require_permission
from gallery.services.validation import bounded_text

COMMENTS_OFF_MESSAGE = "Comments are turned off for this photo."


@dataclass(frozen=True)
class CommentPage:
    comments: list[Comment]
    next_cursor: str | None


def check_content(content: str | None) -> str:
    return bounded_text(
        content,
        what="comment",
        field="content",
        max_length=COMMENT_MAX_LENGTH,
        missing="Write something before posting the comment.",
    )


async def add_comment(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    author: User,
    content: str | None,
    storage: Storage | None = None,
) -> Comment:
    """Post a comment (1–1000 characters) on an image and return it, author loaded.

    ``storage`` gives the author's avatar URL to the pages told about it live.
    """
    require_permission(author, Permission.COMMENT)
    text = check_content(content)
    # The image row first: see lock_image on why this order avoids deadlocks.
    image = await lock_image(session, image_id)
    await visibility.check_post_visible(session, author, image.author_id, image.is_public)
    if image.comments_disabled:
        raise PermissionDenied(COMMENTS_OFF_MESSAGE)
    image_author_id = image.author_id
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
        await live.comment_added(
            redis,
            image_id=image_id,
            comment_count=await _comment_count(session, image_id),
            comment_id=comment.id,
            content=comment.content,
            created_at=comment.created_at,
            author_id=author.id,
            author_username=author.username,
            author_display_name=author.display_name,
            author_avatar_url=avatars.avatar_url(author, storage),
        )
        if image_author_id != author.id:
            await notifications.changed(session, redis, image_author_id)
    return comment


async def _comment_count(session: AsyncSession, image_id: int) -> int:
    return await session.scalar(select(Image.comment_count).where(Image.id == image_id)) or 0


async def list_comments(
    session: AsyncSession,
    image_id: int,
    *,
    viewer: User | None,
    limit: int | None,
    cursor: str | None,
) -> CommentPage:
    """An image's comments as ``viewer`` may see them, oldest first, by keyset;
    ``NotFoundError`` for no image (or one the viewer may not see)."""
    size = check_limit(limit)
    after_id = decode_cursor(cursor)
    author_id = await visibility.visible_post_author(session, viewer, image_id)
    query = (
        select(Comment)
        .options(joinedload(Comment.author))
        .where(
            Comment.image_id == image_id,
            visibility.comments_shown(author_id, Comment.author_id),
            *visibility.not_blocked(viewer.id if viewer else None, Comment.author_id),
        )
        .order_by(Comment.id)
        .limit(size + 1)
    )
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    rows, next_cursor = trim_page((await session.scalars(query)).all(), size)
    return CommentPage(comments=rows, next_cursor=next_cursor)


async def get_comment(session: AsyncSession, comment_id: int) -> Comment:
    """The comment with its author; ``NotFoundError`` if there is none."""
    comment = await session.scalar(
        select(Comment).options(joinedload(Comment.author)).where(Comment.id == comment_id)
    )
    if comment is None:
        raise NotFoundError("There is no comment with that id (it may have been deleted).")
    return comment


def may_delete_comment(actor: User | None, comment: Comment, image_author_id: int) -> bool:
    """The comment's author, the image's owner, or a moderator."""
    return actor is not None and (
        actor.id in (comment.author_id, image_author_id) or can(actor, Permission.MODERATE)
    )


async def delete_comment(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    *,
    comment_id: int,
    actor: User,
    reason: str | None = None,
    moderating: bool = False,
) -> int:
    """Delete a comment (and reports on it); returns the id of the image it was on.

    A moderator deleting someone else's comment on someone else's image (or
    any comment from the report queue, ``moderating``) writes it to the
    moderation log with ``reason``.
    """
    found = (
        await session.execute(
            select(Comment, Image.author_id)
            .options(joinedload(Comment.author))
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
    why = moderation.check_reason(reason)
    image_id = comment.image_id
    if moderating or actor.id not in (comment.author_id, image_author_id):
        moderation.record(
            session,
            actor=actor,
            action=ModerationAction.DELETE_COMMENT,
            target=f"comment {comment_id}",
            subject_id=comment.author_id,
            summary=moderation.comment_summary(comment, comment.author.username),
            reason=why,
        )
    # Its notice and reports go with it (explicitly: SQLite cascades only with its pragma on).
    await session.execute(delete(Report).where(Report.comment_id == comment_id))
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
        await live.comment_deleted(
            redis,
            image_id=image_id,
            comment_id=comment_id,
            comment_count=await _comment_count(session, image_id),
        )
        if withdrawn.rowcount:  # type: ignore[attr-defined]
            await notifications.changed(session, redis, image_author_id)
    return image_id
