"""``/api/v1/live``: one WebSocket per open page, told what changes on it.

The protocol (README, "Live updates"): the server says ``hello``; the page
sends ``subscribe``/``unsubscribe`` with the topics it shows (``feed``,
``following``, ``tag:<name>``, ``author:<id>``, ``photo:<id>``) and receives
small events, each with its stream's sequence number; the viewer's own stream
(``me``: the bell, a lock) comes with a sign-in. Events come from
``services.live`` through this process's one Redis subscription
(``infra.live.LiveHub``).

Who may connect is decided before the upgrade, as for a page: the handshake's
``Origin`` must be the site's own (a page elsewhere cannot ride on the
visitor's cookies: cross-site WebSocket hijacking), and the viewer comes from
the same sign-in cookie. A sign-in that ends (signing out, revoked, expired)
closes its sockets within ``GALLERY_LIVE_SESSION_CHECK_SECONDS``: one Redis
round trip per process checks all of them. Anything unexpected on the socket
closes it with a code that says why (see ``Close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    Scope,
)
from quart import Blueprint, Quart, Response, current_app, websocket
from redis.exceptions import RedisError
from sqlalchemy import select

from gallery import draining
from gallery.infra import live as live_infra
from gallery.infra.live import LiveHub, LiveUnavailable, Subscriber
from gallery.infra.runtime import Runtime
from gallery.infra.sessions import SignInStore
from gallery.models.image import Image
from gallery.models.social import Follow
from gallery.models.user import Permission, User
from gallery.services import live, notifications, visibility
from gallery.settings import Settings
from gallery.web.errors import OUTAGE_RETRY_AFTER_SECONDS
from gallery.web.resources import RUNTIME_EXTENSION, resources
from gallery.web.sessions import request_session_user

log = logging.getLogger(__name__)

bp = Blueprint("live", __name__)

EXTENSION = "gallery.live"
# The ASGI scope's key under which the endpoint hands an accepted socket to LiveHandoff.
HANDOFF = "gallery.live.handoff"
# The subscriber's failure when its page's side ended (closed, or refused).
READER_ENDED = "reader ended"
MAX_MESSAGE_BYTES = 4096
MAX_TOPICS = 300
# A followed list longer than this is followed through its first accounts only.
MAX_FOLLOWED_STREAMS = 2000
# Messages a page may send: a burst (a page subscribing its cards), then a trickle.
MESSAGE_BURST = 30
MESSAGES_PER_SECOND = 10.0
# The same hint as every other outage answer of the site.
RETRY_AFTER_SECONDS = OUTAGE_RETRY_AFTER_SECONDS
# An opaque name of this process, so tests (and operators) can tell workers apart.
WORKER_NAME = f"{os.getpid():x}-{secrets.token_hex(3)}"

# Seen on the viewer's own stream: their following feed's streams change.
FOLLOWING_CHANGED = '"type":"following.changed"'
# Seen on the viewer's own stream: they muted or unmuted someone.
RELATIONS_CHANGED = '"type":"relations.changed"'
# Marks a new photo only its author's followers see (services/live.photo_posted).
NOT_PUBLIC = '"public":false'
PHOTO_NEW = '"type":"photo.new"'
COMMENT_NEW = '"type":"comment.new"'
# Sent to a socket that has had nothing to send for a while (LiveSockets.keep_alive).
KEEPALIVE = '{"type":"keepalive"}'
# The keep-alive looks at the sockets a slice at a time, one slice per tick, so
# that thousands of idle sockets get a steady trickle rather than all at once.
KEEPALIVE_SLICES = 25
# Shared by every socket whose viewer hides nobody (most of them): an empty
# frozenset is a new object each time (216 bytes), and a worker holds thousands.
NOBODY: frozenset[int] = frozenset()
TAG_TOPIC = re.compile(r"^tag:[^\s:/#]{1,100}$")
ID_TOPIC = re.compile(r"^(author|photo):([1-9][0-9]{0,17})$")


class Close(IntEnum):
    GOING_AWAY = 1001  # shutting down: reconnect (to another worker)
    UNSUPPORTED_DATA = 1003  # a binary frame
    POLICY_VIOLATION = 1008  # bad JSON, unknown message or topic, too many topics
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # Redis is unavailable
    SIGNED_OUT = 4401  # the sign-in this socket was opened with ended


class Refused(Exception):
    """The page sent something this endpoint does not accept: close with ``code``."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Why the hub stopped serving a socket -> how the socket is closed.
