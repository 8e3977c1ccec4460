"""A client that stops reading costs only itself: its queue overflows into one
``resync``, while a client that reads gets every event, in order."""

from __future__ import annotations

import socket

from gallery.infra.runtime import Runtime
from gallery.models.base import utcnow
from gallery.services import live
from tests.images import store_image
from tests.live.conftest import (
    LiveServerFactory,
    LiveSocket,
    Message,
    People,
    Person,
    open_socket,
)

QUEUE_SIZE = 8
# A comment of the longest kind, so that few events fill the kernel's buffers
# (the slow client's, the server's, the writer's) before the server's queue.
CONTENT = "slow " * 200
# Far more than those buffers hold (about a hundred such events fill them).
EVENTS = 1500
SMALL_RECEIVE_BUFFER = 4096
SMALL_SEGMENT = 1024


def slow_reader_socket(port: int) -> socket.socket:
    """A TCP connection whose receive buffer (and so its window) is as small as allowed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RECEIVE_BUFFER)  # before connect
    # Loopback's segments are 64 KiB, and the server's kernel sizes its send buffer
    # in segments (megabytes): small segments keep it small, as across a network.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SMALL_SEGMENT)
    sock.connect(("127.0.0.1", port))
    return sock


async def publish_comment(runtime: Runtime, image_id: int, author: Person, number: int) -> None:
    """What a new comment publishes (services.live), without writing the comment."""
    await live.comment_added(
        runtime.redis,
        image_id=image_id,
        comment_count=number,
        comment_id=number,
        content=CONTENT,
        created_at=utcnow(),
        author_id=author.user_id,
        author_username=author.username,
        author_display_name=None,
        author_avatar_url="",
    )


def comment_events(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.get("type") in ("comment.new", "resync")]


async def read_until_comment(live_socket: LiveSocket, number: int) -> list[Message]:
    """Everything the socket holds up to the event of comment ``number``."""
    received: list[Message] = []
    while True:
        message = await live_socket.receive()
        received.append(message)
        if message.get("type") == "comment.new" and message["comment"]["id"] == number:
            return received


async def test_a_slow_reader_gets_resync_and_holds_nobody_up(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server(live_queue_size=str(QUEUE_SIZE))
    alice = await people(server, "alice")
    image_id = await store_image(live_runtime, alice.user_id)
    topic = f"photo:{image_id}"

    # The slow client: websockets stops reading the connection once one message
    # waits unread (max_queue=1), so the server's writes back up onto its queue.
    # Uncompressed, so each event takes its full size in the buffers on the way.
    slow = await open_socket(
        server, sock=slow_reader_socket(server.port), max_queue=1, compression=None
    )
    first_seq = (await slow.subscribe(topic))[topic]
    assert isinstance(first_seq, int)
    fast = await open_socket(server)
    assert (await fast.subscribe(topic))[topic] == first_seq

    # One event at a time, each read by the fast client before the next is
    # published: it must get every one, in order, while the slow one reads nothing.
    for number in range(1, EVENTS + 1):
        await publish_comment(live_runtime, image_id, alice, number)
        event = await fast.next_event(lambda m: m.get("type") in ("comment.new", "resync"))
        assert event["type"] == "comment.new", f"the fast client got {event} at {number}"
        assert event["comment"]["id"] == number
        assert event["seq"] == first_seq + number

    # Now the slow client reads what its buffers and its queue held: the events
    # in order, with a resync wherever its queue overflowed, and only there a gap
    # (what was dropped); the last one is the newest, so it is up to date again.
    received = comment_events(await read_until_comment(slow, EVENTS))
    kinds = [m["type"] for m in received]
    assert "resync" in kinds, f"no resync in {len(received)} messages"
    assert kinds[-1] == "comment.new"
    last_seq, after_resync, gaps = first_seq, False, 0
    for message in received:
        if message["type"] == "resync":
            after_resync = True
            continue
        if after_resync:
            assert message["seq"] > last_seq
            gaps += message["seq"] > last_seq + 1
        else:
            assert message["seq"] == last_seq + 1, "events missing without a resync"
        last_seq, after_resync = message["seq"], False
    assert last_seq == first_seq + EVENTS
    assert gaps >= 1, "a resync, yet nothing was dropped"

    # Both stay connected and served.
    for client in (slow, fast):
        await client.send_json({"type": "ping"})
        assert (await client.next_event(lambda m: m["type"] == "pong"))["type"] == "pong"
        await client.close()
