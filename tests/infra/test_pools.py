"""The database and Redis pools: sized by the settings, waited for, never left broken.

Every connection a drill holds is held from the test against the real back-end,
so a request has to wait for it exactly as it would behind other requests.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event, literal, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util import await_

from gallery.infra.db import Database
from gallery.infra.redis import EmbeddedRedis, connect
from gallery.infra.runtime import Runtime, pool_wait_timed_out
from gallery.settings import Settings
from tests.browser.conftest import GalleryServer, server_environment
from tests.conftest import BACKEND, build_settings
from tests.helpers import add_user_row, make_active_user, signed_in
from tests.mailbox import free_port
from tests.pools import (
    WriteLock,
    db_pool_waiters,
    holding_db_connections,
    holding_redis_connections,
    redis_pool_waiters,
    request_tasks,
    running_app,
    until,
)

Backend = dict[str, object]


def pool_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What SQLAlchemy's pool said went wrong, or that it threw a connection away."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("sqlalchemy.pool")
        and (record.levelno >= logging.WARNING or "Invalidate" in record.getMessage())
    ]


async def test_the_settings_size_both_pools(runtime: Runtime, settings: Settings) -> None:
    pool = runtime.db.engine.pool
    assert pool.size() == settings.db_pool_size  # type: ignore[attr-defined]
    assert pool._max_overflow == settings.db_max_overflow  # type: ignore[attr-defined]
    assert pool.timeout() == settings.pool_timeout_seconds  # type: ignore[attr-defined]
    assert runtime.redis is not None
    redis_pool = runtime.redis.connection_pool
    assert isinstance(redis_pool, BlockingConnectionPool)  # unix:// on the embedded back-end
    assert redis_pool.max_connections == settings.redis_pool_size
    assert redis_pool.timeout == settings.pool_timeout_seconds


async def test_a_url_alone_still_makes_a_database_and_a_redis_client(settings: Settings) -> None:
    # As the CLI and the test fixtures make them.
    database = Database(str(settings.database_url))
    async with database.session() as session:
        assert await session.scalar(select(literal(1))) == 1
    await database.dispose()
    client = connect(settings.redis_url or EmbeddedRedis(settings.instance_dir).url)
    assert await client.ping()
    await client.aclose()


async def test_a_request_waits_for_the_only_database_connection(
    backend: Backend, instance_root: Path, clean: None
) -> None:
    async with running_app(
        backend, instance_root, db_pool_size=1, db_max_overflow=0, pool_timeout_seconds=30
    ) as (app, runtime):
        await add_user_row(runtime, "alice")
        async with holding_db_connections(runtime):
            request = asyncio.ensure_future(app.test_client().get("/api/v1/users/alice"))
            await until(
                lambda: db_pool_waiters(runtime) == 1 or request.done(),
                "the request waits for the pool",
            )
            assert not request.done(), "answered without waiting for the pool"
        response = await request
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert (await response.get_json())["username"] == "alice"


async def test_a_request_waits_for_the_only_redis_connection(
    backend: Backend, instance_root: Path, clean: None
) -> None:
    async with running_app(backend, instance_root, redis_pool_size=1, pool_timeout_seconds=30) as (
        app,
        runtime,
    ):
        await add_user_row(runtime, "alice")
        async with holding_redis_connections(runtime):
            request = asyncio.ensure_future(app.test_client().get("/api/v1/users/alice"))
            await until(
                lambda: redis_pool_waiters(runtime) == 1 or request.done(),
                "the request waits for Redis",
            )
            assert not request.done(), "answered without waiting for Redis"
        response = await request
        assert response.status_code == 200, await response.get_data(as_text=True)


async def test_a_client_gone_while_its_session_closes_leaves_the_connection_pooled(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The disconnect lands while teardown gives the connection back.

    Quart cancels the request's task when the client goes; after the view has
    answered, that task is in teardown closing the database session. The pool's
    ``reset`` hook stands for a slow rollback round trip: it waits, inside the
    close, until Quart has cancelled the request. Closed in the request's own
    task, the close was cut off there ("Exception during reset or similar",
    the connection thrown away).
    """
    caplog.set_level(logging.INFO, logger="sqlalchemy.pool")
    async with running_app(
        backend, instance_root, db_pool_size=1, db_max_overflow=0, pool_timeout_seconds=5
    ) as (app, runtime):
        await add_user_row(runtime, "alice")
        closing = asyncio.Event()
        may_finish = asyncio.Event()

        def slow_reset(*_args: Any) -> None:
            if not closing.is_set():
                closing.set()
                await_(may_finish.wait())  # a real await inside the pool's reset

        event.listen(runtime.db.engine.sync_engine, "reset", slow_reset)
        client = app.test_client()
        async with client.request("/api/v1/users/alice") as connection:
            await connection.send_complete()
            await until(closing.is_set, "the request's session is being closed")
            [handler] = request_tasks()
            await connection.disconnect()
            await until(lambda: handler.cancelling() > 0 or handler.done(), "Quart cancels")
            may_finish.set()
        event.remove(runtime.db.engine.sync_engine, "reset", slow_reset)

        assert pool_errors(caplog) == []
        assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        for _ in range(5):
            response = await client.get("/api/v1/users/alice")
            assert response.status_code == 200, await response.get_data(as_text=True)
        assert pool_errors(caplog) == []


