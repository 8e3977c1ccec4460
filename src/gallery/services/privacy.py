"""Private accounts and their follow requests; who each post is shown to.

* An account is public (anyone may follow it) or private: following it sends
  a *follow request*, which the owner accepts (it becomes a follow) or
  declines, and which the requester may withdraw. Each request gives the
  owner a notice; an answered or withdrawn request takes its notice back.
* Until a request is accepted, a private account's profile shows its name,
  bio and counts but none of its posts. Turning an account public accepts
  every pending request (the settings page says so first).
* A post is shown to everyone (``public``) or to followers only
  (``followers``). ``images.is_public`` stores what both decide together, so
  the shared pages filter on one column (``services/visibility.py``).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import insert_unless_present
from gallery.models.image import Image, PostVisibility
from gallery.models.social import Follow, FollowRequest, NotificationKind
from gallery.models.user import User
from gallery.services import live, notifications
from gallery.services.errors import InvalidInput, NotFoundError
from gallery.services.feeds import bump_feed_version
from gallery.services.people import UserPage, people_page
from gallery.services.users import find_by_username
from gallery.services.visibility import not_blocked


def check_visibility(value: str | None) -> PostVisibility:
    """A post's visibility from a form or JSON: ``public`` (also when left out) or ``followers``."""
    if value is None or value == "":
        return PostVisibility.PUBLIC
    try:
        return PostVisibility(value)
    except ValueError:
        raise InvalidInput(
            "Choose who sees the post: 'public' or 'followers'.", field="visibility"
        ) from None


def is_public(visibility: str, author: User) -> bool:
    """What ``images.is_public`` holds for a post: a public post of a public account."""
    return visibility == PostVisibility.PUBLIC and not author.is_private


# -- follow requests ------------------------------------------------------------


async def has_requested(session: AsyncSession, requester_id: int | None, target_id: int) -> bool:
    """Whether ``requester_id`` has asked to follow ``target_id`` and had no answer yet."""
    if requester_id is None:
        return False
    found = await session.scalar(
        select(FollowRequest.id).where(
            FollowRequest.requester_id == requester_id, FollowRequest.target_id == target_id
        )
    )
    return found is not None


async def request_follow(
    session: AsyncSession, redis: aioredis.Redis | None, *, requester: User, target: User
) -> bool:
    """Ask to follow the private account ``target`` (again is fine); whether it was new.

    Committed here. The owner is told once per request.
    """
    added = await insert_unless_present(
        session, FollowRequest.__table__, {"requester_id": requester.id, "target_id": target.id}
    )
    if added:
        await notifications.notify(
            session,
            recipient_id=target.id,
            actor_id=requester.id,
            kind=NotificationKind.FOLLOW_REQUEST,
        )
    await session.commit()
    if added and redis is not None:
        await notifications.changed(session, redis, target.id)
    return added


async def drop_request(session: AsyncSession, requester_id: int, target_id: int) -> bool:
    """Remove the request and its notice (in the caller's transaction); whether there was one."""
    removed = await session.execute(
        delete(FollowRequest).where(
            FollowRequest.requester_id == requester_id, FollowRequest.target_id == target_id
        )
    )
    if not removed.rowcount:  # type: ignore[attr-defined]
        return False
    await notifications.withdraw(
        session,
        recipient_id=target_id,
        actor_id=requester_id,
        kind=NotificationKind.FOLLOW_REQUEST,
    )
    return True


async def withdraw_request(
    session: AsyncSession, redis: aioredis.Redis | None, *, requester_id: int, target_id: int
) -> bool:
    """The requester changed their mind (no request is fine); whether there was one."""
    dropped = await drop_request(session, requester_id, target_id)
    await session.commit()
    if dropped and redis is not None:
        await notifications.changed(session, redis, target_id)
    return dropped


