"""Image views: counted in Redis once per viewer and hour, flushed exactly once."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gallery.infra.db import Database
from gallery.infra.redis import connect
from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.services import views
from tests.conftest import BACKEND
from tests.helpers import make_active_user
from tests.images import add_image_rows


async def view_counts(runtime: Runtime, ids: list[int]) -> dict[int, int]:
    async with runtime.db.session() as session:
        rows = await session.execute(select(Image.id, Image.view_count).where(Image.id.in_(ids)))
        return {image_id: count for image_id, count in rows.all()}


async def leftover_batches(runtime: Runtime) -> list[str]:
    assert runtime.redis is not None
    return [key async for key in runtime.redis.scan_iter(f"{views.FLUSHING_PREFIX}*")]


async def record(runtime: Runtime, image_id: int, viewer_key: str) -> bool:
    assert runtime.redis is not None
    return await views.record_view(runtime.redis, image_id=image_id, viewer_key=viewer_key)


async def flush(runtime: Runtime) -> int:
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        return await views.flush_views(session, runtime.redis)


async def test_a_viewer_counts_once_per_image_per_hour(runtime: Runtime) -> None:
    image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
    assert await record(runtime, image_id, "u:7") is True
    assert await record(runtime, image_id, "u:7") is False
    assert await record(runtime, image_id, "u:7") is False
    assert runtime.redis is not None
    assert await views.pending_views(runtime.redis) == {image_id: 1}
    ttl = await runtime.redis.ttl(views.seen_key(image_id, "u:7"))
    assert 0 < ttl <= 3600
    # Once the marker's hour is over, the same viewer counts again.
    await runtime.redis.delete(views.seen_key(image_id, "u:7"))
    assert await record(runtime, image_id, "u:7") is True
    assert await views.pending_views(runtime.redis) == {image_id: 2}


async def test_different_viewers_and_images_count_separately(runtime: Runtime) -> None:
    first, second = await add_image_rows(runtime, await make_active_user(runtime), 2)
    for viewer in ("u:1", "u:2", "a:0123456789abcdef"):
        assert await record(runtime, first, viewer)
    assert await record(runtime, second, "u:1")
    assert runtime.redis is not None
    assert await views.pending_views(runtime.redis) == {first: 3, second: 1}


async def test_flush_adds_the_counts_to_view_count_and_empties_pending(runtime: Runtime) -> None:
    first, second, unseen = await add_image_rows(runtime, await make_active_user(runtime), 3)
    async with runtime.db.session() as session:
        image = await session.get(Image, first)
        assert image is not None
        image.view_count = 10
        await session.commit()
    for viewer in ("u:1", "u:2"):
        await record(runtime, first, viewer)
    await record(runtime, second, "u:1")

    assert await flush(runtime) == 3
    assert await view_counts(runtime, [first, second, unseen]) == {first: 12, second: 1, unseen: 0}
    assert runtime.redis is not None
    assert await views.pending_views(runtime.redis) == {}
    assert await leftover_batches(runtime) == []
    # Nothing is applied twice: a second flush has nothing to do.
    assert await flush(runtime) == 0
    assert await view_counts(runtime, [first, second]) == {first: 12, second: 1}


async def test_flush_takes_a_database_as_well_as_a_session(runtime: Runtime) -> None:
    image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
    await record(runtime, image_id, "u:1")
    assert runtime.redis is not None
    assert await views.flush_views(runtime.db, runtime.redis) == 1
    assert await view_counts(runtime, [image_id]) == {image_id: 1}


async def test_concurrent_flushes_apply_each_view_exactly_once(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 5)
    counted = 0
    applied = 0
    for round_number in range(4):
        # Views keep arriving while three flushers run at once.
        recordings = [
            record(runtime, ids[n % len(ids)], f"u:{round_number}-{n}") for n in range(40)
        ]
        results = await asyncio.gather(*recordings, flush(runtime), flush(runtime), flush(runtime))
        counted += sum(1 for r in results[:-3] if r is True)
        applied += sum(results[-3:])
    applied += await flush(runtime)
    assert counted == 160
    assert applied == counted
    assert sum((await view_counts(runtime, ids)).values()) == counted
    assert await leftover_batches(runtime) == []


async def refuse_view_counts(runtime: Runtime) -> None:
    """A real database error on every UPDATE of images.view_count, by a trigger."""
    if BACKEND == "mariadb":
        create = (
            "CREATE TRIGGER refuse_view_counts BEFORE UPDATE ON images FOR EACH ROW "
            "BEGIN IF NEW.view_count <> OLD.view_count THEN "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'view counts refused'; END IF; END"
        )
    else:
        create = (
            "CREATE TRIGGER refuse_view_counts BEFORE UPDATE OF view_count ON images "
            "BEGIN SELECT RAISE(ABORT, 'view counts refused'); END"
        )
    async with runtime.db.session() as session:
        await session.execute(text(create))
        await session.commit()


async def accept_view_counts(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        await session.execute(text("DROP TRIGGER IF EXISTS refuse_view_counts"))
        await session.commit()


async def test_a_failed_flush_puts_every_count_back(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 3)
    for index, image_id in enumerate(ids):
        for viewer in range(index + 1):
            await record(runtime, image_id, f"u:{viewer}")
    expected = {ids[0]: 1, ids[1]: 2, ids[2]: 3}
    assert runtime.redis is not None

    await refuse_view_counts(runtime)
    try:
        with pytest.raises(DBAPIError, match="view counts refused"):
            await flush(runtime)
        assert await views.pending_views(runtime.redis) == expected
        assert await leftover_batches(runtime) == []
        assert await view_counts(runtime, ids) == dict.fromkeys(ids, 0)
        # Views recorded after the failure join the returned ones.
        await record(runtime, ids[0], "u:new")
    finally:
        await accept_view_counts(runtime)

    assert await flush(runtime) == 7
    assert await view_counts(runtime, ids) == {ids[0]: 2, ids[1]: 2, ids[2]: 3}
    assert await views.pending_views(runtime.redis) == {}


async def test_a_flush_to_an_unreachable_database_keeps_the_counts(runtime: Runtime) -> None:
    image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
    await record(runtime, image_id, "u:1")
    await record(runtime, image_id, "u:2")
    if BACKEND == "mariadb":
        url = make_url(runtime.db.url)
        missing = url.set(database=f"{url.database}_missing").render_as_string(hide_password=False)
    else:
        missing = f"sqlite+aiosqlite:///{runtime.settings.instance_dir}/no/such/folder/x.db"
    unreachable = Database(missing)
    assert runtime.redis is not None
    try:
        with pytest.raises(DBAPIError):
            await views.flush_views(unreachable, runtime.redis)
    finally:
        await unreachable.dispose()
    assert await views.pending_views(runtime.redis) == {image_id: 2}
    assert await flush(runtime) == 2
    assert await view_counts(runtime, [image_id]) == {image_id: 2}


async def test_views_of_deleted_images_are_skipped(runtime: Runtime) -> None:
    kept, deleted = await add_image_rows(runtime, await make_active_user(runtime), 2)
    await record(runtime, kept, "u:1")
    for viewer in ("u:1", "u:2", "u:3"):
        await record(runtime, deleted, viewer)
    async with runtime.db.session() as session:
        await session.execute(delete(Image).where(Image.id == deleted))
        await session.commit()
    assert await flush(runtime) == 1
    assert await view_counts(runtime, [kept, deleted]) == {kept: 1}
    assert runtime.redis is not None
    assert await views.pending_views(runtime.redis) == {}


async def test_recording_survives_a_redis_that_is_down(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused.
    down = connect("redis://127.0.0.1:1/0")
    try:
        with caplog.at_level(logging.WARNING, logger="gallery.services.views"):
            assert await views.record_view(down, image_id=1, viewer_key="u:1") is False
    finally:
        await down.aclose()
    assert "Could not count a view of image 1" in caplog.text


async def test_the_flusher_loop_flushes_once_more_when_stopped(runtime: Runtime) -> None:
    image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
    assert runtime.redis is not None
    stop = asyncio.Event()
    # An interval far longer than the test: only the final flush can write.
    loop = asyncio.create_task(
        views.run_view_flusher(runtime.db, runtime.redis, stop, every_seconds=3600)
    )
    await record(runtime, image_id, "u:1")
    stop.set()
    await loop
    assert await view_counts(runtime, [image_id]) == {image_id: 1}
    assert await views.pending_views(runtime.redis) == {}


async def test_a_redis_that_never_answers_costs_the_view_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A real server that accepts the connection and then says nothing: a frozen
    # Redis. The client's socket timeout ends the wait.
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = connect(f"redis://127.0.0.1:{port}/0", socket_timeout=0.2)
    try:
        with caplog.at_level(logging.WARNING, logger="gallery.services.views"):
            assert await views.record_view(silent, image_id=1, viewer_key="u:1") is False
    finally:
        await silent.aclose()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    [line] = [r for r in caplog.records if r.name == "gallery.services.views"]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert line.getMessage().startswith("Could not count a view of image 1: ")


SECRET = b"a secret only the app knows"


def test_an_anonymous_viewer_is_their_address_and_nothing_else() -> None:
    key = views.viewer_key(user_id=None, address="203.0.113.9", secret=SECRET)
    assert re.fullmatch(r"a:[0-9a-f]{32}", key)
    assert "203" not in key
    # The same address is the same viewer; another address another one.
    assert views.viewer_key(user_id=None, address="203.0.113.9", secret=SECRET) == key
    assert views.viewer_key(user_id=None, address="203.0.113.10", secret=SECRET) != key
    # Written as IPv4-mapped IPv6 it is still the same address.
    assert views.viewer_key(user_id=None, address="::ffff:203.0.113.9", secret=SECRET) == key
    # Keyed: without the app's secret the hash cannot be recomputed from a guess.
    assert views.viewer_key(user_id=None, address="203.0.113.9", secret=b"another") != key


def test_an_ipv6_viewer_is_their_slash_64() -> None:
    def key(address: str) -> str:
        return views.viewer_key(user_id=None, address=address, secret=SECRET)

    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert key("2001:db8:1:2::1") != key("2001:db8:1:3::1")
    assert views.viewer_network("2001:db8:1:2:abcd::1") == "2001:db8:1:2::/64"
    assert views.viewer_network("unknown") == "unknown"


def test_a_signed_in_viewer_is_their_account_wherever_they_are() -> None:
    for address in ("203.0.113.9", "2001:db8::1", "unknown"):
        assert views.viewer_key(user_id=7, address=address, secret=SECRET) == "u:7"
