"""Servers of a test's own, started from the system's binaries, to break at will.

The fault drills (tests/faults) and the Redis client's outage tests
(tests/infra/test_redis_outages.py) stop, restart and freeze these, never the
servers the rest of the suite (or anyone else) uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.mailbox import free_port

REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT_SECONDS = 60.0  # a bound on waiting for a server to answer
STOP_TIMEOUT_SECONDS = 60.0


async def end_process(process: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM (both servers then write their data out and exit), and wait."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
    process.terminate()
    try:
        await asyncio.to_thread(process.wait, STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        await asyncio.to_thread(process.wait)
        pytest.fail(f"{name} ignored SIGTERM for {STOP_TIMEOUT_SECONDS:.0f} s; killed it")


async def wait_until_ready(
    ready: Callable[[], Awaitable[bool]], name: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    """Wait until ``ready()`` is true (errors count as not yet); fail with the log if never."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(Exception):
            if await ready():
                return
        if time.monotonic() > deadline:
            await end_process(process, name)
            pytest.fail(
                f"{name} did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{log_tail(log)}"
            )
        await asyncio.sleep(0.1)


def log_tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class PrivateRedis:
    """A ``redis-server`` of the drill's own: stop, start, freeze and thaw it at will."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    async def start(self) -> None:
        """Start (or restart) on the same port and data folder; returns once it answers."""
        assert self.process is None, "redis is running already"
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--logfile",
                str(self.log_path),
                "--daemonize",
                "no",
                # AOF keeps every write across stop() and start(); no RDB snapshots.
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest is not for it
        )
        await wait_until_ready(self.ping, "redis-server", self.process, self.log_path)

    async def ping(self) -> bool:
        client = Redis.from_url(self.url, socket_timeout=1)
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """SIGTERM: Redis flushes its AOF and exits; returns once it has."""
        process, self.process = self.process, None
        self.frozen = False
        if process is not None:
            await end_process(process, "redis-server")

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung server)."""
        assert self.process is not None, "redis is not running"
        self.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        """SIGCONT: it answers again, including what was asked while it was frozen."""
        assert self.process is not None, "redis is not running"
        self.process.send_signal(signal.SIGCONT)
        self.frozen = False
