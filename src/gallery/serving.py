"""A supervising master for Hypercorn workers: bind once, replace any worker that dies.

Hypercorn's own master (``hypercorn.run.run``, 0.17/0.18) ends everything when
one worker exits with a non-zero status: a single ``kill -9`` (the OOM killer,
a crash in a C extension such as Pillow) stops the other workers too and the
whole site is down, with nothing in the log. This master is built from the
same public pieces (``Config``, ``config.create_sockets()``, the worker
functions of ``hypercorn.asyncio.run``, a ``spawn`` multiprocessing context) and
differs only in what it does when a worker dies:

* it logs an ERROR naming the worker's pid and how it ended (exit status or
  signal), and starts a replacement on the sockets it bound once, so the
  other workers keep answering and the kernel queues new connections meanwhile;
* when workers keep dying (more deaths than there are workers within
  ``RestartPolicy.window_seconds``) it waits before starting more, doubling the
  wait up to a cap; it never gives up, and says so in the log every time.

Signals: SIGTERM or SIGINT drain the workers as Hypercorn does (each finishes
in-flight requests within ``graceful_timeout``), stragglers are then ended,
and the master exits 0; a second SIGTERM/SIGINT ends the workers at once.
SIGHUP replaces the workers one by one (a new one is started before an old one
is asked to drain), so new code is loaded without refusing a connection.

Run it as ``python -m gallery.serving --config hypercorn.toml gallery.asgi:app``
(the options are a subset of Hypercorn's, with the same meaning); ``gallery
serve`` runs the same master in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

from hypercorn.config import Config, Sockets
from hypercorn.typing import WorkerFunc
from wsproto.extensions import Extension

from gallery import draining

log = logging.getLogger("gallery.serving")

# Beyond graceful_timeout, the time a draining worker gets for the app's own
# shutdown (closing pools, finishing the mail worker's round) before it is ended.
SHUTDOWN_MARGIN_SECONDS = 10.0
# How long a worker ended with SIGTERM gets before SIGKILL.
TERMINATE_SECONDS = 5.0
# Between a draining worker no longer accepting and Hypercorn closing its idle
# connections: what a connection accepted just before has to send its request.
FIRST_REQUEST_GRACE_SECONDS = 0.5


def describe_exit(exitcode: int | None) -> str:
    """How a worker ended, in words: "exit status 1" or "killed by SIGKILL"."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by {name}"
    return f"exit status {exitcode}"


@dataclass
class RestartPolicy:
    """When to start a replacement worker: at once, unless workers keep dying.

    A few deaths at once (the OOM killer taking two workers) are replaced
    immediately. More deaths than there are workers within ``window_seconds``
    is a crash loop (a bad deploy, a dependency that kills every worker): then
    each round of replacements waits, starting at ``first_delay_seconds`` and
    doubling up to ``max_delay_seconds``, so the master neither spins nor gives
    up. The back-off ends once the workers started last have lived for
    ``window_seconds`` (deaths measured from the last restart, not the last
    death, so the master's own waiting does not count as a quiet period).
    """

    workers: int
    window_seconds: float = 10.0
    first_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    _deaths: deque[float] = field(default_factory=deque)
    _backing_off: bool = False
    _next_delay: float = 0.0
    _last_restart: float | None = None

    def __post_init__(self) -> None:
        self._next_delay = self.first_delay_seconds

    def record_death(self, at: float) -> None:
        if (
            self._backing_off
            and self._last_restart is not None
            and at - self._last_restart >= self.window_seconds
        ):
            # The workers started after the last back-off lived long enough.
            self._backing_off = False
            self._next_delay = self.first_delay_seconds
        self._deaths.append(at)

    def record_restart(self, at: float) -> None:
        self._last_restart = at

    def recent_deaths(self, now: float) -> int:
        while self._deaths and now - self._deaths[0] > self.window_seconds:
            self._deaths.popleft()
        return len(self._deaths)

    def delay_before_restart(self, now: float) -> float:
        """Seconds to wait before replacing the workers that died (0: at once)."""
        if not self._backing_off and self.recent_deaths(now) <= self.workers:
            return 0.0
        self._backing_off = True
        delay = self._next_delay
        self._next_delay = min(delay * 2, self.max_delay_seconds)
        return delay


