"""What sockets are told when Redis goes away, and when the server stops or is
restarted worker by worker: a close code that says when to come back."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gallery.infra.runtime import Runtime
from tests.browser.conftest import GalleryServer
from tests.live.conftest import (
    EVENT_TIMEOUT_SECONDS,
    LiveServerFactory,
    LiveSocket,
    People,
    alices_photo,
    event_of,
    open_socket,
    sockets_on_each_worker,
)
from tests.private_servers import PrivateRedis

GOING_AWAY = 1001
TRY_AGAIN_LATER = 1013
ROUND_SECONDS = 0.2
# Bounds on waiting for a recovery (a restarted Redis, replaced workers).
RECOVERY_ROUNDS = int(30 / ROUND_SECONDS)


async def refused_while_redis_is_down(server: GalleryServer) -> None:
    """A new socket gets nothing to listen to: refused (503) or closed with 1013."""
    try:
        live = await open_socket(server)
    except InvalidStatus as refused:
        assert refused.response.status_code == 503
        return
    await live.send_json({"type": "subscribe", "topics": ["feed"]})
    code, _ = await live.closed()
    assert code == TRY_AGAIN_LATER


async def subscribed_on_each_worker(server: GalleryServer, topic: str) -> list[LiveSocket]:
    """A socket subscribed to ``topic`` on each worker, once Redis is back for both.

    A worker that found Redis unreachable answers without it for a moment before
    it probes again; meanwhile its sockets are closed with 1013 (try again later).
    """
    for _ in range(RECOVERY_ROUNDS):
        try:
            sockets = await sockets_on_each_worker(server)
        except InvalidStatus:
            sockets = []
        try:
            for live in sockets:
                await live.subscribe(topic)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == TRY_AGAIN_LATER, closed
        else:
            if sockets:
                return sockets
        for live in sockets:
            await live.close()
        await asyncio.sleep(ROUND_SECONDS)
    raise AssertionError("the workers did not both take subscriptions after Redis came back")


async def test_redis_going_away_closes_sockets_with_1013_and_the_workers_live_on(
    start_live_server: LiveServerFactory,
    people: People,
    live_runtime: Runtime,
    private_redis: PrivateRedis,
) -> None:
    server = await start_live_server(redis_url=private_redis.url)
    alice, bob, image_id = await alices_photo(server, people, live_runtime)
    topic = f"photo:{image_id}"
    watchers = await sockets_on_each_worker(server)
    for watcher in watchers:
        await watcher.subscribe("feed", topic)
    members = await sockets_on_each_worker(server, alice)  # "me" only
    workers = server.worker_pids()

    await private_redis.stop()
    for live in (*watchers, *members):
        code, reason = await live.closed()
        assert code == TRY_AGAIN_LATER
        assert "retry in 5 s" in reason
    await refused_while_redis_is_down(server)
    # No worker died over it (none was replaced), and public pages go on.
    assert server.worker_pids() == workers
    async with httpx.AsyncClient(base_url=server.url, timeout=EVENT_TIMEOUT_SECONDS) as visitor:
        assert (await visitor.get("/")).status_code == 200

    await private_redis.start()
    # Both workers' subscriptions come back: a like reaches a socket on each.
    watchers = await subscribed_on_each_worker(server, topic)
    assert (await bob.like(image_id)).status_code == 200
    for watcher in watchers:
        event = await watcher.next_event(event_of("photo.counts", topic, id=image_id))
        assert event["like_count"] == 1
        await watcher.close()
    assert server.worker_pids() == workers


async def test_stopping_the_server_closes_every_socket_with_1001(
    start_live_server: LiveServerFactory,
) -> None:
    server = await start_live_server()
    sockets = await sockets_on_each_worker(server)
    for live in sockets:
        await live.subscribe("feed")

    stopping = asyncio.create_task(server.stop())  # SIGTERM: the master drains its workers
    for live in sockets:
        code, _ = await live.closed()
        assert code == GOING_AWAY
    assert await stopping == 0


async def test_a_rolling_restart_closes_old_sockets_with_1001_and_new_ones_catch_up(
    start_live_server: LiveServerFactory, people: People, live_runtime: Runtime
) -> None:
    server = await start_live_server()
    _alice, bob, image_id = await alices_photo(server, people, live_runtime)
    topic = f"photo:{image_id}"
    old_sockets = await sockets_on_each_worker(server)
    last_seen = [(await live.subscribe(topic))[topic] for live in old_sockets]
    old_workers = {live.worker for live in old_sockets}
    old_pids = server.worker_pids()

    assert server.process is not None
    os.kill(server.process.pid, signal.SIGHUP)  # a deploy: new workers, one by one
    for live in old_sockets:
        code, _ = await live.closed()
        assert code == GOING_AWAY
    for _ in range(RECOVERY_ROUNDS):
        pids = server.worker_pids()
        if len(pids) == 2 and not pids & old_pids:
            break
        await asyncio.sleep(ROUND_SECONDS)
    else:
        raise AssertionError(f"the workers {old_pids} were not replaced (now {pids})")

    # Missed while reconnecting: bob's like. The new sockets see the gap in the
    # sequence (so the page fetches the counts) and then the stream goes on.
    assert (await bob.like(image_id)).status_code == 200
    new_sockets = await sockets_on_each_worker(server)
    assert not {live.worker for live in new_sockets} & old_workers
    for live, seq in zip(new_sockets, last_seen, strict=True):
        assert (await live.subscribe(topic))[topic] == seq + 1  # type: ignore[operator]
    assert (await bob.unlike(image_id)).status_code == 200
    for live, seq in zip(new_sockets, last_seen, strict=True):
        event = await live.next_event(event_of("photo.counts", topic, id=image_id))
        assert (event["seq"], event["like_count"]) == (seq + 2, 0)  # type: ignore[operator]
        await live.close()
