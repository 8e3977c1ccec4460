"""The async engine, one session per unit of work, and dialect-aware statements."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.expression import Executable

# The pool when nothing says otherwise (the CLI, tests); the app passes its settings.
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_OVERFLOW = 20
DEFAULT_POOL_TIMEOUT_SECONDS = 10.0
# How long a new MariaDB connection may take: a server that is stopped refuses
# at once, but one that is unreachable would hold a request for the driver's
# default (10 s) before it could be answered 503.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5

# MySQL/MariaDB error codes that say the server cannot be reached or went away
# (not that a statement was wrong): too many connections, shutting down,
# connection killed, cannot connect (socket, TCP), gone away, lost during a
# query or the handshake, disconnected for inactivity.
UNAVAILABLE_MYSQL_CODES = frozenset({1040, 1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031})
# SQLite's transient refusals: another writer holds the file for too long, or
# the file cannot be opened right now.
UNAVAILABLE_SQLITE_MESSAGES = ("database is locked", "unable to open database file")


def make_engine(
    database_url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """Create the engine with settings that suit the backend.

    A request that finds every connection in use waits up to ``pool_timeout``
    seconds for one, then gets ``sqlalchemy.exc.TimeoutError`` (answered 503).
    """
    pool_limits: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout,
    }
    if database_url.startswith("sqlite"):
        # An in-memory database lives in one connection (SQLAlchemy's StaticPool),
        # which has no size to set.
        in_memory = make_url(database_url).database in (None, "", ":memory:")
        engine = create_async_engine(
            database_url, connect_args={"timeout": 30}, **({} if in_memory else pool_limits)
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers proceed while the worker writes; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # MySQL/MariaDB close idle connections (wait_timeout): ping before use and
    # recycle well inside the server's limit.
    return create_async_engine(
        database_url,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": connect_timeout},
        **pool_limits,
    )


class Database:
    """The engine and its session factory, started and stopped with the app."""

    def __init__(
        self,
        database_url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.url = database_url
        self.engine = make_engine(
            database_url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_timeout=connect_timeout,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one unit of work outside a request (CLI, worker, tests)."""
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


async def close_despite_cancellation(session: AsyncSession) -> None:
    """Close ``session`` completely, even if the calling task is cancelled meanwhile.

    A client that goes away makes Quart cancel the request's task, also while
    the request's session is being closed at teardown. Cancelled there, the
    connection's rollback stops halfway ("Exception during reset or similar")
    and the connection is thrown away. So the close runs in a task of its own
    that the cancellation cannot reach, as SQLAlchemy does itself when an
    ``async with`` session block exits; a cancellation that arrives meanwhile
    is raised again once the connection is back in the pool.
    """
    closing = asyncio.create_task(session.close())
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError as error:
            if closing.done():  # the close itself was cancelled (loop shutting down)
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled


def is_pool_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a wait for a pooled connection that ran out of time."""
    return isinstance(error, PoolTimeoutError)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached right now (not a bad statement).

    Such an error is answered 503 with Retry-After; the pool's pre-ping
    replaces the dead connections once the server is back.
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    original = error.orig
    code = original.args[0] if original is not None and original.args else None
    if isinstance(code, int):
        return code in UNAVAILABLE_MYSQL_CODES
    message = str(original).lower()
    return any(text in message for text in UNAVAILABLE_SQLITE_MESSAGES)


async def insert_unless_present(session: AsyncSession, table: Any, values: dict[str, Any]) -> bool:
    """Insert a row unless one with the same unique key exists; True if inserted.

    No exception and no rollback for the duplicate (a rollback would expire
    every object the request has loaded): ``INSERT … ON CONFLICT DO NOTHING`` on
    SQLite, ``INSERT IGNORE`` on MariaDB. Callers check foreign keys first,
    because ``INSERT IGNORE`` also turns their violations into warnings.
    """
    dialect = session.get_bind().dialect.name
    statement: Executable
    if dialect == "sqlite":
        statement = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = mysql.insert(table).values(**values).prefix_with("IGNORE")
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
