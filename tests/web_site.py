"""A real local web site for the crawler's tests: aiohttp, in a thread of its own.

The importer's HTTP layer (``gallery.infra.web_fetch``) is tested against real
sockets and a real server, not mocks: what matters is what really goes over
the wire (which paths were asked for, how many at once, how far a body got
before the client hung up). The server runs its own event loop in its own
thread, so an async test can drive the code under test on pytest's loop while
the site answers, and a subprocess (the CLI) can crawl it too.

Pages are added at any time, before or after ``start()``: one catch-all route
looks them up by path (with the query first, then without). Unknown paths
answer 404. Every request is logged by the Host it named ("127.0.0.1" and
"localhost" reach the same server as two hosts) with its start and end times
(``time.monotonic()``, the same clock as the test's), and the server counts
how many requests per host it is answering at once.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK = "127.0.0.1"
DRIP_CHUNK_BYTES = 64 * 1024
START_TIMEOUT_SECONDS = 10.0
# Handlers still running when the site stops (slow pages a client gave up on) are
# cancelled after this long; the thread is joined within STOP_TIMEOUT_SECONDS.
SHUTDOWN_GRACE_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class LoggedRequest:
    host: str  # the host name of the Host header, without the port
    path: str  # with the query string
    user_agent: str
    started: float  # time.monotonic() when the handler began
    finished: float | None = None  # … and when it returned (None while running)


@dataclass
class _Drip:
    """How much of a dripped body the server got out before it stopped."""

    bytes_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)


class TestSite:
    """``http://127.0.0.1:<port>/…``: pages, redirects, slow and throttled answers, a log."""

    __test__ = False  # a helper, not a test class, whatever pytest thinks of its name

    def __init__(self) -> None:
        self.port = 0
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._log: list[LoggedRequest] = []
        self._in_flight: dict[str, int] = {}
        self._most_in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._most_in_flight_total = 0
        self._drips: dict[str, _Drip] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # Running -----------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free loopback port; returns once the site's loop is serving."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((LOOPBACK, 0))
        self.port = listener.getsockname()[1]
        loop = asyncio.new_event_loop()
        serving = threading.Event()
        failures: list[BaseException] = []
        thread = threading.Thread(
            target=self._serve,
            args=(loop, listener, serving, failures),
            name=f"test-site-{self.port}",
            daemon=True,
        )
        thread.start()
        if not serving.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"the test site did not start within {START_TIMEOUT_SECONDS} s")
        if failures:
            thread.join(STOP_TIMEOUT_SECONDS)
            raise RuntimeError("the test site could not start") from failures[0]
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            raise RuntimeError(f"the test site did not stop within {STOP_TIMEOUT_SECONDS} s")

    def __enter__(self) -> TestSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        serving: threading.Event,
        failures: list[BaseException],
    ) -> None:
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a handler whose client hung up stops (a slow page, a drip).
        runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
        )
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, listener).start())
        except BaseException as exc:
            failures.append(exc)
            serving.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            listener.close()
            return
        loop.call_soon(serving.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()
            listener.close()

    # Pages -------------------------------------------------------------------

    def url(self, path: str, host: str = LOOPBACK) -> str:
        """``http://127.0.0.1:PORT/path``; ``host="localhost"`` is a second host, same server."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://{host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        """Answer ``path`` (with its query, if it has one) with an aiohttp handler."""
        with self._lock:
            self._handlers[path] = handler

    def page(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type, **(headers or {})}

        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(body=data, status=status, headers=all_headers)

        self.route(path, answer)

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        async def answer(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": to})

        self.route(path, answer)

    def slow(self, path: str, body: bytes, content_type: str, delay_seconds: float) -> None:
        """Wait ``delay_seconds`` before answering at all (headers included)."""

        async def answer(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(delay_seconds)
            return web.Response(body=body, headers={"Content-Type": content_type})

        self.route(path, answer)

    def drip(self, path: str, total_bytes: int, content_type: str, with_length: bool) -> None:
        """Stream ``total_bytes`` in 64 KB chunks, with a Content-Length or chunked.

        How far it got is ``bytes_sent(path)``: written chunks count once the
        connection took them, so a client that hangs up early leaves it well short.
        """

        async def answer(request: web.Request) -> web.StreamResponse:
            drip = _Drip()
            with self._lock:
                self._drips[path] = drip
            response = web.StreamResponse(headers={"Content-Type": content_type})
            if with_length:
                response.content_length = total_bytes
            else:
                response.enable_chunked_encoding()
            chunk = bytes(DRIP_CHUNK_BYTES)
            try:
                await response.prepare(request)
                while drip.bytes_sent < total_bytes:
                    piece = chunk[: total_bytes - drip.bytes_sent]
                    await response.write(piece)
                    with self._lock:
                        drip.bytes_sent += len(piece)
                await response.write_eof()
            except ConnectionError:
                pass  # the client hung up: that is what the tests want to see
            finally:
                drip.finished.set()
            return response

        self.route(path, answer)

    def bytes_sent(self, path: str, wait_seconds: float = 10.0) -> int:
        """How many body bytes the last drip of ``path`` sent, once it has stopped.

        Blocks until the drip ends (the client hung up, or it sent everything);
        from an async test, call it through ``asyncio.to_thread``.
        """
        with self._lock:
            drip = self._drips[path]
        if not drip.finished.wait(wait_seconds):
            raise AssertionError(f"the drip of {path} is still sending after {wait_seconds} s")
        with self._lock:
            return drip.bytes_sent

    def throttled(
        self, path: str, body: bytes, content_type: str, refusals: int, retry_after: str
    ) -> None:
        """Answer 429 with ``Retry-After: retry_after`` the first ``refusals`` times, then 200."""
        refused = 0

        async def answer(request: web.Request) -> web.StreamResponse:
            nonlocal refused  # only the site's loop runs this: no lock needed
            if refused < refusals:
                refused += 1
                return web.Response(status=429, headers={"Retry-After": retry_after})
            return web.Response(body=body, headers={"Content-Type": content_type})

        self.route(path, answer)

    # The log -----------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in order of arrival (a copy)."""
        with self._lock:
            return list(self._log)

    def paths_requested(self, host: str | None = None) -> list[str]:
        return [r.path for r in self.requests if host is None or r.host == host]

    def max_in_flight(self, host: str | None = None) -> int:
        """The most requests to ``host`` (or to any host) being answered at once."""
        with self._lock:
            if host is None:
                return self._most_in_flight_total
            return self._most_in_flight.get(host, 0)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._most_in_flight = dict(self._in_flight)
            self._most_in_flight_total = self._in_flight_total

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        host = request.url.host or ""
        logged = LoggedRequest(
            host=host,
            path=request.path_qs,
            user_agent=request.headers.get("User-Agent", ""),
            started=time.monotonic(),
        )
        with self._lock:
            self._log.append(logged)
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            self._most_in_flight[host] = max(
                self._most_in_flight.get(host, 0), self._in_flight[host]
            )
            self._in_flight_total += 1
            self._most_in_flight_total = max(self._most_in_flight_total, self._in_flight_total)
            handler = self._handlers.get(request.path_qs) or self._handlers.get(request.path)
        try:
            if handler is None:
                return web.Response(status=404, text="not found")
            return await handler(request)
        finally:
            with self._lock:
                logged.finished = time.monotonic()
                self._in_flight[host] -= 1
                self._in_flight_total -= 1
