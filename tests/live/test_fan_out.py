"""Events published by one worker reach sockets on every worker, through Redis.

The hello names the worker process a socket landed on; each test holds a
socket on each of the two workers, so whichever worker handled the request
that published, the other worker's socket got the event through Redis.
"""

from __future__ import annotations

from collections.abc import Callable

from gallery.infra.runtime import Runtime
from tests.images import jpeg_bytes, store_image
from tests.live.conftest import (
    LiveServerFactory,
    Message,
    People,
    alices_photo,
    event_of,
    open_socket,
    sockets_on_each_worker,
)


def new_photo(topic: str, image_id: int) -> Callable[[Message], bool]:
    def wanted(message: Message) -> bool:
        return (
            message.get("type") == "photo.new"
            and message.get("topic") == topic
            and message["photo"]["id"] == image_id
        )

    return wanted


async def test_the_hello_names_the_viewer_and_pings_are_answered(
    start_live_server: LiveServerFactory, people: People
) -> None:
    server = await start_live_server()
    alice = await people(server, "alice")

    anonymous = await open_socket(server)
    assert anonymous.hello["viewer"] is None
    assert "unread" not in anonymous.hello
    assert anonymous.worker

    member = await open_socket(server, alice)
    assert member.hello["viewer"] == {"id": alice.user_id, "username": "alice"}
    assert member.hello["unread"] == 0

    await member.send_json({"type": "ping"})
    assert await member.next_event(lambda m: m["type"] == "pong") == {"type": "pong"}
    # Nothing was published yet; "following" is no single stream, so it has no number.
    seqs = await member.subscribe("feed", "following", f"author:{alice.user_id}")
    assert seqs == {"feed": 0, "following": None, f"author:{alice.user_id}": 0}
    await anonymous.close()
    await member.close()


async def test_an_upload_through_one_worker_reaches_a_socket_on_the_other(
    start_live_server: LiveServerFactory, people: People
) -> None:
    server = await start_live_server()
    alice = await people(server, "alice")
    watchers = await sockets_on_each_worker(server)
    author_topic = f"author:{alice.user_id}"
    before = [await watcher.subscribe("feed", author_topic) for watcher in watchers]

    image_id = await alice.upload(jpeg_bytes(), "sunrise")

    for watcher, seqs in zip(watchers, before, strict=True):
        for topic in ("feed", author_topic):
            event = await watcher.next_event(new_photo(topic, image_id))
            assert event["stream"] == topic
            assert event["seq"] == seqs[topic] + 1  # type: ignore[operator]
            assert event["photo"]["author"]["id"] == alice.user_id
            assert event["photo"]["author"]["username"] == "alice"
        await watcher.close()


async def test_a_like_and_an_unlike_update_the_counts_on_every_worker(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server()
    _alice, bob, image_id = await alices_photo(server, people, live_runtime)
    topic = f"photo:{image_id}"
    watchers = await sockets_on_each_worker(server)
    before = [(await watcher.subscribe(topic))[topic] for watcher in watchers]

    liked = await bob.like(image_id)
    assert liked.status_code == 200, liked.text
    assert liked.json()["like_count"] == 1
    for watcher, seq in zip(watchers, before, strict=True):
        event = await watcher.next_event(event_of("photo.counts", topic, id=image_id))
        assert event["like_count"] == 1
        assert event["comment_count"] == 0
        assert event["stream"] == topic
        assert event["seq"] == seq + 1  # type: ignore[operator]

    unliked = await bob.unlike(image_id)
    assert unliked.status_code == 200, unliked.text
    for watcher, seq in zip(watchers, before, strict=True):
        event = await watcher.next_event(event_of("photo.counts", topic, id=image_id))
        assert event["like_count"] == 0
        assert event["seq"] == seq + 2  # type: ignore[operator]
        await watcher.close()


async def test_a_notification_reaches_only_its_owner(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server()
    alice, bob, image_id = await alices_photo(server, people, live_runtime)
    alices = await sockets_on_each_worker(server, alice)
    bobs = await open_socket(server, bob)

    # Bob's like notifies alice, on every socket of hers ("me" is subscribed for her).
    assert (await bob.like(image_id)).status_code == 200
    for socket_of_alice in alices:
        event = await socket_of_alice.next_event(lambda m: m.get("topic") == "me")
        assert event["type"] == "notifications"
        assert event["unread"] == 1

    # Then alice follows bob: the first thing on bob's "me" is his own notice, so
    # alice's (published earlier, on the same Redis) never came to him.
    followed = await alice.client.put(
        "/api/v1/users/bob/follow", headers={"X-CSRF-Token": alice.csrf}
    )
    assert followed.status_code == 200, followed.text
    event = await bobs.next_event(lambda m: m.get("topic") == "me")
    assert event["type"] == "notifications"
    assert event["unread"] == 1
    for socket_of_alice in alices:
        socket_of_alice.skipped.clear()
        await socket_of_alice.send_json({"type": "ping"})
        await socket_of_alice.next_event(lambda m: m["type"] == "pong")
        # Her own stream tells her whom she now follows, and nothing of bob's notices.
        told = [m["type"] for m in socket_of_alice.skipped if m.get("topic") == "me"]
        assert told == ["following.changed"]
        await socket_of_alice.close()
    await bobs.close()


async def test_unsubscribed_topics_are_not_sent(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server()
    alice = await people(server, "alice")
    bob = await people(server, "bob")
    first = await store_image(live_runtime, alice.user_id)
    second = await store_image(live_runtime, alice.user_id)
    watcher = await open_socket(server)
    await watcher.subscribe(f"photo:{first}", f"photo:{second}")
    await watcher.send_json({"type": "unsubscribe", "topics": [f"photo:{first}"]})

    assert (await bob.like(first)).status_code == 200
    assert (await bob.like(second)).status_code == 200
    # The second like was published after the first: had the first come, it came before.
    event = await watcher.next_event(lambda m: m.get("type") == "photo.counts")
    assert event["topic"] == f"photo:{second}"
    await watcher.close()


async def test_a_reconnected_socket_sees_what_it_missed_and_catches_up(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server()
    alice, bob, image_id = await alices_photo(server, people, live_runtime)
    topic = f"photo:{image_id}"

    watcher = await open_socket(server)
    last_seen = (await watcher.subscribe(topic))[topic]
    assert isinstance(last_seen, int)
    await watcher.close()

    # While the page is away, bob likes the photo.
    assert (await bob.like(image_id)).status_code == 200

    again = await open_socket(server)
    now = (await again.subscribe(topic))[topic]
    assert now == last_seen + 1  # the page sees it missed one event
    counts = await alice.client.get("/api/v1/images/counts", params={"ids": str(image_id)})
    assert counts.status_code == 200, counts.text
    assert counts.json()["items"] == [{"id": image_id, "like_count": 1, "comment_count": 0}]

    # From then on the stream goes on where the catch-up left it.
    assert (await bob.unlike(image_id)).status_code == 200
    event = await again.next_event(event_of("photo.counts", topic, id=image_id))
    assert (event["seq"], event["like_count"]) == (now + 1, 0)
    await again.close()
