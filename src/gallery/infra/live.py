"""Live events: published after a commit through Redis, fanned out in memory to open sockets.

Every process holds **one** Redis pub/sub connection (``LiveHub``), whatever
the number of sockets it serves. A socket registers the streams its page
shows; the hub subscribes Redis to a channel when the first local socket wants
it and drops it after the last one left, so a busy photo wakes only the
processes (and, in them, the sockets) that show it.

A stream is what a page can follow: ``feed``, ``tag:<name>``,
``author:<id>``, ``photo:<id>`` and the private ``me:<user id>``. Each has a
sequence number in Redis, moved by the same script that publishes, so the
numbers a socket sees on one stream are consecutive unless it missed
something; a page that sees a gap (or reconnects) catches up through the JSON
API. A message travels as ``<seq>|<JSON object>`` and is turned into the
socket's text once per (channel, topic), not once per socket.

A socket's queue is bounded: a client that does not read fast enough has its
queue replaced by one ``resync`` message, so it never holds up the hub or any
other socket. When Redis goes away, every socket is told to close with a
retry hint (``LiveUnavailable``), and the next subscription reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "live:"
SEQUENCE_PREFIX = "live:seq:"
# A stream nobody published to for a week starts again from 1: a page that
# kept an older number sees a gap and catches up, which is always safe.
SEQUENCE_TTL_SECONDS = 7 * 24 * 3600
# How often the hub pings Redis when nothing arrives, and how long a silence
# means the server is gone (a stopped server does not close the connection).
PING_INTERVAL_SECONDS = 5.0
SILENCE_LIMIT_SECONDS = 12.0
SUBSCRIBE_TIMEOUT_SECONDS = 3.0
# After Redis was found gone, new subscriptions fail at once for this long
# rather than each trying to connect: pages reconnecting together would
# otherwise queue behind one another's connect timeouts.
RETRY_CONNECT_AFTER_SECONDS = 2.0
RESYNC = '{"type":"resync"}'

# INCR the stream's sequence and PUBLISH under it, atomically, so the order of
# the numbers is the order in which subscribers receive the messages.
# KEYS: the sequence keys; ARGV: ttl, the JSON body, then one channel per key.
PUBLISH_SCRIPT = """
local seqs = {}
for i, key in ipairs(KEYS) do
  local seq = redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
  redis.call('PUBLISH', ARGV[i + 2], seq .. '|' .. ARGV[2])
  seqs[i] = seq
end
return seqs
"""


def channel_of(stream: str, database: int = 0) -> str:
    """The Redis channel of ``stream``. Pub/sub ignores ``SELECT``: channels carry the
    database number, so two sites (or test runs) sharing one server on different
    databases never hear each other's events (their sequences are per database)."""
    return f"{CHANNEL_PREFIX}{database}:{stream}"


def database_of(redis: aioredis.Redis) -> int:
    return int(redis.connection_pool.connection_kwargs.get("db") or 0)


def sequence_key(stream: str) -> str:
    return SEQUENCE_PREFIX + stream


async def publish(redis: aioredis.Redis, streams: Sequence[str], body: str) -> list[int]:
    """Publish the JSON object ``body`` on every stream; returns their new sequence numbers."""
    if not streams:
        return []
    keys = [sequence_key(stream) for stream in streams]
    database = database_of(redis)
    channels = [channel_of(stream, database) for stream in streams]
    result = await redis.eval(
        PUBLISH_SCRIPT, len(keys), *keys, SEQUENCE_TTL_SECONDS, body, *channels
    )
    return [int(seq) for seq in result]


async def sequences(redis: aioredis.Redis, streams: Sequence[str]) -> dict[str, int]:
    """The current sequence number of each stream (0 when nothing was published yet)."""
    if not streams:
        return {}
    values = await redis.mget([sequence_key(stream) for stream in streams])
    return {stream: int(value or 0) for stream, value in zip(streams, values, strict=True)}


class LiveUnavailable(Exception):
    """Redis cannot be reached: the hub cannot deliver (sockets close with a retry hint)."""


