"""A signed-in viewer as a public feed's answer depends on them, and its generation.

A public feed's page is shared; what a signed-in viewer adds is their marks
(``liked``, ``saved``) and what they are spared (mutes, blocks), keyed by
``users.saves_version`` and ``users.relations_version`` (``web/feed_pages.py``,
``web/conditional.py``). ``web/fast_path.py`` answers such a viewer's polls in
front of the framework and keeps what it read of the account in each process;
the account's **generation** in Redis tells it whether that is still current.

Every service that commits a change to those fields calls ``viewer_changed``
after the commit: the generation becomes a new random value, so a process
that read the account before sees a generation other than the one it kept.
A value that is never reused, rather than a counter, so a Redis that lost its
data (or a key that expired) can never hand back a generation that a process
kept for older figures.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gallery.models.user import User

log = logging.getLogger(__name__)

# Kept a week after the last change; an expired one reads as absent, which is
# not what any process kept for figures read while it was present.
GENERATION_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class FeedViewer:
    """What a public feed's answer depends on of the signed-in viewer."""

    id: int
    saves_version: int
    relations_version: int


# Built once: the engine then caches the statement's compiled form.
_ACTIVE_FEED_VIEWER = select(User.id, User.saves_version, User.relations_version).where(
    User.id == bindparam("user_id"), User.is_active
)


async def active_feed_viewer(connection: AsyncConnection, user_id: int) -> FeedViewer | None:
    """The account behind a sign-in as a feed needs it (one indexed read, no ORM
    object), or ``None`` when it no longer exists or is no longer active."""
    row = (await connection.execute(_ACTIVE_FEED_VIEWER, {"user_id": user_id})).first()
    return None if row is None else FeedViewer(*row)


def generation_key(user_id: int) -> str:
    return f"viewer-generation:{user_id}"


async def viewer_changed(redis: aioredis.Redis | None, *user_ids: int) -> None:
    """Call after committing a change to what ``FeedViewer`` holds of these accounts.

    Best effort, like live events: the change is committed whatever Redis does.
    A process that kept the old figures then serves them until its own limit on
    their age (``web/fast_path.py``) and rereads.
    """
    if redis is None or not user_ids:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.set(generation_key(user_id), secrets.token_hex(8), ex=GENERATION_TTL_SECONDS)
            await pipe.execute()
    except (RedisError, OSError):
        log.warning("Could not move the viewer generation of %s", user_ids, exc_info=True)