async def test_clients_gone_while_their_statements_wait_leave_the_pool_healthy(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Three follows wait on another connection's lock; their clients disconnect.

    Each cancelled statement's connection is discarded cleanly; with a pool of
    three, any connection left checked out would make the requests after it
    fail with 503.
    """
    caplog.set_level(logging.INFO, logger="sqlalchemy.pool")
    async with running_app(
        backend,
        instance_root,
        db_pool_size=3,
        db_max_overflow=0,
        pool_timeout_seconds=5,
        rate_limits_enabled=False,
    ) as (app, runtime):
        await make_active_user(runtime, "bob", "bob@example.com")
        client, token = await signed_in(app, runtime, "alice")
        headers = {"X-CSRF-Token": token}
        inserts_started = 0

        def count_follow_inserts(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            nonlocal inserts_started
            if statement.lstrip().upper().startswith("INSERT") and "follows" in statement:
                inserts_started += 1

        engine = runtime.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count_follow_inserts)
        lock = WriteLock(str(runtime.settings.database_url), "follows")
        await lock.acquire()
        try:
            async with AsyncExitStack() as requests:
                connections: list[Any] = []
                for _ in range(3):
                    follow: Any = client.request(
                        "/api/v1/users/bob/follow", method="PUT", headers=headers
                    )
                    connections.append(await requests.enter_async_context(follow))
                for connection in connections:
                    await connection.send_complete()
                await until(lambda: inserts_started == 3, "three INSERTs wait for the lock")
                handlers = request_tasks()
                assert len(handlers) == 3
                for connection in connections:
                    await connection.disconnect()
                await until(
                    lambda: all(task.cancelling() > 0 or task.done() for task in handlers),
                    "Quart cancels the three requests",
                )
                # The statements end (or the connections close) only now.
                await lock.release()
        finally:
            await lock.release()
        event.remove(engine, "before_cursor_execute", count_follow_inserts)

        assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert not [m for m in pool_errors(caplog) if "Invalidate" not in m]
        for _ in range(10):
            response = await client.get("/api/v1/users/bob")
            assert response.status_code == 200, await response.get_data(as_text=True)
        response = await client.put("/api/v1/users/bob/follow", headers=headers)
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert (await response.get_json())["following"] is True
        assert runtime.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert not [m for m in pool_errors(caplog) if "Invalidate" not in m]


async def test_only_a_pool_wait_that_timed_out_counts_as_overload(settings: Settings) -> None:
    """A Redis server that is down is an error (500, logged); a pool wait that timed out is 503."""
    down = connect("redis://127.0.0.1:1/0")
    with pytest.raises(RedisConnectionError) as refused:
        await down.ping()
    await down.aclose()
    assert not pool_wait_timed_out(refused.value)

    client = connect(
        settings.redis_url or EmbeddedRedis(settings.instance_dir).url,
        max_connections=1,
        timeout=0.1,
    )
    held = await client.connection_pool.get_connection()
    with pytest.raises(RedisConnectionError) as timed_out:
        await client.ping()
    await client.connection_pool.release(held)
    await client.aclose()
    assert pool_wait_timed_out(timed_out.value)


@pytest.mark.skipif(
    BACKEND != "mariadb",
    reason="SQLite never makes a reader wait (WAL), so a GET cannot be held mid-query from "
    "outside the server process; the in-process drills above cover SQLite",
)
async def test_clients_hanging_up_on_hypercorn_mid_query_leave_its_pool_healthy(
    backend: Backend, instance_root: Path, clean: None, tmp_path: Path
) -> None:
    """Real Hypercorn, a pool of one, three raw clients that give up while their query waits.

    Each client half-closes its socket (as a browser or proxy that gives up);
    Hypercorn closes its side only after the app has handled the disconnect,
    so reading EOF means the cancelled request is done. Then the lock goes and
    twenty requests must all find the one connection healthy.
    """
    settings = build_settings(backend, instance_root)
    setup = Runtime.from_settings(settings)
    await add_user_row(setup, "alice")
    await setup.db.dispose()

    port = free_port()
    env = server_environment(backend, instance_root, f"http://127.0.0.1:{port}")
    env.update(
        GALLERY_DB_POOL_SIZE="1", GALLERY_DB_MAX_OVERFLOW="0", GALLERY_POOL_TIMEOUT_SECONDS="5"
    )
    server = GalleryServer(env, port, 1, tmp_path)
    await server.start()
    watcher = create_async_engine(str(settings.database_url))
    lock = WriteLock(str(settings.database_url), "users")
    try:
        await lock.acquire()
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        for _reader, writer in clients:
            writer.write(b"GET /api/v1/users/alice HTTP/1.1\r\nHost: gallery.test\r\n\r\n")
            await writer.drain()

        async def queries_waiting() -> int:
            async with watcher.connect() as connection:
                found = await connection.scalar(
                    text(
                        "SELECT COUNT(*) FROM information_schema.processlist WHERE db = :db "
                        "AND info LIKE 'SELECT%users%' AND state LIKE '%lock%'"
                    ),
                    {"db": make_url(str(settings.database_url)).database},
                )
                return int(found or 0)

        for _ in range(2000):
            if await queries_waiting() >= 1:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no query of the server waits for the lock")

        for reader, writer in clients:
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 20) == b""  # handled, nothing sent
            writer.close()
        await lock.release()

        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            responses = await asyncio.gather(
                *(client.get("/api/v1/users/alice") for _ in range(20))
            )
        assert [r.status_code for r in responses] == [200] * 20, responses[0].text
    finally:
        await lock.release()
        await watcher.dispose()
        await server.stop()
    output = server.output()
    for sign in ("Exception during reset", "Traceback", "Error in ASGI Framework"):
        assert sign not in output, output
