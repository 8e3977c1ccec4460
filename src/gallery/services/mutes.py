"""Muting: the muter stops seeing an account in their feeds, search and notifications.

What is hidden is decided in ``services/visibility.py``. Muting is private and
reversible: the muted account is not told, follows stay as they were, and the
notices it gave come back on unmuting (they are hidden, not deleted). Every
mute and unmute moves ``users.relations_version`` on in the same transaction,
which keys the muter's overlay on the shared feed pages and their ETags.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import insert_unless_present
from gallery.models.social import Mute
from gallery.models.user import User
from gallery.services import live, notifications
from gallery.services.errors import InvalidInput
from gallery.services.social import UserPage, people_page
from gallery.services.users import find_by_username


@dataclass(frozen=True)
class MuteState:
    muted: bool


async def _other(session: AsyncSession, muter: User, username: str) -> User:
    other = await find_by_username(session, username)
    if other.id == muter.id:
        raise InvalidInput("You cannot mute yourself.", field="username")
    return other


async def _relations_changed(
    session: AsyncSession, redis: aioredis.Redis | None, user: User
) -> None:
    """After the commit: the muter's notices and open pages see the change at once."""
    if redis is None:
        return
    await notifications.changed(session, redis, user.id)
    await live.relations_changed(redis, user_id=user.id)


async def _bump_relations_version(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(User).where(User.id == user.id).values(relations_version=User.relations_version + 1)
    )


async def mute_user(
    session: AsyncSession, redis: aioredis.Redis | None, *, muter: User, username: str
) -> MuteState:
    """``muter`` mutes ``username`` (again is fine; oneself is ``InvalidInput``).

    Any signed-in account may, locked or not: it changes only what the muter sees.
    """
    other = await _other(session, muter, username)
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
    other = await _other(session, muter, username)
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
