"""Likes and follows.

A like changes ``images.like_count`` in SQL in the same transaction as its row,
so concurrent likes never lose or double a count; the row's primary key makes a
second like by the same person impossible, and liking twice (or unliking what
was never liked) is simply a no-op. Each change also adds or withdraws the
notice its owner gets, so a like followed by an unlike leaves nothing behind.

Lock order matters on MariaDB: every like, unlike and comment locks the image
row first (``SELECT … FOR UPDATE``), then touches the rows that refer to it. If
the like row came first, its foreign-key check would take a shared lock on the
image, and two people liking the same image at once would deadlock upgrading it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import insert_unless_present
from gallery.models.image import Image
from gallery.models.social import Follow, Like, NotificationKind
from gallery.models.user import Permission, User
from gallery.services import live, notifications, privacy
from gallery.services.errors import InvalidInput
from gallery.services.feeds import bump_feed_version
from gallery.services.images import lock_image
from gallery.services.people import UserPage, people_page
from gallery.services.permissions import require_permission
from gallery.services.users import find_visible
from gallery.services.visibility import check_post_visible, not_blocked


@dataclass(frozen=True)
class LikeState:
    liked: bool
    like_count: int


@dataclass(frozen=True)
class FollowState:
    following: bool
    follower_count: int
    # Asked to follow a private account, waiting for its owner's answer.
    requested: bool = False


@dataclass(frozen=True)
class FollowCounts:
    followers: int
    following: int


# -- likes -------------------------------------------------------------------


def check_can_like(user: User) -> None:
    """Liking needs no bit, only an active account that is not locked."""
    require_permission(user)


async def _change_like_count(session: AsyncSession, image_id: int, delta: int) -> None:
    await session.execute(
        update(Image)
        .where(Image.id == image_id)
        .values(like_count=Image.like_count + delta)
        .execution_options(synchronize_session=False)
    )


async def _like_count(session: AsyncSession, image_id: int) -> int:
    return await session.scalar(select(Image.like_count).where(Image.id == image_id)) or 0


async def _publish_counts(session: AsyncSession, redis: aioredis.Redis, image_id: int) -> int:
    """Tell open pages the photo's counts as committed; returns the like count."""
    row = (
        await session.execute(
            select(Image.like_count, Image.comment_count).where(Image.id == image_id)
        )
    ).first()
    if row is None:  # deleted meanwhile: its own event says so
        return 0
    await live.photo_counts(
        redis, image_id=image_id, like_count=row.like_count, comment_count=row.comment_count
    )
    return int(row.like_count)


async def like_image(
    session: AsyncSession, redis: aioredis.Redis | None, *, user: User, image_id: int
) -> LikeState:
    """``user`` likes the image (again is fine); its owner is notified of a new like."""
    check_can_like(user)
    user_id = user.id
    locked = await lock_image(session, image_id)
    author_id = locked.author_id
    await check_post_visible(session, user, author_id, locked.is_public)
    added = await insert_unless_present(
        session, Like.__table__, {"user_id": user_id, "image_id": image_id}
    )
    if added:
        await _change_like_count(session, image_id, +1)
        await notifications.notify(
            session,
            recipient_id=author_id,
            actor_id=user_id,
            kind=NotificationKind.LIKE,
            image_id=image_id,
        )
    await session.commit()
    if added and redis is not None:
        await bump_feed_version(redis)
        await notifications.changed(session, redis, author_id)
        return LikeState(liked=True, like_count=await _publish_counts(session, redis, image_id))
    return LikeState(liked=True, like_count=await _like_count(session, image_id))


async def unlike_image(
    session: AsyncSession, redis: aioredis.Redis | None, *, user: User, image_id: int
) -> LikeState:
    """Withdraw ``user``'s like (none is fine), and the notice it gave the owner."""
    check_can_like(user)
    user_id = user.id
    locked = await lock_image(session, image_id)
    author_id = locked.author_id
    await check_post_visible(session, user, author_id, locked.is_public)
    removed = await session.execute(
        delete(Like).where(Like.user_id == user_id, Like.image_id == image_id)
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await _change_like_count(session, image_id, -1)
        await notifications.withdraw(
            session,
            recipient_id=author_id,
            actor_id=user_id,
            kind=NotificationKind.LIKE,
            image_id=image_id,
        )
    await session.commit()
    if removed.rowcount and redis is not None:  # type: ignore[attr-defined]
        await bump_feed_version(redis)
        await notifications.changed(session, redis, author_id)
        return LikeState(liked=False, like_count=await _publish_counts(session, redis, image_id))
    return LikeState(liked=False, like_count=await _like_count(session, image_id))


# -- follows -----------------------------------------------------------------


def check_can_follow(user: User) -> None:
    require_permission(user, Permission.FOLLOW)


async def _followed_by_name(session: AsyncSession, follower: User, username: str) -> User:
    check_can_follow(follower)
    followed = await find_visible(session, username, follower)
    if followed.id == follower.id:
        raise InvalidInput("You cannot follow yourself.", field="username")
    return followed


async def follower_count(session: AsyncSession, user_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(Follow).where(Follow.followed_id == user_id)
        )
        or 0
    )