@dataclass(eq=False, slots=True)
class Subscriber:
    """One socket's side of the hub: a bounded queue of texts to send.

    Kept small, as a worker holds thousands: a plain list (the queue is
    nearly always empty or one text long) and a future only while the socket
    waits, rather than a deque and an ``asyncio.Event``, which allocate a
    64-slot block each (about 600 bytes) whether anything waits or not.
    """

    max_queued: int
    queue: list[str] = field(default_factory=list)
    failure: str | None = None  # why the hub cannot serve it any more
    overflows: int = 0
    # Nothing was delivered since the keep-alive last looked (web/live.py).
    quiet: bool = False
    _waiter: asyncio.Future[None] | None = None

    def deliver(self, text: str) -> None:
        """Queue ``text``; on overflow, drop what waits and send ``resync`` instead."""
        if len(self.queue) >= self.max_queued:
            self.queue.clear()
            self.queue.append(RESYNC)
            self.overflows += 1
        self.queue.append(text)
        self.quiet = False
        self._wake()

    def fail(self, reason: str) -> None:
        self.failure = reason
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> str | None:
        """The next text to send, waiting for one; ``None`` once the hub failed it."""
        while not self.queue:
            if self.failure is not None:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.queue.pop(0)


def render(topic: str, stream: str, seq: int, body: str) -> str:
    """The socket's text: the topic, stream and sequence put in front of the body's fields."""
    return f'{{"topic":"{topic}","stream":"{stream}","seq":{seq},{body[1:]}'


