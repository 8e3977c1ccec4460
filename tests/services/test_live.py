"""What the services publish for open pages (``services/live.py``), read off Redis itself.

A raw pub/sub connection listens to every live channel of the test Redis
(``live:<database>:*``) while a service acts; each test then checks which
streams were told, and what.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from quart.typing import TestClientProtocol as Client
from sqlalchemy import update

from gallery.infra import live as live_infra
from gallery.infra.redis import connect
from gallery.infra.runtime import Runtime
from gallery.models import Role, User
from gallery.services import comments, live, moderation
from tests.helpers import (
    add_like,
    add_user_row,
    add_user_rows,
    delete_comment,
    delete_image,
    fetch_user,
    make_active_user,
    remove_like,
    tag_names_of,
)
from tests.images import add_image_rows, store_image
from tests.mailbox import free_port

EVENT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Published:
    stream: str
    seq: int
    event: dict[str, Any]


class LiveChannels:
    """Every message published on this database's live channels, up to a marker of our own."""

    def __init__(self, url: str, database: int) -> None:
        self.client = aioredis.Redis.from_url(url, decode_responses=True)
        self.pubsub = self.client.pubsub()
        # Channels carry the database (infra/live.py): those of the test Redis's database.
        self.prefix = live_infra.channel_of("", database)
        self.marker = self.prefix + f"unit-marker:{secrets.token_hex(6)}"

    async def start(self) -> None:
        await self.pubsub.psubscribe(self.prefix + "*")
        confirmation = await self.pubsub.get_message(timeout=EVENT_TIMEOUT_SECONDS)
        assert confirmation is not None and confirmation["type"] == "psubscribe"

    async def close(self) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()

    async def published(self) -> list[Published]:
        """What was published since the last call.

        The services publish before they return; Redis sends a subscriber its
        messages in the order it ran the PUBLISHes, so once the marker published
        now arrives, everything published before it has arrived too.
        """
        await self.client.publish(self.marker, "end")
        collected: list[Published] = []
        deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                assert time.monotonic() < deadline, "the marker never came back"
                continue
            if message["channel"] == self.marker:
                return collected
            seq, _, body = message["data"].partition("|")
            stream = message["channel"].removeprefix(self.prefix)
            collected.append(Published(stream, int(seq), orjson.loads(body)))


def events_on(published: list[Published], stream: str) -> list[dict[str, Any]]:
    return [message.event for message in published if message.stream == stream]


def streams_of(published: list[Published]) -> set[str]:
    return {message.stream for message in published}


async def seq_of(runtime: Runtime, stream: str) -> int:
    assert runtime.redis is not None
    return (await live_infra.sequences(runtime.redis, [stream]))[stream]


async def assert_numbered(runtime: Runtime, published: list[Published], stream: str) -> None:
    """The messages on ``stream`` carry its sequence, which now stands at the last of them."""
    seqs = [message.seq for message in published if message.stream == stream]
    assert seqs, f"nothing was published on {stream}"
    last = await seq_of(runtime, stream)
    assert seqs == list(range(last - len(seqs) + 1, last + 1))


@pytest.fixture
async def channels(runtime: Runtime) -> AsyncIterator[LiveChannels]:
    assert runtime.live is not None and runtime.redis is not None
    # The server and the database the runtime publishes to.
    listening = LiveChannels(runtime.live.url, live_infra.database_of(runtime.redis))
    await listening.start()
    yield listening
    await listening.close()


# -- photos ----------------------------------------------------------------------------


async def test_an_upload_tells_the_feed_its_authors_profile_and_each_of_its_tags(
    runtime: Runtime, channels: LiveChannels
) -> None:
    alice = await make_active_user(runtime, "alice", "alice@example.com")
    image_id = await store_image(runtime, alice, "Dusk on the #Beach, by the #sea #beach")
    published = await channels.published()

    tags = await tag_names_of(runtime, image_id)
    assert len(tags) == 2
    photo_new = {
        "type": "photo.new",
        "photo": {"id": image_id, "author": {"id": alice, "username": "alice"}},
        "public": True,
    }
    streams = [live.FEED, live.author_stream(alice), *(live.tag_stream(tag) for tag in tags)]
    assert streams_of(published) == set(streams)
    for stream in streams:
        assert events_on(published, stream) == [photo_new], stream
        await assert_numbered(runtime, published, stream)


