"""``/api/v1/live`` in Quart's test client (``web/live.py``), and the counts pages catch up with.

The two-worker drills of the same protocol over real sockets are in
``tests/live`` (MariaDB pass only); these run in-process on both passes.
A refusal before the upgrade reaches the test client as
``WebsocketResponseError``; a close as ``WebsocketDisconnectError(code)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError
from quart.typing import TestClientProtocol as Client
from quart.typing import TestWebsocketConnectionProtocol as Socket

from gallery import create_app
from gallery.infra.live import LiveHub
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from gallery.web.live import HANDOFF, LiveHandoff
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    add_user_rows,
    csrf_header,
    delete_image,
    post_form,
    signed_in,
    user_id_of,
)
from tests.images import add_image_rows, store_image
from tests.sockets import FRAME_TIMEOUT_SECONDS, receive, send, subscribe

LIVE = "/api/v1/live"


async def close_code(socket: Socket) -> int:
    """The code the server closed the socket with (fails if it sends a frame instead)."""
    with pytest.raises(WebsocketDisconnectError) as closed:
        frame = await asyncio.wait_for(socket.receive(), FRAME_TIMEOUT_SECONDS)
        pytest.fail(f"expected a close, got {frame!r}")
    return int(closed.value.args[0])


async def refused_status(client: Client, headers: dict[str, str] | None = None) -> int:
    """The HTTP status the handshake is answered with (fails if it is accepted)."""
    async with client.websocket(LIVE, headers=headers) as socket:
        with pytest.raises(WebsocketResponseError) as refused:
            frame = await asyncio.wait_for(socket.receive(), FRAME_TIMEOUT_SECONDS)
            pytest.fail(f"the handshake was accepted and sent {frame!r}")
    return int(refused.value.response.status_code)


async def attached(hub: LiveHub, count: int) -> None:
    """Wait until the hub serves ``count`` sockets (a closed one is let go a moment later)."""
    for _ in range(int(FRAME_TIMEOUT_SECONDS / 0.05)):
        if len(hub.subscribers) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the hub serves {len(hub.subscribers)} sockets, not {count}")


async def like_via_api(client: Client, token: str, image_id: int) -> None:
    response = await client.put(f"/api/v1/images/{image_id}/like", headers=csrf_header(token))
    assert response.status_code == 200, await response.get_data(as_text=True)


# -- the handshake -------------------------------------------------------------------------


async def test_an_anonymous_socket_is_greeted_without_a_viewer(client: Client) -> None:
    async with client.websocket(LIVE) as socket:
        hello = await receive(socket)
        assert set(hello) == {"type", "viewer", "worker"}
        assert hello["type"] == "hello" and hello["viewer"] is None
        assert isinstance(hello["worker"], str) and hello["worker"]
        await send(socket, {"type": "ping"})
        assert await receive(socket) == {"type": "pong"}


async def test_a_signed_in_socket_is_greeted_with_its_viewer_and_unread_count(
    app: Quart, runtime: Runtime
) -> None:
    client, _ = await signed_in(app, runtime, "alice")
    alice = await user_id_of(runtime, "alice")
    (fan,) = await add_user_rows(runtime, "fan")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    await add_like(runtime, fan, image_id)

    async with client.websocket(LIVE) as socket:
        hello = await receive(socket)
        assert set(hello) == {"type", "viewer", "worker", "unread"}
        assert hello["viewer"] == {"id": alice, "username": "alice"}
        assert hello["unread"] == 1


async def test_a_foreign_origin_is_refused_the_sites_own_and_none_are_not(
    client: Client, settings: Settings
) -> None:
    # Cross-site WebSocket hijacking: a page elsewhere riding on the visitor's cookies.
    for foreign in ("http://evil.example", "null", "https://localhost", "http://localhost:8001"):
        assert await refused_status(client, {"Origin": foreign}) == 403, foreign
    # The public URL's origin, and the request's own scheme and host (the test client's).
    for own in (settings.public_url, f"{settings.public_url}/", "http://localhost"):
        async with client.websocket(LIVE, headers={"Origin": own}) as socket:
            assert (await receive(socket))["type"] == "hello", own
    async with client.websocket(LIVE) as socket:  # no Origin: a script, not a browser
        assert (await receive(socket))["type"] == "hello"


async def test_live_updates_turned_off_answer_404(settings: Settings, clean: None) -> None:
    switched_off = create_app(settings.model_copy(update={"live_enabled": False}))
    async with switched_off.test_app():
        client = switched_off.test_client()
        assert await refused_status(client) == 404
        assert (await client.get("/")).status_code == 200  # the pages poll instead


async def test_an_address_over_its_cap_is_refused_429_until_one_of_its_sockets_closes(
    settings: Settings, clean: None
) -> None:
    capped = create_app(settings.model_copy(update={"live_max_sockets_per_address": 2}))
    async with capped.test_app():
        client = capped.test_client()
        hub = capped.extensions["gallery"].live
        async with client.websocket(LIVE) as first:
            await receive(first)
            async with client.websocket(LIVE) as second:
                await receive(second)
                assert await refused_status(client) == 429
                assert len(hub.subscribers) == 2
            # The page closed its socket: its place (and its subscriber) are given back.
            await attached(hub, 1)
            async with client.websocket(LIVE) as third:
                assert (await receive(third))["type"] == "hello"
                assert len(hub.subscribers) == 2
        await attached(hub, 0)


# -- subscribing, and events -----------------------------------------------------------------


async def test_subscribe_answers_each_topics_sequence(app: Quart, runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    liked, untouched = await add_image_rows(runtime, owner, 2)
    await add_like(runtime, fan, liked)
    await add_comment(runtime, fan, liked)
    client, _ = await signed_in(app, runtime, "alice")

    async with client.websocket(LIVE) as socket:
        await receive(socket)
        seqs = await subscribe(
            socket, "feed", f"photo:{liked}", f"photo:{untouched}", "tag:sunset", "following"
        )
        assert seqs == {
            "feed": 0,
            f"photo:{liked}": 2,  # the like, then the comment
            f"photo:{untouched}": 0,
            "tag:sunset": 0,
            "following": None,  # no single stream: refetched after every reconnect
        }
        # Subscribing again to what it follows already only answers the numbers.
        assert await subscribe(socket, f"photo:{liked}") == {f"photo:{liked}": 2}


async def test_a_like_through_the_api_reaches_a_subscribed_socket_with_the_next_seq(
    app: Quart, runtime: Runtime, client: Client
) -> None:
    (owner, earlier_fan) = await add_user_rows(runtime, "owner", "earlier")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_like(runtime, earlier_fan, image_id)
    liker, token = await signed_in(app, runtime, "bob")
    topic = f"photo:{image_id}"

    async with client.websocket(LIVE) as socket:
        await receive(socket)
        previous = (await subscribe(socket, topic))[topic]
        assert previous == 1
        await like_via_api(liker, token, image_id)
        assert await receive(socket) == {
            "type": "photo.counts",
            "topic": topic,
            "stream": topic,
            "seq": previous + 1,
            "id": image_id,
            "like_count": 2,
            "comment_count": 0,
        }

        # Unsubscribed, the socket hears nothing more of the photo.
        await send(socket, {"type": "unsubscribe", "topics": [topic]})
        # Messages are handled in order: once the pong is back, the unsubscribe is done.
        await send(socket, {"type": "ping"})
        assert await receive(socket) == {"type": "pong"}
        await delete_image(runtime, owner, image_id)
        await send(socket, {"type": "ping"})
        assert await receive(socket) == {"type": "pong"}


async def test_a_notification_reaches_only_its_owners_socket(app: Quart, runtime: Runtime) -> None:
    owner_client, _ = await signed_in(app, runtime, "alice")
    other_client, _ = await signed_in(app, runtime, "carol")
    liker, token = await signed_in(app, runtime, "bob")
    alice = await user_id_of(runtime, "alice")
    (image_id,) = await add_image_rows(runtime, alice, 1)

    async with (
        owner_client.websocket(LIVE) as owners,
        other_client.websocket(LIVE) as others,
    ):
        assert (await receive(owners))["unread"] == 0
        assert (await receive(others))["unread"] == 0
        await like_via_api(liker, token, image_id)
        assert await receive(owners) == {
            "type": "notifications",
            "topic": "me",
            "stream": f"me:{alice}",
            "seq": 1,
            "unread": 1,
        }
        # One hub dispatch serves both sockets: had carol's been told, the event
        # would be queued before this pong.
        await send(others, {"type": "ping"})
        assert await receive(others) == {"type": "pong"}


# -- what closes a socket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(b"\x00binary", 1003, id="binary-frame"),
        pytest.param("{not json", 1008, id="bad-json"),
        pytest.param('["subscribe"]', 1008, id="not-an-object"),
        pytest.param('{"type":"shout"}', 1008, id="unknown-type"),
        pytest.param('{"type":"subscribe","topics":["weather"]}', 1008, id="unknown-topic"),
        pytest.param('{"type":"subscribe","topics":["photo:0"]}', 1008, id="bad-photo-id"),
        pytest.param('{"type":"subscribe","topics":"feed"}', 1008, id="topics-not-a-list"),
        pytest.param('{"type":"subscribe","topics":["following"]}', 1008, id="following-anonymous"),
        pytest.param('{"type":"ping","pad":"' + "x" * 4100 + '"}', 1009, id="over-4096-bytes"),
    ],
)
async def test_a_protocol_violation_closes_the_socket_with_its_code(
    client: Client, frame: str | bytes, code: int
) -> None:
    async with client.websocket(LIVE) as socket:
        await receive(socket)
        await socket.send(frame)
        assert await close_code(socket) == code


async def test_more_than_300_topics_close_the_socket(client: Client) -> None:
    async with client.websocket(LIVE) as socket:
        await receive(socket)
        await send(socket, {"type": "subscribe", "topics": [f"tag:t{n}" for n in range(301)]})
        assert await close_code(socket) == 1008

    # Also when they come in two messages.
    async with client.websocket(LIVE) as socket:
        await receive(socket)
        assert len(await subscribe(socket, *(f"tag:t{n}" for n in range(200)))) == 200
        await send(socket, {"type": "subscribe", "topics": [f"tag:u{n}" for n in range(101)]})
        assert await close_code(socket) == 1008


async def test_signing_out_closes_the_signed_in_socket_with_4401(
    settings: Settings, clean: None
) -> None:
    quick = create_app(settings.model_copy(update={"live_session_check_seconds": 0.2}))
    async with quick.test_app():
        runtime: Runtime = quick.extensions["gallery"]
        client, _ = await signed_in(quick, runtime, "alice")
        async with client.websocket(LIVE) as socket:
            assert (await receive(socket))["viewer"]["username"] == "alice"
            response = await post_form(client, "/logout")
            assert response.status_code == 302
            assert await close_code(socket) == 4401
        # Opened again with the same (dead) cookie, it is an anonymous socket.
        async with client.websocket(LIVE) as socket:
            assert (await receive(socket))["viewer"] is None


async def test_only_a_socket_that_heard_nothing_for_the_interval_gets_a_keepalive(
    settings: Settings, clean: None
) -> None:
    quick = create_app(settings.model_copy(update={"live_keepalive_seconds": 2.0}))
    async with quick.test_app():
        client = quick.test_client()
        async with client.websocket(LIVE) as socket:
            await receive(socket)
            # Told something every 0.1 s for 3 s (a pong), it is never idle for 2 s.
            for _ in range(30):
                await send(socket, {"type": "ping"})
                assert await receive(socket, keepalives=True) == {"type": "pong"}
                await asyncio.sleep(0.1)
            # Left alone, it hears a keep-alive (within the interval; the wait is a bound).
            assert await receive(socket, keepalives=True) == {"type": "keepalive"}
            await send(socket, {"type": "ping"})
            assert await receive(socket, keepalives=True) == {"type": "pong"}


# -- catching up: the counts of the photos a page shows ----------------------------------------


async def test_counts_answer_the_images_that_exist(app: Quart, runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    first, second, gone, not_asked = await add_image_rows(runtime, owner, 4)
    await add_like(runtime, fan, second)
    await add_comment(runtime, fan, second)
    await add_comment(runtime, owner, second)
    await delete_image(runtime, owner, gone)
    client = app.test_client()

    response = await client.get(f"/api/v1/images/counts?ids={second},{gone},{first},{second}")
    assert response.status_code == 200
    assert await response.get_json() == {
        "items": [
            {"id": first, "like_count": 0, "comment_count": 0},
            {"id": second, "like_count": 1, "comment_count": 2},
        ]
    }
    only = await (await client.get(f"/api/v1/images/counts?ids={not_asked}")).get_json()
    assert only == {"items": [{"id": not_asked, "like_count": 0, "comment_count": 0}]}
    hundred = ",".join(str(first + n) for n in range(100))
    assert (await client.get(f"/api/v1/images/counts?ids={hundred}")).status_code == 200


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param("abc", id="not-a-number"),
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("", id="empty"),
        pytest.param("1,,2", id="empty-part"),
        pytest.param(",".join(str(n) for n in range(1, 102)), id="101-ids"),
    ],
)
async def test_counts_refuse_bad_ids_with_400(client: Client, ids: str) -> None:
    response = await client.get(f"/api/v1/images/counts?ids={ids}")
    assert response.status_code == 400
    assert "error" in await response.get_json()


async def test_counts_refuse_a_missing_ids_with_400(client: Client) -> None:
    response = await client.get("/api/v1/images/counts")
    assert response.status_code == 400


async def test_the_following_topic_follows_whom_the_viewer_follows_now(
    app: Quart, runtime: Runtime
) -> None:
    viewer_client, _ = await signed_in(app, runtime, "alice")
    alice = await user_id_of(runtime, "alice")
    (bob, carol) = await add_user_rows(runtime, "bob", "carol")
    await add_follow(runtime, alice, "carol")

    async with viewer_client.websocket(LIVE) as socket:
        await receive(socket)
        assert await subscribe(socket, "following") == {"following": None}
        # Followed from another tab: this socket's following feed now includes bob.
        await add_follow(runtime, alice, "bob")
        changed = await receive(socket)
        assert (changed["type"], changed["topic"], changed["user_id"]) == (
            "following.changed",
            "me",
            bob,
        )
        bobs = await store_image(runtime, bob)
        new = await receive(socket)
        assert (new["type"], new["topic"], new["stream"]) == (
            "photo.new",
            "following",
            f"author:{bob}",
        )
        assert new["photo"]["id"] == bobs
        carols = await store_image(runtime, carol)
        new = await receive(socket)
        assert (new["topic"], new["photo"]["id"]) == ("following", carols)


class StandInConnection:
    """Records what LiveHandoff does with a socket the endpoint accepted."""

    def __init__(self) -> None:
        self.served = False
        self.released = False

    async def run(self, receive: Any, send: Any) -> None:
        self.served = True

    def release(self) -> None:
        self.released = True


@pytest.mark.parametrize("page_leaves", [False, True], ids=["page-stays", "page-leaves"])
async def test_a_page_that_leaves_during_the_handshake_is_not_served_after_it(
    page_leaves: bool,
) -> None:
    # Quart finishes the handshake after the endpoint has handed the socket over;
    # if the page leaves meanwhile, Quart reads the only disconnect event there is.
    connection = StandInConnection()
    events = [{"type": "websocket.connect"}]
    if page_leaves:
        events.append({"type": "websocket.disconnect", "code": 1001})

    async def receive() -> Any:
        return events.pop(0) if events else await asyncio.Event().wait()

    async def quart_like(scope: Any, receive: Any, send: Any) -> None:
        scope[HANDOFF].connection = connection
        for _ in range(len(events)):
            await receive()

    async def send(message: Any) -> None:
        raise AssertionError(f"nothing is sent before the handoff: {message}")

    await LiveHandoff(quart_like)({"type": "websocket"}, receive, send)
    assert connection.served is not page_leaves
    assert connection.released is page_leaves