class LiveHub:
    """This process's single Redis subscription, and the sockets listening through it."""

    def __init__(self, url: str, *, connect_timeout: float = 1.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.database = int(parse_url(url).get("db") or 0)
        # channel -> {(subscriber, topic, stream)}: a socket may follow one
        # channel under two topics (a profile it shows, and its following feed).
        self._routes: dict[str, set[tuple[Subscriber, str, str]]] = {}
        self._confirmed: set[str] = set()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._down_until = 0.0
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0

    # -- sockets --------------------------------------------------------------

    def attach(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    async def subscribe(self, subscriber: Subscriber, routes: Iterable[tuple[str, str]]) -> None:
        """Route each ``(topic, stream)`` to ``subscriber``; returns once Redis confirmed them.

        ``LiveUnavailable`` if Redis cannot be reached.
        """
        wanted = list(routes)
        await self._ensure_connected()
        new_channels: list[str] = []
        waits: list[asyncio.Future[None]] = []
        for topic, stream in wanted:
            channel = channel_of(stream, self.database)
            routes_of_channel = self._routes.setdefault(channel, set())
            routes_of_channel.add((subscriber, topic, stream))
            if channel in self._confirmed:
                continue
            pending = self._pending.get(channel)
            if pending is None:
                pending = asyncio.get_running_loop().create_future()
                self._pending[channel] = pending
                new_channels.append(channel)
            waits.append(pending)
        if new_channels:
            assert self._pubsub is not None
            try:
                await self._pubsub.subscribe(*new_channels)
            except (RedisError, OSError) as error:
                await self._lost(error)
                raise LiveUnavailable(str(error)) from error
        if waits:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(asyncio.shield(w) for w in waits)), SUBSCRIBE_TIMEOUT_SECONDS
                )
            except (TimeoutError, LiveUnavailable) as error:
                raise LiveUnavailable("Redis did not confirm the subscription") from error

    async def unsubscribe(self, subscriber: Subscriber, routes: Iterable[tuple[str, str]]) -> None:
        idle: list[str] = []
        for topic, stream in routes:
            channel = channel_of(stream, self.database)
            routes_of_channel = self._routes.get(channel)
            if routes_of_channel is None:
                continue
            routes_of_channel.discard((subscriber, topic, stream))
            if not routes_of_channel:
                del self._routes[channel]
                idle.append(channel)
        await self._drop_channels(idle)

    async def detach(self, subscriber: Subscriber) -> None:
        """Forget a socket that closed, and the channels only it wanted."""
        self.subscribers.discard(subscriber)
        idle: list[str] = []
        for channel, routes_of_channel in list(self._routes.items()):
            stale = {route for route in routes_of_channel if route[0] is subscriber}
            if stale:
                routes_of_channel -= stale
                if not routes_of_channel:
                    del self._routes[channel]
                    idle.append(channel)
        await self._drop_channels(idle)

    async def _drop_channels(self, channels: list[str]) -> None:
        channels = [c for c in channels if c not in self._pending]
        for channel in channels:
            self._confirmed.discard(channel)
        if channels and self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(*channels)
            except (RedisError, OSError) as error:
                await self._lost(error)

    def fail_all(self, reason: str) -> None:
        for subscriber in list(self.subscribers):
            subscriber.fail(reason)

    # -- Redis ----------------------------------------------------------------

    async def _ensure_connected(self) -> None:
        if self._reader is not None and not self._reader.done():
            return
        if time.monotonic() < self._down_until:
            raise LiveUnavailable("Redis was unreachable a moment ago")
        async with self._connecting:
            if self._reader is not None and not self._reader.done():
                return
            if time.monotonic() < self._down_until:
                raise LiveUnavailable("Redis was unreachable a moment ago")
            client = aioredis.Redis.from_url(
                self.url,
                decode_responses=True,
                socket_connect_timeout=self.connect_timeout,
                # Idle is normal on a subscription: silence is judged by pings instead.
                socket_timeout=None,
            )
            pubsub = client.pubsub()
            try:
                # A subscription opens the connection; ping proves the server answers.
                await asyncio.wait_for(pubsub.ping("live-hub"), self.connect_timeout + 1)
            except (RedisError, OSError) as error:
                self._down_until = time.monotonic() + RETRY_CONNECT_AFTER_SECONDS
                await _close_quietly(pubsub, client)
                raise LiveUnavailable(str(error)) from error
            self._client, self._pubsub = client, pubsub
            self._confirmed.clear()
            self._reader = asyncio.create_task(self._read(pubsub), name="live-hub-reader")

    async def _read(self, pubsub: aioredis.client.PubSub) -> None:
        last_heard = time.monotonic()
        pinged = False
        try:
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=False, timeout=PING_INTERVAL_SECONDS
                )
                now = time.monotonic()
                if message is None:
                    if now - last_heard > SILENCE_LIMIT_SECONDS:
                        raise LiveUnavailable("Redis stopped answering the live hub's pings")
                    if not pinged or now - last_heard > PING_INTERVAL_SECONDS:
                        await pubsub.ping("live-hub")
                        pinged = True
                    continue
                last_heard = now
                kind = message["type"]
                if kind == "message":
                    self._dispatch(message["channel"], message["data"])
                elif kind == "subscribe":
                    await self._on_confirmed(message["channel"])
                elif kind == "pong":
                    pinged = False
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError, LiveUnavailable) as error:
            log.warning("The live hub lost Redis (%s); its sockets are closed", error)
            await self._lost(error)
        except Exception:  # a bug here must not leave every socket silently deaf
            log.exception("The live hub's reader failed; its sockets are closed")
            await self._lost(RuntimeError("live hub reader failed"))

    async def _on_confirmed(self, channel: str) -> None:
        self._confirmed.add(channel)
        pending = self._pending.pop(channel, None)
        if pending is not None and not pending.done():
            pending.set_result(None)
        if channel not in self._routes:
            # Everyone who asked for it left while Redis was confirming
            # (``_drop_channels`` leaves pending channels alone): drop it now.
            await self._drop_channels([channel])

    def _dispatch(self, channel: str, data: str) -> None:
        routes_of_channel = self._routes.get(channel)
        if not routes_of_channel:
            return
        seq_text, _, body = data.partition("|")
        if not body.startswith("{") or not seq_text.isdigit():
            log.warning("Ignored a malformed live message on %s", channel)
            return
        seq = int(seq_text)
        texts: dict[tuple[str, str], str] = {}
        for subscriber, topic, stream in list(routes_of_channel):
            text = texts.get((topic, stream))
            if text is None:
                text = texts[(topic, stream)] = render(topic, stream, seq, body)
            subscriber.deliver(text)
            self.delivered += 1

    async def _lost(self, error: BaseException) -> None:
        """Redis went away: fail every socket and forget the subscription state."""
        pubsub, client, reader = self._pubsub, self._client, self._reader
        self._down_until = time.monotonic() + RETRY_CONNECT_AFTER_SECONDS
        self._pubsub = self._client = None
        self._reader = None
        self._routes.clear()
        self._confirmed.clear()
        for pending in self._pending.values():
            if not pending.done():
                pending.set_exception(LiveUnavailable(str(error)))
                pending.exception()  # retrieved: nobody may be waiting any more
        self._pending.clear()
        self.fail_all("Redis unavailable")
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if pubsub is not None and client is not None:
            await _close_quietly(pubsub, client)

    async def close(self, reason: str = "going away") -> None:
        """Fail every socket with ``reason`` and close the Redis subscription."""
        self.fail_all(reason)
        reader, pubsub, client = self._reader, self._pubsub, self._client
        self._reader = None
        self._pubsub = self._client = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if pubsub is not None and client is not None:
            await _close_quietly(pubsub, client)

    @property
    def channel_count(self) -> int:
        return len(self._routes)


async def _close_quietly(pubsub: aioredis.client.PubSub, client: aioredis.Redis) -> None:
    with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(pubsub.aclose(), 1.0)
    with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(client.aclose(), 1.0)
