"""Drills: the master (gallery.serving) replaces Hypercorn workers that die.

They run the real master (``python -m gallery.serving``) in a subprocess
on the test back-end, with two workers, and break it for real: a worker is
killed with SIGKILL while clients keep requesting pages, an application that
cannot load makes every worker crash, SIGHUP replaces the workers.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import (
    SUPERVISED,
    GalleryServer,
    hypercorn_command,
    pid_alive,
    server_environment,
)
from tests.mailbox import free_port

WORKERS = 2
# A bound on waiting for the master to do something, not a timed assertion: generous,
# because on a loaded machine each round of spawned workers takes seconds to fail.
PATIENCE_SECONDS = 120.0
BACK_OFF_LINE = re.compile(
    r"workers keep dying \(\d+ deaths in the last \d+ s\): waiting ([\d.]+) s"
)
DIED_LINE = re.compile(r"ERROR \[gallery\.serving\] worker (\d+) died unexpectedly \((.+?)\)")

SupervisedFactory = Callable[..., Awaitable[GalleryServer]]


@pytest.fixture
async def start_supervised(
    backend: dict[str, object], instance_root: Path, clean: None, tmp_path: Path
) -> AsyncIterator[SupervisedFactory]:
    """``await start_supervised()``: gallery.serving with two workers; stopped at teardown.

    ``application=`` serves something else than gallery.asgi:app, and
    ``wait=False`` returns once the process started, without waiting for a 200.
    """
    servers: list[GalleryServer] = []

    async def start(application: str = "gallery.asgi:app", wait: bool = True) -> GalleryServer:
        port = free_port()
        server = GalleryServer(
            server_environment(backend, instance_root, f"http://127.0.0.1:{port}"),
            port,
            WORKERS,
            tmp_path,
            hypercorn_command(port, WORKERS, SUPERVISED, application),
        )
        servers.append(server)
        if wait:
            await server.start()
        else:
            server.launch()
        return server

    yield start
    for server in servers:
        await server.stop()


async def eventually(condition: Callable[[], bool], what: str, server: GalleryServer) -> None:
    """Wait until ``condition()`` holds; fail with the server's log if it never does."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert server.running, f"the master exited while waiting for {what}:\n{server.output()}"
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {PATIENCE_SECONDS:.0f} s:\n{server.output()}")
        await asyncio.sleep(0.05)


async def stop_and_check_nothing_is_left(server: GalleryServer, pids: set[int]) -> None:
    code = await server.stop()
    assert code == 0, f"the master exited with {code}:\n{server.output()}"
    assert [pid for pid in pids if pid_alive(pid)] == []


@dataclass(frozen=True)
class Outcome:
    client: int
    path: str
    after_kill: bool
    status: int | None  # None: the request failed at transport level
    error: str = ""