async def follow_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, follower: User, username: str
) -> FollowState:
    """``follower`` follows ``username`` (again is fine; oneself is ``InvalidInput``).

    A private account is asked instead (``services/privacy.py``): the state says
    ``requested`` until its owner answers.
    """
    follower_id = follower.id
    followed = await _followed_by_name(session, follower, username)
    followed_id = followed.id
    if followed.is_private and not await is_following(session, follower_id, followed_id):
        await privacy.request_follow(session, redis, requester=follower, target=followed)
        return FollowState(
            following=False,
            follower_count=await follower_count(session, followed_id),
            requested=True,
        )
    added = await insert_unless_present(
        session,
        Follow.__table__,
        {"follower_id": follower_id, "followed_id": followed_id},
    )
    if added:
        await notifications.notify(
            session, recipient_id=followed_id, actor_id=follower_id, kind=NotificationKind.FOLLOW
        )
    await session.commit()
    if added and redis is not None:
        await bump_feed_version(redis)  # the follower's following feed changed
        await notifications.changed(session, redis, followed_id)
        await live.following_changed(redis, user_id=follower_id, followed_id=followed_id)
    return FollowState(following=True, follower_count=await follower_count(session, followed_id))


async def unfollow_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, follower: User, username: str
) -> FollowState:
    """Stop following ``username`` (not following is fine), withdrawing the notice;
    a request still waiting for an answer is withdrawn too."""
    follower_id = follower.id
    followed = await _followed_by_name(session, follower, username)
    followed_id = followed.id
    await privacy.withdraw_request(session, redis, requester_id=follower_id, target_id=followed_id)
    removed = await session.execute(
        delete(Follow).where(Follow.follower_id == follower_id, Follow.followed_id == followed_id)
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await notifications.withdraw(
            session, recipient_id=followed_id, actor_id=follower_id, kind=NotificationKind.FOLLOW
        )
    await session.commit()
    if removed.rowcount and redis is not None:  # type: ignore[attr-defined]
        await bump_feed_version(redis)
        await notifications.changed(session, redis, followed_id)
        await live.following_changed(redis, user_id=follower_id, followed_id=followed_id)
    return FollowState(following=False, follower_count=await follower_count(session, followed_id))


async def follow_counts(session: AsyncSession, user_id: int) -> FollowCounts:
    """How many people follow ``user_id`` and how many it follows (one query)."""
    followers = (
        select(func.count()).select_from(Follow).where(Follow.followed_id == user_id)
    ).scalar_subquery()
    following = (
        select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)
    ).scalar_subquery()
    row = (await session.execute(select(followers, following))).one()
    return FollowCounts(followers=row[0] or 0, following=row[1] or 0)


async def is_following(session: AsyncSession, follower_id: int | None, followed_id: int) -> bool:
    """Whether ``follower_id`` (``None`` for nobody signed in) follows ``followed_id``."""
    if follower_id is None or follower_id == followed_id:
        return False
    found = await session.scalar(
        select(Follow.id).where(
            Follow.follower_id == follower_id, Follow.followed_id == followed_id
        )
    )
    return found is not None


async def list_followers(
    session: AsyncSession,
    user_id: int,
    *,
    viewer_id: int | None = None,
    limit: int | None,
    cursor: str | None,
) -> UserPage:
    """Who follows ``user_id``, most recent first (keyset on the follow), less anyone
    behind a block with the viewer."""
    condition = and_(Follow.followed_id == user_id, *not_blocked(viewer_id, Follow.follower_id))
    return await people_page(session, Follow.id, condition, Follow.follower_id, limit, cursor)


async def list_following(
    session: AsyncSession,
    user_id: int,
    *,
    viewer_id: int | None = None,
    limit: int | None,
    cursor: str | None,
) -> UserPage:
    """Whom ``user_id`` follows, most recent first (keyset on the follow), less anyone
    behind a block with the viewer."""
    condition = and_(Follow.follower_id == user_id, *not_blocked(viewer_id, Follow.followed_id))
    return await people_page(session, Follow.id, condition, Follow.followed_id, limit, cursor)
