"""What open pages are told, published after the commit that caused it.

Each function here is called by the service that committed the change, once
the commit is done (never before: a page that reacts by fetching would read
the old rows). Publishing is best effort: the change is committed whatever
happens to Redis, so a failure is logged and swallowed, and pages that missed
the event see a gap in the stream's sequence (or reconnect) and catch up
through the JSON API.

Streams (``gallery.infra.live``): ``feed`` (everyone's new photos),
``author:<id>`` (a profile, and the following feeds of its followers),
``tag:<name>``, ``photo:<id>`` (counts, comments, deletion) and ``me:<id>``
(a user's own: the bell, a lock), which only that user's sockets receive.
Messages carry ids and counts only: what a page needs to update itself, and
nothing a viewer of that stream may not see.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gallery.infra import live as live_infra

log = logging.getLogger(__name__)

FEED = "feed"


def author_stream(user_id: int) -> str:
    return f"author:{user_id}"


def tag_stream(name: str) -> str:
    return f"tag:{name}"


def photo_stream(image_id: int) -> str:
    return f"photo:{image_id}"


def private_stream(user_id: int) -> str:
    return f"me:{user_id}"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _publish(redis: aioredis.Redis | None, streams: list[str], event: dict[str, Any]) -> None:
    if redis is None:
        return
    try:
        await live_infra.publish(redis, streams, orjson.dumps(event).decode())
    except (RedisError, OSError):
        # Committed already; pages catch up by sequence when they next hear.
        log.warning("Could not publish %s to %s", event.get("type"), streams, exc_info=True)


async def photo_posted(
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    author_id: int,
    author_username: str,
    tags: Iterable[str] = (),
    public: bool = True,
) -> None:
    """A new photo: everyone's feed, its author's profile (and followers), its tags.

    One only followers see goes to its author's stream alone, marked
    ``"public": false``: a socket passes it on only to those who may see it
    (``web/live.py``).
    """
    streams = [author_stream(author_id)]
    if public:
        streams = [FEED, *streams, *(tag_stream(tag) for tag in sorted(set(tags)))]
    event = {
        "type": "photo.new",
        "photo": {"id": image_id, "author": {"id": author_id, "username": author_username}},
        "public": public,
    }
    await _publish(redis, streams, event)


async def photo_counts(
    redis: aioredis.Redis | None, *, image_id: int, like_count: int, comment_count: int
) -> None:
    await _publish(
        redis,
        [photo_stream(image_id)],
        {
            "type": "photo.counts",
            "id": image_id,
            "like_count": like_count,
            "comment_count": comment_count,
        },
    )


async def photo_deleted(redis: aioredis.Redis | None, *, image_id: int) -> None:
    await _publish(redis, [photo_stream(image_id)], {"type": "photo.deleted", "id": image_id})


async def comment_added(
    redis: aioredis.Redis | None,
    *,
    image_id: int,
    comment_count: int,
    comment_id: int,
    content: str,
    created_at: datetime,
    author_id: int,
    author_username: str,
    author_display_name: str | None,
    author_avatar_url: str,
) -> None:
    """A new comment, in the API's Comment shape, with the photo's new count."""
    await _publish(
        redis,
        [photo_stream(image_id)],
        {
            "type": "comment.new",
            "photo_id": image_id,
            "comment_count": comment_count,
            "comment": {
                "id": comment_id,
                "content": content,
                "created_at": _iso(created_at),
                "author": {
                    "id": author_id,
                    "username": author_username,
                    "display_name": author_display_name,
                    "avatar_url": author_avatar_url,
                },
            },
        },
    )


async def comment_deleted(
    redis: aioredis.Redis | None, *, image_id: int, comment_id: int, comment_count: int
) -> None:
    await _publish(
        redis,
        [photo_stream(image_id)],
        {
            "type": "comment.deleted",
            "photo_id": image_id,
            "id": comment_id,
            "comment_count": comment_count,
        },
    )


async def unread_changed(redis: aioredis.Redis | None, *, user_id: int, unread: int) -> None:
    """The bell's new count, to the user's own sockets only."""
    await _publish(redis, [private_stream(user_id)], {"type": "notifications", "unread": unread})


async def following_changed(
    redis: aioredis.Redis | None, *, user_id: int, followed_id: int
) -> None:
    """``user_id`` followed or unfollowed someone: their sockets showing the following
    feed re-read whom it follows (``web/live.py``), and their pages may update buttons."""
    await _publish(
        redis, [private_stream(user_id)], {"type": "following.changed", "user_id": followed_id}
    )


async def relations_changed(redis: aioredis.Redis | None, *, user_id: int) -> None:
    """``user_id`` muted or unmuted someone: their sockets re-read whom they are spared."""
    await _publish(redis, [private_stream(user_id)], {"type": "relations.changed"})


async def lock_changed(redis: aioredis.Redis | None, *, user_id: int, locked: bool) -> None:
    await _publish(
        redis,
        [private_stream(user_id)],
        {"type": "account.locked" if locked else "account.unlocked", "locked": locked},
    )