async def test_a_killed_worker_is_replaced_while_the_site_keeps_answering(
    start_supervised: SupervisedFactory,
) -> None:
    server = await start_supervised()
    first_workers = server.worker_pids()
    assert len(first_workers) == WORKERS
    outcomes: list[Outcome] = []
    killed = asyncio.Event()
    done = asyncio.Event()

    async def keep_requesting(client_number: int, path: str) -> None:
        # One keep-alive connection per client, so the client whose connection
        # was on the killed worker sees at most one failed request.
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0, limits=limits) as client:
            while not done.is_set():
                # Sorted by when the answer came: the kill and killed.set() happen
                # with no await between, so "before" means before the SIGKILL.
                try:
                    response = await client.get(path)
                except httpx.TransportError as error:
                    outcome = Outcome(client_number, path, killed.is_set(), None, repr(error))
                else:
                    outcome = Outcome(client_number, path, killed.is_set(), response.status_code)
                outcomes.append(outcome)

    paths = ["/", "/api/v1/feed"] * 3
    clients = [asyncio.create_task(keep_requesting(n, path)) for n, path in enumerate(paths)]
    try:
        # Kill a worker that is serving the feed right now.
        await eventually(lambda: bool(server.access_log_pids("/api/v1/feed")), "feed", server)
        victim = min(server.access_log_pids("/api/v1/feed"))
        os.kill(victim, signal.SIGKILL)
        killed.set()

        def replaced() -> bool:
            workers = server.worker_pids()
            return victim not in workers and len(workers - first_workers) == 1

        await eventually(replaced, "replacement worker", server)
        replacement = (server.worker_pids() - first_workers).pop()
        # The replacement takes new connections as soon as it has loaded the app.
        for _ in range(50):
            if replacement in server.access_log_pids("/"):
                break
            async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as fresh:
                responses = await asyncio.gather(*(fresh.get("/") for _ in range(4)))
            assert {r.status_code for r in responses} == {200}
        else:
            pytest.fail(f"the replacement {replacement} served nothing:\n{server.output()}")
        await eventually(lambda: len([o for o in outcomes if o.after_kill]) > 20, "load", server)
    finally:
        done.set()
        await asyncio.gather(*clients)

    before = [o for o in outcomes if not o.after_kill]
    after = [o for o in outcomes if o.after_kill]
    assert before and {o.status for o in before} == {200}, before
    # After the kill every request is answered 200, except that a client whose
    # connection was on the dying worker may lose the one request in flight on
    # it (a transport error: reset or closed connection); its next request, on
    # a new connection, is answered again.
    assert {o.status for o in after} <= {200, None}
    for number in range(len(paths)):
        failures = [o for o in after if o.client == number and o.status is None]
        assert len(failures) <= 1, failures
        assert after and [o for o in after if o.client == number][-1].status == 200
    assert {o.path for o in after if o.status == 200} == {"/", "/api/v1/feed"}

    deaths = DIED_LINE.findall(server.output())
    assert deaths == [(str(victim), "killed by SIGKILL")], server.output()
    await stop_and_check_nothing_is_left(server, first_workers | {replacement})


async def test_workers_that_keep_crashing_make_the_master_back_off(
    start_supervised: SupervisedFactory,
) -> None:
    # An application that cannot be imported: every worker dies as it starts,
    # as after a bad deploy.
    server = await start_supervised(application="gallery_no_such_module:app", wait=False)

    def back_offs() -> list[float]:
        return [float(delay) for delay in BACK_OFF_LINE.findall(server.output())]

    await eventually(lambda: len(back_offs()) >= 4, "four back-offs", server)
    log = server.output()
    assert back_offs()[:4] == [0.5, 1.0, 2.0, 4.0], log
    # Not spinning: between two back-offs no more workers die than the master
    # had running (at most two rounds of WORKERS), and every death is logged.
    parts = re.split(BACK_OFF_LINE, log)  # text, delay, text, delay, …
    between = [parts[2], parts[4], parts[6]]
    assert [len(DIED_LINE.findall(part)) <= 2 * WORKERS for part in between] == [True] * 3
    assert {how for _, how in DIED_LINE.findall(log)} == {"exit status 1"}
    workers = server.worker_pids()
    await stop_and_check_nothing_is_left(server, workers)


async def test_sighup_replaces_the_workers_one_by_one_without_refusing_anyone(
    start_supervised: SupervisedFactory,
) -> None:
    server = await start_supervised()
    assert server.process is not None
    old_workers = server.worker_pids()
    server.process.send_signal(signal.SIGHUP)
    statuses: list[int] = []

    def all_replaced() -> bool:
        workers = server.worker_pids()
        return len(workers) == WORKERS and not workers & old_workers

    deadline = time.monotonic() + PATIENCE_SECONDS
    while not all_replaced():
        assert time.monotonic() < deadline, server.output()
        # A fresh connection each time: the kernel hands it to whichever worker
        # accepts, old (draining) or new, and none may be refused.
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
            statuses += [r.status_code for r in await asyncio.gather(*(client.get("/"),) * 2)]
    assert statuses and set(statuses) == {200}
    # An old worker that has exited is gone from the children (a zombie has no
    # command line) a moment before the master reaps it and says so: wait for that.
    stopped = [f"worker {pid} stopped (exit status 0)" for pid in old_workers]
    while not all(line in server.output() for line in stopped):
        assert time.monotonic() < deadline, server.output()
        await asyncio.sleep(0.1)
    log = server.output()
    assert "SIGHUP: replacing the workers one by one" in log
    assert DIED_LINE.findall(log) == []
    await stop_and_check_nothing_is_left(server, old_workers | server.worker_pids())
