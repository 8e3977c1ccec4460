"""Helpers for the pool and overload drills: an app with its own pool settings,
connections held from the test, locks that stop a statement, and Quart's
request tasks.

Whether a request is waiting for a pooled connection is read from the pools'
own queues (private attributes of SQLAlchemy's and redis-py's pools, and of
asyncio's queue and condition): there is no public way to ask, and guessing
with a sleep would make the drills either slow or meaningless.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from quart import Quart
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gallery import create_app
from gallery.infra.runtime import Runtime
from tests.conftest import build_settings

WAIT_SECONDS = 20.0


@asynccontextmanager
async def running_app(
    backend: dict[str, object], instance_root: Path, **overrides: object
) -> AsyncIterator[tuple[Quart, Runtime]]:
    """A started app with the test settings plus ``overrides`` (pool sizes, limits)."""
    app = create_app(build_settings(backend, instance_root, **overrides))
    async with app.test_app():
        yield app, app.extensions["gallery"]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        await asyncio.sleep(0.01)


def db_pool_waiters(runtime: Runtime) -> int:
    """Checkouts waiting for a database connection (SQLAlchemy's asyncio queue)."""
    queue: asyncio.Queue[Any] = runtime.db.engine.pool._pool._queue  # type: ignore[attr-defined]
    return sum(not getter.done() for getter in queue._getters)  # type: ignore[attr-defined]


def redis_pool_waiters(runtime: Runtime) -> int:
    """Commands waiting for a Redis connection (the blocking pool's condition)."""
    assert runtime.redis is not None
    condition = getattr(runtime.redis.connection_pool, "_condition", None)
    return 0 if condition is None else len(condition._waiters)  # a non-blocking pool: none


@asynccontextmanager
async def holding_db_connections(runtime: Runtime, count: int = 1) -> AsyncIterator[None]:
    """``count`` connections of the app's database pool checked out by the test."""
    connections = [await runtime.db.engine.connect() for _ in range(count)]
    try:
        yield
    finally:
        for connection in connections:
            await connection.close()


@asynccontextmanager
async def holding_redis_connections(runtime: Runtime, count: int = 1) -> AsyncIterator[None]:
    """``count`` connections of the app's Redis pool checked out by the test."""
    assert runtime.redis is not None
    pool = runtime.redis.connection_pool
    connections = [await pool.get_connection() for _ in range(count)]
    try:
        yield
    finally:
        for connection in connections:
            await pool.release(connection)


class WriteLock:
    """Another connection's lock on ``table`` that makes the app's writes wait.

    MariaDB: ``LOCK TABLES … WRITE`` (reads of the table wait too). SQLite:
    ``BEGIN IMMEDIATE`` (in WAL mode only writers wait; readers never do).
    """

    def __init__(self, database_url: str, table: str) -> None:
        self.url = make_url(database_url)
        self.table = table
        self._release: Callable[[], Any] | None = None

    async def acquire(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            assert self.url.database
            sqlite = await aiosqlite.connect(self.url.database, isolation_level=None)
            await sqlite.execute("BEGIN IMMEDIATE")

            async def release_sqlite() -> None:
                await sqlite.execute("ROLLBACK")
                await sqlite.close()

            self._release = release_sqlite
        else:
            engine = create_async_engine(self.url)
            connection = await engine.connect()
            await connection.execute(text(f"LOCK TABLES {self.table} WRITE"))

            async def release_mariadb() -> None:
                await connection.execute(text("UNLOCK TABLES"))
                await connection.close()
                await engine.dispose()

            self._release = release_mariadb

    async def release(self) -> None:
        """Let the waiting statements go on (again is fine)."""
        release, self._release = self._release, None
        if release is not None:
            await release()


def request_tasks() -> list[asyncio.Task[Any]]:
    """Quart's task for each request being handled (the one it cancels when the client goes)."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") == "ASGIHTTPConnection.handle_request"
    ]