FAILURES = {
    "going away": (Close.GOING_AWAY, "The server is restarting: reconnect."),
    "signed out": (Close.SIGNED_OUT, "Your sign-in ended."),
    "Redis unavailable": (
        Close.TRY_AGAIN_LATER,
        f"Live updates are unavailable: retry in {RETRY_AFTER_SECONDS} s.",
    ),
}


@dataclass
class LiveSockets:
    """This app's open sockets, the sign-ins behind them, and how they are checked."""

    check_seconds: float
    keepalive_seconds: float
    signed_in: dict[Subscriber, str] = field(default_factory=dict)  # -> sign-in token
    per_address: Counter[str] = field(default_factory=Counter)
    watcher: asyncio.Task[None] | None = None
    keeper: asyncio.Task[None] | None = None
    forget_drain: Any = None
    sign_ins: SignInStore | None = None  # known once a signed-in socket opened

    def watch(self, subscriber: Subscriber, token: str, sign_ins: SignInStore) -> None:
        self.signed_in[subscriber] = token
        self.sign_ins = sign_ins
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.create_task(self._check_sign_ins(), name="live-sign-ins")

    def keep_alive(self, hub: LiveHub) -> None:
        if self.keeper is None or self.keeper.done():
            self.keeper = asyncio.create_task(self._keep_alive(hub), name="live-keepalive")

    async def _keep_alive(self, hub: LiveHub) -> None:
        """Send ``KEEPALIVE`` to every socket that was sent nothing for
        ``keepalive_seconds``, so that a proxy does not close it for silence and a
        dead peer is found by the write.

        Each socket's turn comes every half interval: a turn finding it quiet since
        the one before sends the keep-alive, any other marks it quiet; so no socket
        is silent longer than the interval, and one that hears events gets none.
        One task for all the sockets of the process: Hypercorn's own pings
        (``websocket_ping_interval``) are a task, a timer and their frames per
        socket, about 2.3 KB of each idle socket's memory (README, "Benchmark").
        """
        tick = 0
        while hub.subscribers:
            await asyncio.sleep(self.keepalive_seconds / 2 / KEEPALIVE_SLICES)
            tick = (tick + 1) % KEEPALIVE_SLICES
            for subscriber in hub.subscribers:
                if hash(subscriber) % KEEPALIVE_SLICES != tick or subscriber.failure:
                    continue
                if subscriber.quiet:
                    subscriber.deliver(KEEPALIVE)  # which makes it not quiet
                else:
                    subscriber.quiet = True

    async def _check_sign_ins(self) -> None:
        """Close the sockets whose sign-in ended: one pipelined Redis round trip per round."""
        while self.signed_in:
            await asyncio.sleep(self.check_seconds)
            watched = list(self.signed_in.items())
            try:
                assert self.sign_ins is not None
                found = await self.sign_ins.which_exist([token for _, token in watched])
            except (RedisError, OSError):
                continue  # an outage closes the sockets through the hub already
            for (subscriber, _), exists in zip(watched, found, strict=True):
                if not exists:
                    subscriber.fail("signed out")


