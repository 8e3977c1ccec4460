"""Mutes and blocks: what one account does to keep another away.

What each hides is decided in ``services/visibility.py``; here they are made
and undone. Both are private and reversible, and nobody is told:

* a **mute** changes only what the muter sees; follows stay, and the notices
  the muted account gave come back on unmuting (hidden, not deleted);
* a **block** ends the follows between the two, both ways, and the two no
  longer see each other; unblocking brings nothing back but visibility.

Every change moves ``users.relations_version`` on in the same transaction (a
block both sides'), which keys each viewer's overlay on the shared feed pages
and their ETags, so a poll sees it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import insert_unless_present
from gallery.models.social import Block, Follow, Mute, NotificationKind
from gallery.models.user import User
from gallery.services import live, notifications, privacy
from gallery.services.errors import InvalidInput
from gallery.services.feed_viewers import viewer_changed
from gallery.services.feeds import bump_feed_version
from gallery.services.people import UserPage, people_page
from gallery.services.users import find_by_username


@dataclass(frozen=True)
class MuteState:
    muted: bool


@dataclass(frozen=True)
class BlockState:
    blocked: bool


async def _other(session: AsyncSession, user: User, username: str, verb: str) -> User:
    other = await find_by_username(session, username)
    if other.id == user.id:
        raise InvalidInput(f"You cannot {verb} yourself.", field="username")
    return other


async def _relations_changed(
    session: AsyncSession, redis: aioredis.Redis | None, *users: User
) -> None:
    """After the commit: their feeds, notices and open pages see the change at once."""
    if redis is None:
        return
    await viewer_changed(redis, *(user.id for user in users))
    for user in users:
        await notifications.changed(session, redis, user.id)
        await live.relations_changed(redis, user_id=user.id)


async def _bump_relations_version(session: AsyncSession, *users: User) -> None:
    await session.execute(
        update(User)
        .where(User.id.in_([user.id for user in users]))
        .values(relations_version=User.relations_version + 1)
    )


async def mute_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, muter: User, username: str
) -> MuteState:
    """``muter`` mutes ``username`` (again is fine; oneself is ``InvalidInput``).

    Any signed-in account may, locked or not: it changes only what the muter sees.
    """
    other = await _other(session, muter, username, "mute")
    added = await insert_unless_present(
        session, Mute.__table__, {"muter_id": muter.id, "muted_id": other.id}
    )
    if added:
        await _bump_relations_version(session, muter)
    await session.commit()
    if added:
        await _relations_changed(session, redis, muter)
    return MuteState(muted=True)


async def unmute_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, muter: User, username: str
) -> MuteState:
    """Unmute ``username`` (not muted is fine)."""
    other = await _other(session, muter, username, "mute")
    removed = await session.execute(
        delete(Mute).where(Mute.muter_id == muter.id, Mute.muted_id == other.id)
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await _bump_relations_version(session, muter)
    await session.commit()
    if removed.rowcount:  # type: ignore[attr-defined]
        await _relations_changed(session, redis, muter)
    return MuteState(muted=False)


async def is_muted(session: AsyncSession, muter: User | None, muted_id: int) -> bool:
    """Whether ``muter`` (``None``: nobody signed in) mutes ``muted_id``."""
    if muter is None or not muter.relations_version or muter.id == muted_id:
        return False
    found = await session.scalar(
        select(Mute.id).where(Mute.muter_id == muter.id, Mute.muted_id == muted_id)
    )
    return found is not None


async def muted_page(
    session: AsyncSession, *, muter_id: int, limit: int | None, cursor: str | None
) -> UserPage:
    """Whom ``muter_id`` muted, most recent first (keyset on the mute)."""
    return await people_page(
        session, Mute.id, Mute.muter_id == muter_id, Mute.muted_id, limit, cursor
    )


async def block_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, blocker: User, username: str
) -> BlockState:
    """``blocker`` blocks ``username`` (again is fine; oneself is ``InvalidInput``).

    The follows between them end, both ways, with their notices, and so do
    follow requests either way. Any signed-in
    account may block, locked or not: keeping someone away is never refused.
    """
    other = await _other(session, blocker, username, "block")
    added = await insert_unless_present(
        session, Block.__table__, {"blocker_id": blocker.id, "blocked_id": other.id}
    )
    if added:
        for follower, followed in ((blocker, other), (other, blocker)):
            await session.execute(
                delete(Follow).where(
                    Follow.follower_id == follower.id, Follow.followed_id == followed.id
                )
            )
            await notifications.withdraw(
                session,
                recipient_id=followed.id,
                actor_id=follower.id,
                kind=NotificationKind.FOLLOW,
            )
            # A request waiting for an answer goes too (with its notice).
            await privacy.drop_request(session, follower.id, followed.id)
        await _bump_relations_version(session, blocker, other)
    await session.commit()
    if added:
        if redis is not None:
            # Follower counts changed, and the blocked one's comments on the
            # blocker's posts leave the shared pages, for everyone.
            await bump_feed_version(redis)
        await _relations_changed(session, redis, blocker, other)
    return BlockState(blocked=True)


async def unblock_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, blocker: User, username: str
) -> BlockState:
    """Unblock ``username`` (not blocked is fine); the follows that ended stay ended."""
    other = await _other(session, blocker, username, "block")
    removed = await session.execute(
        delete(Block).where(Block.blocker_id == blocker.id, Block.blocked_id == other.id)
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await _bump_relations_version(session, blocker, other)
    await session.commit()
    if removed.rowcount:  # type: ignore[attr-defined]
        if redis is not None:
            await bump_feed_version(redis)  # their comments on its posts show again, to all
        await _relations_changed(session, redis, blocker, other)
    return BlockState(blocked=False)


async def blocked_page(
    session: AsyncSession, *, blocker_id: int, limit: int | None, cursor: str | None
) -> UserPage:
    """Whom ``blocker_id`` blocked, most recent first (keyset on the block)."""
    return await people_page(
        session, Block.id, Block.blocker_id == blocker_id, Block.blocked_id, limit, cursor
    )
