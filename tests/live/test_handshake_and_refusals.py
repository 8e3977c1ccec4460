"""Who may open a socket (answered over HTTP, before the upgrade), and what closes one."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.browser.conftest import GalleryServer
from tests.live.conftest import EVENT_TIMEOUT_SECONDS, LiveServerFactory, LiveSocket, open_socket


async def refused_status(server: GalleryServer, *, origin: str | None = None) -> int:
    """The HTTP status a handshake is refused with (fails if it is accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        live = await open_socket(server, origin=origin)
        await live.close()
    return refused.value.response.status_code


async def test_a_page_of_another_site_is_refused_the_sites_own_pages_are_not(
    start_live_server: LiveServerFactory,
) -> None:
    server = await start_live_server()
    # Cross-site WebSocket hijacking: a page elsewhere riding on the visitor's cookies.
    assert await refused_status(server, origin="http://evil.example") == 403
    assert await refused_status(server, origin=f"http://127.0.0.1:{server.port + 1}") == 403
    assert await refused_status(server, origin="null") == 403
    for own in (server.url, f"{server.url}/"):  # the site's public URL, the request's own host
        live = await open_socket(server, origin=own)
        assert live.hello["type"] == "hello"
        await live.close()
    script = await open_socket(server)  # no Origin at all: a script, not a browser
    await script.close()


async def test_live_updates_switched_off_answer_404_and_pages_still_work(
    start_live_server: LiveServerFactory,
) -> None:
    server = await start_live_server(workers=1, live_enabled="false")
    assert await refused_status(server) == 404
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/")).status_code == 200


async def test_a_worker_full_of_sockets_answers_503_until_one_leaves(
    start_live_server: LiveServerFactory,
) -> None:
    server = await start_live_server(workers=1, live_max_sockets="2")
    first = await open_socket(server)
    second = await open_socket(server)
    assert await refused_status(server) == 503

    await first.close()
    # The server forgets the closed socket a moment after the close handshake.
    for _ in range(int(EVENT_TIMEOUT_SECONDS / 0.1)):
        try:
            third = await open_socket(server)
        except InvalidStatus as refused:
            assert refused.response.status_code == 503
            await asyncio.sleep(0.1)
        else:
            break
    else:
        raise AssertionError("a place freed by a closed socket was never given to a new one")
    await second.close()
    await third.close()


async def closed_after(live: LiveSocket, frame: str | bytes) -> int | None:
    await live.connection.send(frame)
    code, _ = await live.closed()
    return code


async def test_each_protocol_violation_closes_the_socket_with_its_code(
    start_live_server: LiveServerFactory,
) -> None:
    server = await start_live_server()
    too_many = json.dumps(
        {"type": "subscribe", "topics": [f"photo:{n}" for n in range(1, 302)]},
        separators=(",", ":"),
    )
    assert len(too_many) <= 4096  # refused for its topics, not for its size
    frames: dict[str, str | bytes] = {
        "a binary frame": b'{"type":"ping"}',
        "bad JSON": '{"type": "ping"',
        "JSON that is no object": '["ping"]',
        "an unknown message type": '{"type":"dance"}',
        "topics that are no list": '{"type":"subscribe","topics":"feed"}',
        "an unknown topic": '{"type":"subscribe","topics":["weather"]}',
        "a malformed photo topic": '{"type":"subscribe","topics":["photo:abc"]}',
        "following while anonymous": '{"type":"subscribe","topics":["following"]}',
        "more than 300 topics": too_many,
        "a frame over 4096 bytes": json.dumps({"type": "ping", "pad": "x" * 4200}),
    }
    expected = {
        "a binary frame": 1003,
        "bad JSON": 1008,
        "JSON that is no object": 1008,
        "an unknown message type": 1008,
        "topics that are no list": 1008,
        "an unknown topic": 1008,
        "a malformed photo topic": 1008,
        "following while anonymous": 1008,
        "more than 300 topics": 1008,
        "a frame over 4096 bytes": 1009,
    }
    codes = {
        what: await closed_after(await open_socket(server), frame) for what, frame in frames.items()
    }
    assert codes == expected

    # A socket that behaves is left alone meanwhile.
    polite = await open_socket(server)
    assert (await polite.subscribe("feed", "tag:sunset", "author:1", "photo:1")).keys() == {
        "feed",
        "tag:sunset",
        "author:1",
        "photo:1",
    }
    await polite.send_json({"type": "ping"})
    assert (await polite.next_event(lambda m: m["type"] == "pong"))["type"] == "pong"
    await polite.close()


async def test_an_offer_of_permessage_deflate_is_declined_and_the_socket_works(
    start_live_server: LiveServerFactory,
) -> None:
    # Browsers always offer it; a worker holding thousands of sockets declines
    # (gallery.serving.decline_websocket_compression).
    server = await start_live_server(workers=1)
    live = await open_socket(server, compression="deflate")
    response = live.connection.response
    assert response is not None
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert live.connection.protocol.extensions == []
    await live.send_json({"type": "ping"})
    assert (await live.receive())["type"] == "pong"
    await live.close()