async def _pending_requester(session: AsyncSession, owner: User, username: str) -> User:
    """The account behind ``owner``'s pending request from ``username``; 404 without one."""
    requester = await find_by_username(session, username)
    if not await has_requested(session, requester.id, owner.id):
        raise NotFoundError(f"There is no follow request from {username!r}.")
    return requester


async def _make_follow(session: AsyncSession, requester_id: int, owner_id: int) -> None:
    """The accepted request becomes a follow, and the requester is told."""
    await insert_unless_present(
        session, Follow.__table__, {"follower_id": requester_id, "followed_id": owner_id}
    )
    await notifications.notify(
        session,
        recipient_id=requester_id,
        actor_id=owner_id,
        kind=NotificationKind.FOLLOW_ACCEPTED,
    )


async def _after_accepting(
    session: AsyncSession, redis: aioredis.Redis | None, owner_id: int, requester_ids: list[int]
) -> None:
    if redis is None or not requester_ids:
        return
    await bump_feed_version(redis)  # follower counts, and the requesters' following feeds
    await notifications.changed(session, redis, owner_id)
    for requester_id in requester_ids:
        await notifications.changed(session, redis, requester_id)
        await live.following_changed(redis, user_id=requester_id, followed_id=owner_id)


async def accept_request(
    session: AsyncSession, redis: aioredis.Redis | None, *, owner: User, username: str
) -> User:
    """``owner`` accepts ``username``'s request: it becomes a follow. 404 without a request."""
    requester = await _pending_requester(session, owner, username)
    await drop_request(session, requester.id, owner.id)
    await _make_follow(session, requester.id, owner.id)
    await session.commit()
    await _after_accepting(session, redis, owner.id, [requester.id])
    return requester


async def decline_request(
    session: AsyncSession, redis: aioredis.Redis | None, *, owner: User, username: str
) -> User:
    """``owner`` declines ``username``'s request: it goes, and nobody is told. 404 without one."""
    requester = await _pending_requester(session, owner, username)
    await drop_request(session, requester.id, owner.id)
    await session.commit()
    if redis is not None:
        await notifications.changed(session, redis, owner.id)
    return requester


async def requests_page(
    session: AsyncSession, *, owner_id: int, limit: int | None, cursor: str | None
) -> UserPage:
    """Who asked to follow ``owner_id``, most recent first (keyset on the request)."""
    condition = and_(
        FollowRequest.target_id == owner_id, *not_blocked(owner_id, FollowRequest.requester_id)
    )
    return await people_page(
        session, FollowRequest.id, condition, FollowRequest.requester_id, limit, cursor
    )


async def pending_count(session: AsyncSession, owner_id: int) -> int:
    """How many requests wait for ``owner_id``'s answer (the settings page warns with it)."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(FollowRequest)
            .where(FollowRequest.target_id == owner_id)
        )
        or 0
    )


# -- the account's setting ---------------------------------------------------------


async def set_private(
    session: AsyncSession, redis: aioredis.Redis | None, *, user: User, private: bool
) -> int:
    """Make ``user``'s account private or public; how many pending requests that accepted.

    Its posts' ``is_public`` follow in the same transaction. Going public
    accepts every pending request (each requester is told, as when accepted
    one by one). Followers stay followers either way.
    """
    await session.execute(update(User).where(User.id == user.id).values(is_private=private))
    await session.execute(
        update(Image)
        .where(Image.author_id == user.id)
        .values(is_public=False if private else Image.visibility == PostVisibility.PUBLIC.value)
        .execution_options(synchronize_session=False)
    )
    accepted: list[int] = []
    if not private:
        accepted = list(
            await session.scalars(
                select(FollowRequest.requester_id).where(FollowRequest.target_id == user.id)
            )
        )
        for requester_id in accepted:
            await drop_request(session, requester_id, user.id)
            await _make_follow(session, requester_id, user.id)
    await session.commit()
    user.is_private = private
    if redis is not None:
        await bump_feed_version(redis)  # every page that shows (or hid) its posts
    await _after_accepting(session, redis, user.id, accepted)
    return len(accepted)