async def test_a_like_and_an_unlike_publish_the_committed_counts_and_the_owners_bell(
    runtime: Runtime, channels: LiveChannels
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    photo, owners_own, fans_own = (
        live.photo_stream(image_id),
        live.private_stream(owner),
        live.private_stream(fan),
    )

    await add_like(runtime, fan, image_id)
    published = await channels.published()
    # The one who likes has no bell to ring: nothing goes to their own stream.
    assert streams_of(published) == {photo, owners_own}
    assert events_on(published, photo) == [
        {"type": "photo.counts", "id": image_id, "like_count": 1, "comment_count": 0}
    ]
    assert events_on(published, owners_own) == [{"type": "notifications", "unread": 1}]
    await assert_numbered(runtime, published, photo)
    await assert_numbered(runtime, published, owners_own)

    await add_like(runtime, fan, image_id)  # liked already: nothing changed, nothing told
    assert await channels.published() == []

    await remove_like(runtime, fan, image_id)
    published = await channels.published()
    assert streams_of(published) == {photo, owners_own}
    assert events_on(published, photo) == [
        {"type": "photo.counts", "id": image_id, "like_count": 0, "comment_count": 0}
    ]
    assert events_on(published, owners_own) == [{"type": "notifications", "unread": 0}]
    assert await seq_of(runtime, photo) == 2
    assert await seq_of(runtime, fans_own) == 0


async def test_a_comment_publishes_itself_in_the_apis_shape_and_the_owners_bell(
    runtime: Runtime, channels: LiveChannels, client: Client
) -> None:
    owner, commenter = await add_user_rows(runtime, "owner", "commenter")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    # An avatar of their own, so the event's avatar URL is the stored one, as in the API.
    async with runtime.db.session() as session:
        await session.execute(
            update(User).where(User.id == commenter).values(avatar_key="00/00/face_avatar.jpg")
        )
        await session.commit()

    async with runtime.db.session() as session:
        comment = await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, commenter),
            content="Lovely light",
            storage=runtime.storage,
        )
    published = await channels.published()

    listed = await (await client.get(f"/api/v1/images/{image_id}/comments")).get_json()
    (as_listed,) = listed["items"]
    # The 64 px file (a bucket's presigned URL carries a query after it).
    assert "/00/00/face_avatar64.jpg" in as_listed["author"]["avatar_url"]
    photo = live.photo_stream(image_id)
    assert streams_of(published) == {photo, live.private_stream(owner)}
    assert events_on(published, photo) == [
        {"type": "comment.new", "photo_id": image_id, "comment_count": 1, "comment": as_listed}
    ]
    assert as_listed["id"] == comment.id
    assert events_on(published, live.private_stream(owner)) == [
        {"type": "notifications", "unread": 1}
    ]
    assert await seq_of(runtime, live.private_stream(commenter)) == 0

    # The owner answering on their own photo rings no bell of theirs.
    async with runtime.db.session() as session:
        await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, owner),
            content="Thank you",
            storage=runtime.storage,
        )
    published = await channels.published()
    assert streams_of(published) == {photo}
    assert [event["comment_count"] for event in events_on(published, photo)] == [2]

    # Deleting the first comment withdraws its notice too: the bell goes back to 0.
    await delete_comment(runtime, commenter, comment.id)
    published = await channels.published()
    assert streams_of(published) == {photo, live.private_stream(owner)}
    assert events_on(published, photo) == [
        {"type": "comment.deleted", "photo_id": image_id, "id": comment.id, "comment_count": 1}
    ]
    assert events_on(published, live.private_stream(owner)) == [
        {"type": "notifications", "unread": 0}
    ]
    await assert_numbered(runtime, published, photo)
    assert await seq_of(runtime, photo) == 3


async def test_deleting_an_image_tells_the_pages_that_show_it(
    runtime: Runtime, channels: LiveChannels
) -> None:
    alice = await make_active_user(runtime, "alice", "alice@example.com")
    image_id = await store_image(runtime, alice, "soon gone")
    await channels.published()  # the upload's own events

    await delete_image(runtime, alice, image_id)
    published = await channels.published()
    assert events_on(published, live.photo_stream(image_id)) == [
        {"type": "photo.deleted", "id": image_id}
    ]
    assert await seq_of(runtime, live.photo_stream(image_id)) == 1
    # The pages showing it, and the owner's bell (its notices went with it); no feed.
    assert streams_of(published) == {live.photo_stream(image_id), live.private_stream(alice)}


# -- accounts --------------------------------------------------------------------------


async def test_locking_and_unlocking_tell_the_users_own_pages(
    runtime: Runtime, channels: LiveChannels
) -> None:
    moderator = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    target = await add_user_row(runtime, "target")
    own = live.private_stream(target)

    async with runtime.db.session() as session:
        actor = await session.get_one(User, moderator)
        await moderation.lock_user(
            session, actor=actor, user_id=target, reason="spam", redis=runtime.redis
        )
    published = await channels.published()
    assert streams_of(published) == {own}
    assert events_on(published, own) == [{"type": "account.locked", "locked": True}]

    async with runtime.db.session() as session:
        actor = await session.get_one(User, moderator)
        await moderation.unlock_user(
            session, actor=actor, user_id=target, reason="", redis=runtime.redis
        )
    published = await channels.published()
    assert streams_of(published) == {own}
    assert events_on(published, own) == [{"type": "account.unlocked", "locked": False}]
    await assert_numbered(runtime, published, own)
    assert await seq_of(runtime, own) == 2
    assert await seq_of(runtime, live.private_stream(moderator)) == 0


# -- Redis unreachable -------------------------------------------------------------------


async def test_a_publish_to_an_unreachable_redis_does_not_undo_or_fail_the_action(
    runtime: Runtime,
) -> None:
    # The app's own kind of client, on a port nobody listens on.
    unreachable = connect(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1.0, timeout=1.0)
    try:
        moderator = await add_user_row(runtime, "mod", role=Role.MODERATOR)
        target = await add_user_row(runtime, "target")
        async with runtime.db.session() as session:
            actor = await session.get_one(User, moderator)
            await asyncio.wait_for(
                moderation.lock_user(
                    session, actor=actor, user_id=target, reason="spam", redis=unreachable
                ),
                EVENT_TIMEOUT_SECONDS,
            )
        assert (await fetch_user(runtime, target)).locked_at is not None

        # Each kind of event: logged and swallowed, never raised into the service.
        await live.photo_posted(unreachable, image_id=1, author_id=1, author_username="a")
        await live.photo_counts(unreachable, image_id=1, like_count=1, comment_count=0)
        await live.photo_deleted(unreachable, image_id=1)
        await live.unread_changed(unreachable, user_id=1, unread=1)
        await live.lock_changed(unreachable, user_id=1, locked=False)
    finally:
        await unreachable.aclose()