def run_worker(
    worker_func: WorkerFunc, config: Config, sockets: Sockets, shutdown_event: ProcessEvent
) -> None:
    """A worker process: Hypercorn's worker function, with Ctrl-C left to the master.

    A terminal's Ctrl-C reaches the whole process group; the master decides
    what it means (drain, or end at once), so workers ignore SIGINT, as
    Hypercorn's master arranges by ignoring it while it spawns them.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    servers = record_listening_servers()
    worker_func(config, sockets, DrainNotice(shutdown_event, servers))  # type: ignore[arg-type]


def record_listening_servers() -> list[asyncio.AbstractServer]:
    """The listening servers Hypercorn's worker opens in this (worker) process.

    Hypercorn keeps them to itself, and closes them only after it has told
    every connection to end; a connection it accepted a moment before, whose
    request has not been read yet, counts as idle then and is closed without
    an answer (seen in the SIGHUP drill). ``DrainNotice`` stops accepting
    first. Hypercorn's worker calls ``asyncio.start_server`` for each
    listening socket; this process is the worker and runs nothing else.
    """
    servers: list[asyncio.AbstractServer] = []
    start_server = asyncio.start_server

    async def start_and_record(*args: Any, **kwargs: Any) -> asyncio.AbstractServer:
        server = await start_server(*args, **kwargs)
        servers.append(server)
        return server

    asyncio.start_server = start_and_record  # type: ignore[assignment]
    return servers


class DrainNotice:
    """The worker's shutdown event, as Hypercorn polls it from the worker's event loop.

    When the event is set, draining begins in three steps: this worker stops
    accepting (the other workers keep accepting on the shared socket), the app
    hears of it (``gallery.draining``: open WebSockets never finish by
    themselves, so the app closes them, "going away"), and only
    ``FIRST_REQUEST_GRACE_SECONDS`` later does Hypercorn hear it, closing the
    connections that are idle by then and finishing the rest.
    """

    def __init__(self, event: ProcessEvent, servers: list[asyncio.AbstractServer]) -> None:
        self.event = event
        self.servers = servers
        self.began: float | None = None

    def is_set(self) -> bool:
        if not self.event.is_set():
            return False
        if self.began is None:
            self.began = time.monotonic()
            for server in self.servers:
                server.close()  # this process's copy of the socket: no more accepts here
            draining.begin()
        return time.monotonic() - self.began >= FIRST_REQUEST_GRACE_SECONDS

    def set(self) -> None:
        self.event.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.event.wait(timeout)


@dataclass(eq=False)
class Worker:
    """A worker process and what the master knows about it."""

    process: SpawnProcess
    pid: int
    shutdown_event: ProcessEvent  # one per worker, so that SIGHUP can drain one at a time
    exited: bool = False  # its sentinel closed: it is gone or going
    retiring: bool = False  # asked to drain by SIGHUP, its replacement already started
    terminated: bool = False  # sent SIGTERM, which ends a worker at once
    deadline: float | None = None  # when to escalate: drain -> SIGTERM -> SIGKILL

    def drain(self, deadline: float) -> None:
        self.shutdown_event.set()
        self.deadline = deadline

    def terminate(self) -> None:
        self.process.terminate()
        self.terminated = True
        self.deadline = time.monotonic() + TERMINATE_SECONDS


# The garbage collector's thresholds in a worker; Python's are (700, 10, 10).
# With 700, a worker serving thousands of requests a second runs a young
# collection every 700 allocations, and every tenth one moves the objects of
# the requests then in flight to the oldest generation. Those moves count
# towards a full collection, whose pause grows with everything the process
# holds: with 5,000 live sockets (about 700,000 objects) one worker paused
# 530 ms every 6 s under a feed poll, its p99 went from 79 to 604 ms and its
# rate fell 17 %. With 10,000 the same run saw no full collection at all, the
# poll's p99 stayed at 21 ms and its rate within 1 % of the socket-free one
# (README, "Benchmark"). Cyclic garbage still goes, a little later.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_garbage_collector() -> None:
    """Set ``GC_THRESHOLDS`` in this process (the workers call it as they import the app)."""
    gc.set_threshold(*GC_THRESHOLDS)


class _DeclinedDeflate(Extension):
    """Hypercorn's stand-in for wsproto's ``PerMessageDeflate``: declines every offer."""

    name = "permessage-deflate"

    def offer(self) -> bool:
        return False  # a client's side; a server never offers

    def accept(self, offer: str) -> None:
        return None


def decline_websocket_compression() -> None:
    """Answer WebSocket handshakes without ``permessage-deflate``, whatever the client offers.

    Hypercorn (0.17, 0.18) accepts the extension whenever a browser offers it
    and has no setting to refuse it (pgjones/hypercorn#307). Each socket that
    agrees keeps a zlib compressor and decompressor for its whole life:
    measured on one worker, 5,000 live sockets took 142 KB each with it and
    45 KB without. Live events are a few hundred bytes of JSON, which deflate
    barely shrinks, so the site declines it (as nginx in front does too,
    README "Deployment"). Hypercorn builds the extension list from the name
    ``PerMessageDeflate`` in ``hypercorn.protocol.ws_stream`` on every
    handshake, so replacing that name is enough; the workers call this as
    they import the app (``gallery.asgi``). Clients then simply send
    uncompressed frames, as RFC 7692 negotiation allows.
    """
    from hypercorn.protocol import ws_stream

    if not hasattr(ws_stream, "PerMessageDeflate"):
        raise RuntimeError(
            "hypercorn.protocol.ws_stream no longer names PerMessageDeflate: "
            "see decline_websocket_compression() in gallery/serving.py"
        )
    ws_stream.PerMessageDeflate = _DeclinedDeflate  # type: ignore[misc,assignment]


def worker_function(config: Config) -> WorkerFunc:
    """Hypercorn's worker function for ``config.worker_class`` (asyncio or uvloop)."""
    if config.worker_class == "uvloop":
        from hypercorn.asyncio.run import uvloop_worker

        return uvloop_worker
    if config.worker_class == "asyncio":
        from hypercorn.asyncio.run import asyncio_worker

        return asyncio_worker
    raise ValueError(f"gallery.serving runs asyncio or uvloop workers, not {config.worker_class!r}")


class Supervisor:
    """Keeps ``config.workers`` Hypercorn workers running on sockets bound once."""

    def __init__(self, config: Config, sockets: Sockets, policy: RestartPolicy | None = None):
        if config.workers < 1:
            raise ValueError("gallery.serving needs at least one worker")
        self.config = config
        self.sockets = sockets
        self.policy = policy or RestartPolicy(workers=config.workers)
        self.worker_func = worker_function(config)
        self.context: SpawnContext = get_context("spawn")
        self.workers: list[Worker] = []
        self._stop_signals = 0
        self._rolling: deque[Worker] = deque()
        self._wake = asyncio.Event()

    # -- the loop ---------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status (0 after a shutdown)."""
        loop = asyncio.get_running_loop()
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop_signal, self._on_stop_signal, stop_signal)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)
        try:
            self._fill()
            log.info(
                "Gallery master %d serving %s with %d %s workers",
                os.getpid(),
                ", ".join(self.config.bind),
                self.config.workers,
                self.config.worker_class,
            )
            while not self._stop_signals:
                await self._sleep_until_woken(self._next_deadline())
                self._reap()
                self._enforce_deadlines()
                self._roll_next()
                if self._missing() and not self._stop_signals:
                    await self._back_off_if_crash_looping()
                    self._reap()
                    if not self._stop_signals:
                        self._fill()
            await self._shut_down()
        finally:
            for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(handled)
        return 0

    def _on_stop_signal(self, received: signal.Signals) -> None:
        self._stop_signals += 1
        if self._stop_signals == 1:
            log.info("%s: shutting down gracefully", received.name)
        else:
            log.warning("%s again: ending the workers now", received.name)
            for worker in self.workers:
                if not worker.exited and not worker.terminated:
                    worker.terminate()
        self._wake.set()

    def _on_reload_signal(self) -> None:
        log.info("SIGHUP: replacing the workers one by one")
        self._rolling.extend(w for w in self.workers if not w.retiring and w not in self._rolling)
        self._wake.set()

    async def _sleep_until_woken(self, deadline: float | None) -> None:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    # -- workers ----------------------------------------------------------------

    def _start_worker(self) -> Worker:
        shutdown_event = self.context.Event()
        process = self.context.Process(
            target=run_worker,
            kwargs={
                "worker_func": self.worker_func,
                "config": self.config,
                "sockets": self.sockets,
                "shutdown_event": shutdown_event,
            },
        )
        process.start()
        assert process.pid is not None  # started
        worker = Worker(process, process.pid, shutdown_event)
        asyncio.get_running_loop().add_reader(process.sentinel, self._on_sentinel, worker)
        self.workers.append(worker)
        return worker

    def _on_sentinel(self, worker: Worker) -> None:
        asyncio.get_running_loop().remove_reader(worker.process.sentinel)
        worker.exited = True
        self._wake.set()

    def _missing(self) -> int:
        serving = sum(1 for w in self.workers if not w.retiring)
        return max(0, self.config.workers - serving)

    def _fill(self) -> None:
        missing = self._missing()
        for _ in range(missing):
            log.info("worker %d started", self._start_worker().pid)
        if missing:
            self.policy.record_restart(time.monotonic())

    def _reap(self) -> list[Worker]:
        """Collect the workers whose sentinel closed, logging how each one ended."""
        gone = [w for w in self.workers if w.exited]
        for worker in gone:
            # The sentinel closes as the process exits; join waits the last instant.
            worker.process.join()
            self.workers.remove(worker)
            if worker in self._rolling:
                self._rolling.remove(worker)
            how = describe_exit(worker.process.exitcode)
            planned = worker.retiring or self._stop_signals
            if planned:
                level = logging.INFO if worker.process.exitcode == 0 else logging.WARNING
                log.log(level, "worker %d stopped (%s)", worker.pid, how)
            else:
                self.policy.record_death(time.monotonic())
                # A clean exit nobody asked for is Hypercorn's max_requests recycling.
                level = logging.INFO if worker.process.exitcode == 0 else logging.ERROR
                log.log(
                    level,
                    "worker %d died unexpectedly (%s); starting a replacement",
                    worker.pid,
                    how,
                )
            worker.process.close()
        return gone

    async def _back_off_if_crash_looping(self) -> None:
        now = time.monotonic()
        delay = self.policy.delay_before_restart(now)
        if delay <= 0:
            return
        log.error(
            "workers keep dying (%d deaths in the last %.0f s): waiting %.1f s before "
            "starting more",
            self.policy.recent_deaths(now),
            self.policy.window_seconds,
            delay,
        )
        deadline = now + delay
        while not self._stop_signals and time.monotonic() < deadline:
            await self._sleep_until_woken(deadline)
            self._reap()

    def _roll_next(self) -> None:
        """SIGHUP: once no old worker is draining, start a new one and drain the next old one."""
        if self._stop_signals or any(w.retiring for w in self.workers):
            return
        while self._rolling:
            old = self._rolling.popleft()
            if old in self.workers and not old.exited:
                old.retiring = True
                self._fill()  # the replacement starts before the old worker stops accepting
                old.drain(time.monotonic() + self._drain_seconds())
                return

    def _drain_seconds(self) -> float:
        return float(self.config.graceful_timeout) + SHUTDOWN_MARGIN_SECONDS

    def _next_deadline(self) -> float | None:
        return min((w.deadline for w in self.workers if w.deadline is not None), default=None)

    def _enforce_deadlines(self) -> None:
        """A worker that overstays its drain gets SIGTERM; one that survives that, SIGKILL."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.exited or worker.deadline is None or now < worker.deadline:
                continue
            if not worker.terminated:
                log.warning("worker %d did not finish draining in time: ending it", worker.pid)
                worker.terminate()
            else:
                log.warning("worker %d outlived SIGTERM: killing it", worker.pid)
                worker.process.kill()
                worker.deadline = None

    async def _shut_down(self) -> None:
        """Drain every worker as Hypercorn does, then end whoever is left."""
        deadline = time.monotonic() + self._drain_seconds()
        for worker in self.workers:
            if not worker.terminated:
                worker.drain(deadline)
        while self.workers:
            await self._sleep_until_woken(self._next_deadline())
            self._reap()
            self._enforce_deadlines()
        log.info("all workers stopped")


def serve(config: Config, policy: RestartPolicy | None = None) -> int:
    """Bind ``config``'s sockets once and supervise its workers until told to stop."""
    if config.pid_path is not None:
        Path(config.pid_path).write_text(f"{os.getpid()}\n")
    sockets = config.create_sockets()
    try:
        return asyncio.run(Supervisor(config, sockets, policy).run())
    finally:
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets):
            sock.close()


