"""The live hub (``infra/live.py``) on a real Redis: sequences, fan-out, channels, slow and lost.

The hubs here run on the test Redis the app uses (the embedded server's unix
socket, or the MariaDB pass's Redis), except the outage drill, which stops a
``private_redis`` of its own. The streams carry a random suffix, so that
nothing else on the server publishes on them.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from gallery.infra.live import (
    RESYNC,
    LiveHub,
    LiveUnavailable,
    Subscriber,
    channel_of,
    database_of,
    publish,
    sequence_key,
    sequences,
)
from gallery.infra.runtime import Runtime
from tests.private_servers import PrivateRedis

# Bounds on waiting for what Redis delivers: generous, never a measured time.
EVENT_TIMEOUT_SECONDS = 10.0
RECONNECT_TIMEOUT_SECONDS = 30.0


def unique_stream(kind: str = "unit") -> str:
    return f"{kind}:{secrets.token_hex(6)}"


def redis_of(runtime: Runtime) -> aioredis.Redis:
    assert runtime.redis is not None
    return runtime.redis


async def next_text(subscriber: Subscriber) -> str:
    """The subscriber's next text, as a socket's writer would take it."""
    text = await asyncio.wait_for(subscriber.next(), EVENT_TIMEOUT_SECONDS)
    assert text is not None, f"the hub failed the subscriber: {subscriber.failure}"
    return text


async def subscribers_on(redis: aioredis.Redis, channel: str) -> int:
    """How many connections the Redis server has subscribed to ``channel`` (PUBSUB NUMSUB)."""
    return int(dict(await redis.pubsub_numsub(channel))[channel])


async def wait_for_subscribers(redis: aioredis.Redis, channel: str, wanted: int) -> None:
    """An UNSUBSCRIBE is only sent when the hub returns: wait until the server has done it."""
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while (count := await subscribers_on(redis, channel)) != wanted:
        assert time.monotonic() < deadline, f"{channel} has {count} subscribers, not {wanted}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(runtime: Runtime) -> AsyncIterator[LiveHub]:
    """A hub of the test's own on the app's Redis (the URL the runtime gave its hub)."""
    assert runtime.live is not None, "live updates are on by default"
    live_hub = LiveHub(runtime.live.url)
    yield live_hub
    await live_hub.close()


def attached(hub: LiveHub, count: int, max_queued: int = 64) -> list[Subscriber]:
    subscribers = [Subscriber(max_queued=max_queued) for _ in range(count)]
    for subscriber in subscribers:
        hub.attach(subscriber)
    return subscribers


# -- sequences ---------------------------------------------------------------------


async def test_publish_numbers_each_stream_consecutively_and_sequences_reads_them(
    runtime: Runtime,
) -> None:
    redis = redis_of(runtime)
    first, second = unique_stream(), unique_stream()
    assert await sequences(redis, [first, second]) == {first: 0, second: 0}

    assert await publish(redis, [first], '{"type":"a"}') == [1]
    assert await publish(redis, [first, second], '{"type":"b"}') == [2, 1]
    assert await publish(redis, [first], '{"type":"c"}') == [3]

    assert await sequences(redis, [first, second]) == {first: 3, second: 1}
    assert await publish(redis, [], '{"type":"d"}') == []
    assert await sequences(redis, []) == {}
    # A stream nobody publishes to any more is forgotten (and restarts, which pages survive).
    assert await redis.ttl(sequence_key(first)) > 0


# -- fan-out -----------------------------------------------------------------------


async def test_one_hub_delivers_to_every_subscriber_of_a_channel_and_to_no_other(
    runtime: Runtime, hub: LiveHub
) -> None:
    redis = redis_of(runtime)
    shown, elsewhere = unique_stream("photo"), unique_stream("photo")
    first, second, other = attached(hub, 3)
    await hub.subscribe(first, [(shown, shown)])
    await hub.subscribe(second, [(shown, shown)])
    await hub.subscribe(other, [(elsewhere, elsewhere)])

    (seq,) = await publish(redis, [shown], '{"type":"photo.counts","id":12,"like_count":5}')
    expected = {
        "topic": shown,
        "stream": shown,
        "seq": seq,
        "type": "photo.counts",
        "id": 12,
        "like_count": 5,
    }
    assert orjson.loads(await next_text(first)) == expected
    assert orjson.loads(await next_text(second)) == expected

    (later,) = await publish(redis, [elsewhere], '{"type":"photo.deleted","id":13}')
    # The hub reads one connection in order: once this arrived, the first message
    # would have reached ``other`` before it, had it been routed there.
    assert orjson.loads(await next_text(other)) == {
        "topic": elsewhere,
        "stream": elsewhere,
        "seq": later,
        "type": "photo.deleted",
        "id": 13,
    }
    assert not first.queue and not second.queue and not other.queue
    assert hub.delivered == 3


async def test_two_topics_on_one_channel_each_get_their_own_text(
    runtime: Runtime, hub: LiveHub
) -> None:
    # A profile page whose viewer follows its author: "following" and "author:7" both
    # listen to the stream author:7, and each is told under the topic it subscribed.
    redis = redis_of(runtime)
    author = unique_stream("author")
    both, following_only = attached(hub, 2)
    await hub.subscribe(both, [("following", author), (author, author)])
    await hub.subscribe(following_only, [("following", author)])
    assert hub.channel_count == 1

    (seq,) = await publish(redis, [author], '{"type":"photo.new","photo":{"id":41}}')
    texts = [orjson.loads(await next_text(both)) for _ in range(2)]
    as_topic = {
        topic: {
            "topic": topic,
            "stream": author,
            "seq": seq,
            "type": "photo.new",
            "photo": {"id": 41},
        }
        for topic in ("following", author)
    }
    assert sorted(texts, key=lambda text: text["topic"]) == sorted(
        as_topic.values(), key=lambda text: text["topic"]
    )
    assert orjson.loads(await next_text(following_only)) == as_topic["following"]
    assert not both.queue and not following_only.queue


async def test_the_redis_channel_is_dropped_when_its_last_local_subscriber_leaves(
    runtime: Runtime, hub: LiveHub
) -> None:
    redis = redis_of(runtime)
    stream = unique_stream("photo")
    channel = channel_of(stream, hub.database)
    leaving, detaching = attached(hub, 2)
    await hub.subscribe(leaving, [(stream, stream)])
    await hub.subscribe(detaching, [(stream, stream)])
    # One Redis subscription per process, however many of its sockets show the stream.
    assert await subscribers_on(redis, channel) == 1

    await hub.unsubscribe(leaving, [(stream, stream)])
    (seq,) = await publish(redis, [stream], '{"type":"photo.deleted","id":1}')
    # Still subscribed for the socket that stayed; the one that left is told nothing.
    assert orjson.loads(await next_text(detaching))["seq"] == seq
    assert not leaving.queue
    assert await subscribers_on(redis, channel) == 1

    await hub.detach(detaching)
    await wait_for_subscribers(redis, channel, 0)
    assert hub.channel_count == 0
    assert detaching not in hub.subscribers

    # And a socket that comes back later subscribes the channel again.
    returning = attached(hub, 1)[0]
    await hub.subscribe(returning, [(stream, stream)])
    assert await subscribers_on(redis, channel) == 1
    await hub.unsubscribe(returning, [(stream, stream)])
    await wait_for_subscribers(redis, channel, 0)


async def test_a_hub_hears_only_its_own_databases_publications(
    runtime: Runtime, hub: LiveHub
) -> None:
    # Pub/sub ignores SELECT: two sites (or test runs) on one server, each on its
    # own database, would otherwise hear each other's events, numbered by the
    # other's sequences. Each database's events travel on channels of their own.
    redis = redis_of(runtime)
    assert hub.database == database_of(redis)
    stream = unique_stream("photo")
    (subscriber,) = attached(hub, 1)
    await hub.subscribe(subscriber, [(stream, stream)])

    # What a site on the next database publishes for the same stream (a raw
    # PUBLISH: pub/sub has no database, so no other database is written to).
    neighbours = channel_of(stream, (hub.database + 1) % 16)
    await redis.publish(neighbours, '7|{"type":"photo.deleted","id":1}')
    (seq,) = await publish(redis, [stream], '{"type":"photo.deleted","id":2}')
    # The hub reads in order: the neighbour's message, had it come, would be first.
    assert orjson.loads(await next_text(subscriber)) == {
        "topic": stream,
        "stream": stream,
        "seq": seq,
        "type": "photo.deleted",
        "id": 2,
    }
    assert not subscriber.queue


# -- a slow socket ---------------------------------------------------------------------


async def test_a_full_queue_is_replaced_by_resync_and_other_subscribers_get_everything(
    runtime: Runtime, hub: LiveHub
) -> None:
    redis = redis_of(runtime)
    stream = unique_stream("photo")
    max_queued = 4
    (slow,) = attached(hub, 1, max_queued=max_queued)
    (reading,) = attached(hub, 1, max_queued=64)
    await hub.subscribe(slow, [(stream, stream)])
    await hub.subscribe(reading, [(stream, stream)])

    published = 3 * max_queued
    for number in range(published):
        await publish(redis, [stream], f'{{"type":"n","n":{number}}}')
    # The reading subscriber gets every message, in order, numbered without a gap.
    received = [orjson.loads(await next_text(reading)) for _ in range(published)]
    assert [message["seq"] for message in received] == list(range(1, published + 1))
    assert [message["n"] for message in received] == list(range(published))

    # Both were served by the same dispatch: the slow one's queue is final by now.
    queued = list(slow.queue)
    assert len(queued) <= max_queued
    assert slow.overflows >= 1
    assert queued[0] == RESYNC
    # After the resync, what it kept is the newest messages, without a gap.
    kept = [orjson.loads(text)["seq"] for text in queued[1:]]
    assert kept == list(range(published - len(kept) + 1, published + 1))
    assert await next_text(slow) == RESYNC


# -- Redis going away ------------------------------------------------------------------


async def subscribe_once_redis_is_back(
    hub: LiveHub, subscriber: Subscriber, routes: list[tuple[str, str]]
) -> None:
    """Subscribe, retrying while the hub still refuses (it waits a moment after an outage)."""
    deadline = time.monotonic() + RECONNECT_TIMEOUT_SECONDS
    while True:
        try:
            await asyncio.wait_for(hub.subscribe(subscriber, routes), EVENT_TIMEOUT_SECONDS)
            return
        except LiveUnavailable:
            assert time.monotonic() < deadline, (
                "the hub never subscribed again after Redis came back"
            )
            await asyncio.sleep(0.2)


async def test_redis_going_away_fails_every_subscriber_and_a_later_subscribe_works(
    private_redis: PrivateRedis,
) -> None:
    hub = LiveHub(private_redis.url, connect_timeout=1.0)
    feed, photo = unique_stream("feed"), unique_stream("photo")
    try:
        on_feed, on_photo = attached(hub, 2)
        await hub.subscribe(on_feed, [(feed, feed)])
        await hub.subscribe(on_photo, [(photo, photo)])

        await private_redis.stop()
        for subscriber in (on_feed, on_photo):
            assert await asyncio.wait_for(subscriber.next(), EVENT_TIMEOUT_SECONDS) is None
            assert subscriber.failure == "Redis unavailable"
        assert hub.channel_count == 0
        # While it is down, a page reconnecting is refused at once (its socket closes 1013).
        (meanwhile,) = attached(hub, 1)
        with pytest.raises(LiveUnavailable):
            await asyncio.wait_for(hub.subscribe(meanwhile, [(feed, feed)]), EVENT_TIMEOUT_SECONDS)
        await hub.detach(meanwhile)
        for subscriber in (on_feed, on_photo):
            await hub.detach(subscriber)

        await private_redis.start()
        (returning,) = attached(hub, 1)
        await subscribe_once_redis_is_back(hub, returning, [(feed, feed)])
        publisher = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
        try:
            (seq,) = await publish(publisher, [feed], '{"type":"photo.new","photo":{"id":1}}')
        finally:
            await publisher.aclose()
        assert orjson.loads(await next_text(returning)) == {
            "topic": feed,
            "stream": feed,
            "seq": seq,
            "type": "photo.new",
            "photo": {"id": 1},
        }
        assert returning.failure is None
    finally:
        await hub.close()


async def test_a_channel_left_while_redis_was_confirming_it_is_dropped_on_confirmation(
    runtime: Runtime, hub: LiveHub
) -> None:
    # A page that closes right after subscribing: its socket detaches before Redis
    # confirmed the SUBSCRIBE. The confirmation must not leave the process
    # subscribed to a channel no socket wants.
    redis = redis_of(runtime)
    stream = unique_stream("photo")
    channel = channel_of(stream, hub.database)
    warm_up = attached(hub, 1)[0]
    await hub.subscribe(warm_up, [(unique_stream("photo"), unique_stream("photo"))])

    leaving = attached(hub, 1)[0]
    subscribing = asyncio.create_task(hub.subscribe(leaving, [(stream, stream)]))
    await asyncio.sleep(0)  # the SUBSCRIBE is on its way, not confirmed
    await hub.detach(leaving)
    await subscribing
    await wait_for_subscribers(redis, channel, 0)
    assert hub.channel_count == 1  # the warm-up socket's channel only