def init_live(app: Quart, settings: Settings) -> None:
    """Register the endpoint and close every socket when draining or stopping."""
    sockets = LiveSockets(
        check_seconds=settings.live_session_check_seconds,
        keepalive_seconds=settings.live_keepalive_seconds,
    )
    app.extensions[EXTENSION] = sockets
    app.register_blueprint(bp)
    app.asgi_app = LiveHandoff(app.asgi_app)  # type: ignore[method-assign]

    @app.before_serving
    async def listen_for_draining() -> None:
        sockets.forget_drain = draining.on_drain(lambda: _going_away(app))

    @app.after_serving
    async def close_sockets() -> None:
        if sockets.forget_drain is not None:
            sockets.forget_drain()
        _going_away(app)
        for task in (sockets.watcher, sockets.keeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _going_away(app: Quart) -> None:
    hub = app.extensions[RUNTIME_EXTENSION].live
    if hub is not None:
        hub.fail_all("going away")


def origin_allowed(origin: str | None, host: str, scheme: str, public_url: str) -> bool:
    """No ``Origin`` (a script, not a browser), the site's public origin, or this host's own."""
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    public = urlsplit(public_url)
    allowed = {f"{public.scheme}://{public.netloc}".lower()}
    page_scheme = "https" if scheme in ("wss", "https") else "http"
    allowed.add(f"{page_scheme}://{host}".lower())
    return origin in allowed


@dataclass
class Viewer:
    user_id: int
    username: str
    token: str
    # A moderator sees every post, followers-only ones too (services/visibility.py).
    moderator: bool = False


async def viewer_of_handshake() -> Viewer | None:
    """The signed-in user behind the handshake's cookie, or ``None`` (anonymous)."""
    auth = request_session_user()
    if auth.auth_id is None:
        return None
    use = resources()
    sign_in = await use.sign_ins.get(auth.auth_id)
    if sign_in is None:
        return None
    async with use.runtime.db.sessionmaker() as session:
        row = (
            await session.execute(
                select(User.username, User.is_active, User.permissions, User.locked_at).where(
                    User.id == sign_in.user_id
                )
            )
        ).first()
    if row is None or not row.is_active:
        return None
    return Viewer(
        user_id=sign_in.user_id,
        username=row.username,
        token=auth.auth_id,
        moderator=row.locked_at is None and bool(row.permissions & Permission.MODERATE),
    )


def refusal(status: int, code: str, message: str) -> Response:
    """An HTTP answer to the handshake (the app's error pages need a request, not a socket)."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    response = Response(body, status=status, content_type="application/json")
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@bp.websocket("/api/v1/live")
async def socket() -> Response | None:
    """Decide on the handshake; an accepted socket is handed to ``LiveHandoff``."""
    use = resources()
    settings = use.settings
    hub = use.runtime.live
    if not settings.live_enabled or hub is None:
        return refusal(404, "NOT_FOUND", "Live updates are turned off here: poll instead.")
    if not origin_allowed(
        websocket.headers.get("Origin"), websocket.host, websocket.scheme, settings.public_url
    ):
        return refusal(403, "FORBIDDEN", "Live updates are for this site's own pages.")
    if draining.is_draining() or len(hub.subscribers) >= settings.live_max_sockets:
        return refusal(503, "UNAVAILABLE", "Too many live connections here: retry shortly.")
    sockets: LiveSockets = current_app.extensions[EXTENSION]
    address = websocket.remote_addr or "unknown"
    if sockets.per_address[address] >= settings.live_max_sockets_per_address:
        return refusal(
            429, "TOO_MANY_REQUESTS", "Too many live connections from your address: close some."
        )
    try:
        viewer = await viewer_of_handshake()
    except (RedisError, OSError):
        return refusal(503, "UNAVAILABLE", "Live updates are unavailable: retry shortly.")
    handoff: Handoff | None = websocket.scope.get(HANDOFF)  # type: ignore[assignment]
    if handoff is None:
        raise RuntimeError("the live endpoint is served through LiveHandoff (init_live)")
    sockets.per_address[address] += 1
    handoff.connection = LiveConnection(
        use.runtime,
        sockets,
        hub,
        viewer,
        Subscriber(max_queued=settings.live_queue_size),
        address,
    )
    # Not accepted here: LiveHandoff accepts once Quart has let go of the socket.
    return None


@dataclass
class Handoff:
    """Where the endpoint leaves an accepted socket for ``LiveHandoff`` (in the ASGI scope)."""

    connection: LiveConnection | None = None


class LiveHandoff:
    """ASGI layer that serves accepted live sockets outside Quart.

    Quart serves a websocket with an ``asyncio.Queue``, two tasks, a
    ``Websocket`` and its contexts for the socket's whole life: about 13 KB a
    socket (measured with tracemalloc on one worker holding 2,000), a third of
    what an idle socket costs. The handshake still goes through Quart, the
    endpoint above, with everything a request gets (sign-in, hooks, errors);
    when it accepts it leaves a ``LiveConnection`` in the scope and returns
    without accepting, Quart finishes and drops its objects, and this layer
    accepts and serves the socket on the raw ASGI ``receive``/``send``.
    """

    def __init__(self, app: ASGIFramework) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        handoff = Handoff()
        scope[HANDOFF] = handoff  # type: ignore[literal-required]
        gone = False

        async def receive_during_handshake() -> ASGIReceiveEvent:
            # A page that leaves while Quart finishes the handshake: Quart reads the
            # one disconnect event there is, and the socket must not be served after.
            nonlocal gone
            event = await receive()
            gone = gone or event["type"] == "websocket.disconnect"
            return event

        try:
            await self.app(scope, receive_during_handshake, send)
        except BaseException:
            if handoff.connection is not None:
                handoff.connection.release()
            raise
        del receive_during_handshake  # not kept for the socket's whole life
        if handoff.connection is not None:
            if gone:
                handoff.connection.release()
            else:
                await handoff.connection.run(receive, send)


class LiveConnection:
    """One open socket: reads the page's messages, writes what the hub queues for it."""

    # A worker holds thousands of these: no per-instance dict.
    __slots__ = (
        "address", "allowance", "blocked", "hidden", "hub", "insiders", "last_message",
        "runtime", "sockets", "subscriber", "topics", "viewer",
    )  # fmt: skip

    def __init__(
        self,
        runtime: Runtime,
        sockets: LiveSockets,
        hub: LiveHub,
        viewer: Viewer | None,
        subscriber: Subscriber,
        address: str,
    ) -> None:
        self.runtime = runtime
        self.sockets = sockets
        self.hub = hub
        self.viewer = viewer
        self.subscriber = subscriber
        self.address = address
        self.topics: dict[str, list[str]] = {}  # topic -> its streams
        # Authors whose new photos this viewer is spared, and those behind a block
        # with the viewer, whose comments and posts it must not hear of at all
        # (services/visibility.py).
        self.hidden: frozenset[int] = NOBODY
        self.blocked: frozenset[int] = NOBODY
        # Authors whose posts for followers only this viewer sees: itself and
        # whom it follows (a moderator sees all of them). Read when first needed
        # (most sockets never meet such a post), forgotten when follows change.
        self.insiders: frozenset[int] | None = None
        self.allowance = float(MESSAGE_BURST)
        self.last_message = time.monotonic()

    def release(self) -> None:
        """Give back the address's slot (once)."""
        per_address = self.sockets.per_address
        per_address[self.address] -= 1
        if per_address[self.address] <= 0:
            del per_address[self.address]

    async def run(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        # One coroutine from accept to close, not two: its frame lives as long as the socket.
        hub, subscriber = self.hub, self.subscriber
        hub.attach(subscriber)
        self.sockets.keep_alive(hub)
        close: tuple[int, str] | None = (Close.GOING_AWAY, "")
        try:
            await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
            if draining.is_draining():
                subscriber.fail("going away")
            hello: dict[str, Any] = {"type": "hello", "viewer": None, "worker": WORKER_NAME}
            if self.viewer is not None:
                assert self.runtime.sign_ins is not None
                self.sockets.watch(subscriber, self.viewer.token, self.runtime.sign_ins)
                await hub.subscribe(subscriber, [("me", live.private_stream(self.viewer.user_id))])
                self.hidden, self.blocked = await self._hidden()
                hello["viewer"] = {"id": self.viewer.user_id, "username": self.viewer.username}
                hello["unread"] = await self._unread()
            await _send_text(send, orjson.dumps(hello).decode())
            close = await self._exchange(receive, send)
        except (LiveUnavailable, RedisError, OSError):
            close = FAILURES["Redis unavailable"]
        finally:
            self.sockets.signed_in.pop(subscriber, None)
            self.release()
            await hub.detach(subscriber)
        if close is not None:
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": close[0], "reason": close[1]})

    def _redis(self) -> aioredis.Redis:
        redis = self.runtime.redis
        assert redis is not None, "Redis is connected when the app starts serving"
        return redis

    async def _unread(self) -> int:
        assert self.viewer is not None
        async with self.runtime.db.sessionmaker() as session:
            return await notifications.unread_count(session, self._redis(), self.viewer.user_id)

    async def _exchange(
        self, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> tuple[int, str] | None:
        """Read (in a task) and write (here) until one side ends; returns how to close
        (``None``: the page already went).

        Two tasks a socket, not three: the writer is the connection's own task.
        """
        reader = asyncio.create_task(self._read(receive))
        # The reader ending (the page went, or sent what we refuse) stops the writer.
        reader.add_done_callback(self._reader_ended)
        try:
            written = await self._write(send)
        except Exception as failure:
            written = _close_for(failure)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if reader.cancelled():
            return written
        error = reader.exception()
        if error is None:
            return None  # the page closed the socket
        return _close_for(error)

    def _reader_ended(self, _: asyncio.Task[None]) -> None:
        self.subscriber.fail(READER_ENDED)

    async def _write(self, send: ASGISendCallable) -> tuple[int, str]:
        while True:
            text = await self.subscriber.next()
            if text is None:
                failure = self.subscriber.failure or "going away"
                return FAILURES.get(failure, (Close.INTERNAL_ERROR, failure))
            if RELATIONS_CHANGED in text or FOLLOWING_CHANGED in text:
                if RELATIONS_CHANGED in text:
                    self.hidden, self.blocked = await self._hidden()
                self.insiders = None
                await self._drop_unseen_topics()
                if "following" in self.topics:
                    await self._refollow()
            elif PHOTO_NEW in text and NOT_PUBLIC in text:
                text = await self._for_followers(text)
            elif self.hidden and PHOTO_NEW in text:
                text = self._spared(text)
            elif self.blocked and COMMENT_NEW in text:
                text = self._without_blocked_comment(text)
            await _send_text(send, text)

    def _spared(self, text: str) -> str:
        """A new photo by an account the viewer muted becomes a bare ``skip`` (its
        sequence number kept, so the page sees no gap), unless the page is that
        account's profile."""
        message = orjson.loads(text)
        author_id = message.get("photo", {}).get("author", {}).get("id")
        if author_id not in self.hidden or message.get("topic") == live.author_stream(author_id):
            return text
        return live_infra.render(
            message["topic"], message["stream"], message["seq"], '{"type":"skip"}'
        )

    async def _for_followers(self, text: str) -> str:
        """A new photo only its author's followers see becomes a bare ``skip`` for
        anyone else (and for a muter, as any of that author's photos)."""
        message = orjson.loads(text)
        author_id = message.get("photo", {}).get("author", {}).get("id")
        if await self._sees_all_of(author_id):
            return self._spared(text) if self.hidden else text
        return live_infra.render(
            message["topic"], message["stream"], message["seq"], '{"type":"skip"}'
        )

    async def _sees_all_of(self, author_id: int | None) -> bool:
        if self.viewer is None or author_id in self.blocked:
            return False
        if self.viewer.moderator:
            return True
        if self.insiders is None:
            self.insiders = await self._insiders()
        return author_id in self.insiders

    def _without_blocked_comment(self, text: str) -> str:
        """A comment by someone behind a block with the viewer becomes a bare ``skip``."""
        message = orjson.loads(text)
        if message.get("comment", {}).get("author", {}).get("id") not in self.blocked:
            return text
        return live_infra.render(
            message["topic"], message["stream"], message["seq"], '{"type":"skip"}'
        )

    async def _hidden(self) -> tuple[frozenset[int], frozenset[int]]:
        """Whom the viewer is spared (mutes and blocks), and who is behind a block."""
        assert self.viewer is not None
        viewer_id = self.viewer.user_id
        async with self.runtime.db.sessionmaker() as session:
            relations = await visibility.relations_of(session, viewer_id)
        return relations.hidden, relations.blocked

    async def _insiders(self) -> frozenset[int]:
        """The viewer and whom it follows: whose followers-only posts it sees."""
        assert self.viewer is not None
        viewer_id = self.viewer.user_id
        async with self.runtime.db.sessionmaker() as session:
            followed = await session.scalars(
                select(Follow.followed_id).where(Follow.follower_id == viewer_id)
            )
            return frozenset([viewer_id, *followed])

    async def _unseen(self, topics: list[str]) -> set[str]:
        """Which of the ``author:``/``photo:`` topics the viewer may not follow: an
        account behind a block with it, and a post it may not see (behind a block,
        or for followers only and the viewer none of them): to the viewer they do
        not exist."""
        refused: set[str] = set()
        photos: dict[int, str] = {}
        for topic in topics:
            match = ID_TOPIC.match(topic)
            if match is None:
                continue
            if match.group(1) == "author" and int(match.group(2)) in self.blocked:
                refused.add(topic)
            elif match.group(1) == "photo":
                photos[int(match.group(2))] = topic
        if not photos:
            return refused
        async with self.runtime.db.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Image.id, Image.author_id, Image.is_public).where(
                        Image.id.in_(list(photos))
                    )
                )
            ).all()
        for image_id, author, is_public in rows:
            if author in self.blocked or not (is_public or await self._sees_all_of(author)):
                refused.add(photos[image_id])
        return refused

    async def _drop_unseen_topics(self) -> None:
        """After a block or an unfollow: stop following what the viewer may no longer see."""
        await self._unsubscribe(sorted(await self._unseen(list(self.topics))))

    async def _refollow(self) -> None:
        """The viewer followed or unfollowed someone: move the following topic's streams."""
        old = set(self.topics["following"])
        new = await self._streams_of("following")
        self.topics["following"] = new
        await self.hub.subscribe(self.subscriber, [("following", s) for s in new if s not in old])
        await self.hub.unsubscribe(
            self.subscriber, [("following", s) for s in old if s not in set(new)]
        )

    async def _read(self, receive: ASGIReceiveCallable) -> None:
        """The page's messages, until it closes the socket (returns) or is refused (raises)."""
        while True:
            event = await receive()
            kind = event["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue  # websocket.connect, already answered by the accept
            text = event.get("text")
            if not isinstance(text, str):
                raise Refused(Close.UNSUPPORTED_DATA, "Send JSON text frames, not binary.")
            if len(text) > MAX_MESSAGE_BYTES:
                raise Refused(Close.TOO_BIG, f"Messages are at most {MAX_MESSAGE_BYTES} bytes.")
            self._spend_allowance()
            await self._handle(_parse(text))

    def _spend_allowance(self) -> None:
        now = time.monotonic()
        self.allowance = min(
            MESSAGE_BURST, self.allowance + (now - self.last_message) * MESSAGES_PER_SECOND
        )
        self.last_message = now
        if self.allowance < 1:
            raise Refused(Close.POLICY_VIOLATION, "Too many messages: slow down.")
        self.allowance -= 1

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ping":
            self.subscriber.deliver('{"type":"pong"}')
        elif kind == "subscribe":
            await self._subscribe(_topics_of(message))
        elif kind == "unsubscribe":
            await self._unsubscribe(_topics_of(message))
        else:
            raise Refused(Close.POLICY_VIOLATION, f"Unknown message type {kind!r}.")

    async def _subscribe(self, topics: list[str]) -> None:
        new = [topic for topic in dict.fromkeys(topics) if topic not in self.topics]
        if len(self.topics) + len(new) > MAX_TOPICS:
            raise Refused(Close.POLICY_VIOLATION, f"At most {MAX_TOPICS} topics per socket.")
        routes: list[tuple[str, str]] = []
        refused = await self._unseen(new)
        for topic in new:
            # As for any id that does not exist: no streams, no sequence number.
            streams = [] if topic in refused else await self._streams_of(topic)
            self.topics[topic] = streams
            routes.extend((topic, stream) for stream in streams)
        if routes:
            await self.hub.subscribe(self.subscriber, routes)
        single = [t for t in topics if t in self.topics and self.topics[t] == [t]]
        seqs: dict[str, int | None] = dict.fromkeys(topics)
        seqs.update(await live_infra.sequences(self._redis(), single))
        self.subscriber.deliver(orjson.dumps({"type": "subscribed", "seqs": seqs}).decode())

    async def _unsubscribe(self, topics: list[str]) -> None:
        routes: list[tuple[str, str]] = []
        for topic in topics:
            routes.extend((topic, stream) for stream in self.topics.pop(topic, []))
        await self.hub.unsubscribe(self.subscriber, routes)

    async def _streams_of(self, topic: str) -> list[str]:
        """The streams behind a topic; ``Refused`` for one this socket may not follow."""
        if topic == live.FEED or TAG_TOPIC.match(topic) or ID_TOPIC.match(topic):
            return [topic]
        if topic == "following":
            if self.viewer is None:
                raise Refused(Close.POLICY_VIOLATION, "Sign in to follow your following feed.")
            return [live.author_stream(user_id) for user_id in await self._followed_ids()]
        raise Refused(Close.POLICY_VIOLATION, f"Unknown topic {topic[:100]!r}.")

    async def _followed_ids(self) -> list[int]:
        assert self.viewer is not None
        async with self.runtime.db.sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Follow.followed_id)
                    .where(
                        Follow.follower_id == self.viewer.user_id,
                        *visibility.not_hidden(self.viewer.user_id, Follow.followed_id),
                    )
                    .limit(MAX_FOLLOWED_STREAMS)
                )
            )


def _close_for(error: BaseException) -> tuple[int, str]:
    """How to close a socket whose reading or writing failed with ``error``."""
    if isinstance(error, Refused):
        return error.code, error.reason
    if isinstance(error, (LiveUnavailable, RedisError, OSError)):
        return FAILURES["Redis unavailable"]
    log.error("A live socket failed", exc_info=error)
    return Close.INTERNAL_ERROR, "Internal error."


async def _send_text(send: ASGISendCallable, text: str) -> None:
    await send({"type": "websocket.send", "bytes": None, "text": text})


def _parse(data: str) -> dict[str, Any]:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Refused(Close.POLICY_VIOLATION, "Messages are JSON objects.") from None
    if not isinstance(message, dict):
        raise Refused(Close.POLICY_VIOLATION, "Messages are JSON objects.")
    return message


def _topics_of(message: dict[str, Any]) -> list[str]:
    topics = message.get("topics")
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise Refused(Close.POLICY_VIOLATION, '"topics" is a list of strings.')
    if len(topics) > MAX_TOPICS:
        raise Refused(Close.POLICY_VIOLATION, f"At most {MAX_TOPICS} topics per socket.")
    return topics


# The endpoint is complete (helpers poll for this marker): LIVE_READY