def command_line_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gallery.serving",
        description="Serve an ASGI app with Hypercorn workers that are replaced when they die. "
        "The options mean what Hypercorn's do; they override the --config file.",
    )
    parser.add_argument("application", help="path.to.module:app, e.g. gallery.asgi:app")
    parser.add_argument("-c", "--config", help="Hypercorn's TOML configuration file")
    parser.add_argument("-b", "--bind", dest="binds", action="append", default=[])
    parser.add_argument("-w", "--workers", type=int)
    parser.add_argument("-k", "--worker-class", choices=["asyncio", "uvloop"])
    parser.add_argument("--access-logfile", help="'-' for standard output")
    parser.add_argument("--access-logformat")
    parser.add_argument("--error-logfile", "--log-file", dest="error_logfile")
    parser.add_argument("--log-level")
    parser.add_argument("--graceful-timeout", type=int)
    parser.add_argument("--keep-alive", type=int)
    parser.add_argument("--backlog", type=int)
    parser.add_argument("-p", "--pid", help="write the master's pid to this file")
    return parser


def config_from_command_line(args: Sequence[str]) -> Config:
    """``Config.from_toml(--config)``, then the command-line overrides, as Hypercorn's CLI."""
    options = command_line_parser().parse_args(args)
    config = Config.from_toml(options.config) if options.config else Config()
    config.application_path = options.application
    overrides = {
        "workers": options.workers,
        "worker_class": options.worker_class,
        "accesslog": options.access_logfile,
        "access_log_format": options.access_logformat,
        "errorlog": options.error_logfile,
        "loglevel": options.log_level,
        "graceful_timeout": options.graceful_timeout,
        "keep_alive_timeout": options.keep_alive,
        "backlog": options.backlog,
        "pid_path": options.pid,
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(config, name, value)
    if options.binds:
        config.bind = options.binds
    return config


def main(args: Sequence[str] | None = None) -> int:
    """``python -m gallery.serving``: the production entry point for process managers."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s"
        )
    return serve(config_from_command_line(sys.argv[1:] if args is None else args))


if __name__ == "__main__":
    sys.exit(main())
