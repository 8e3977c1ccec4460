"""Live updates end to end: real WebSocket clients against a real multi-worker Gallery.

Every server here is the production shape: ``gallery.serving`` (the supervising
master) with two Hypercorn workers, on the session's MariaDB and Redis (or on a
private Redis the test stops), built from the pieces of ``tests/browser/conftest.py``.
The clients are the ``websockets`` library's, with the cookies a sign-in over
HTTP gave an ``httpx`` client, so a socket is opened exactly as a page opens it.

Helpers:

* ``start_live_server(workers=2, redis_url=None, **settings)``: a server with
  extra ``GALLERY_*`` settings (``live_queue_size="8"`` sets
  ``GALLERY_LIVE_QUEUE_SIZE``), stopped at teardown;
* ``open_socket`` / ``sockets_on_each_worker``: sockets with their ``hello``;
* ``LiveSocket.next_event(predicate)``, ``LiveSocket.closed()``: bounded waits
  for what the server sends (messages nobody waits for are skipped, never failed).

Waits are bounds, never assertions about speed: a server that does what it
should answers within milliseconds; the bounds only turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.browser.conftest import (
    SUPERVISED,
    GalleryServer,
    hypercorn_command,
    post_form,
    server_environment,
)
from tests.helpers import make_active_user
from tests.images import store_image
from tests.mailbox import free_port

PASSWORD = "correct horse battery"
# Bounds on waiting (see the module's docstring): generous, so a slow CI box passes.
EVENT_TIMEOUT_SECONDS = 15.0
# The server checks every ~2 s whether a socket's sign-in still holds.
SIGN_OUT_TIMEOUT_SECONDS = 20.0
CLOSE_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 10.0
# The kernel picks the worker that accepts a connection; this many tries at
# reaching every worker is far more than it ever takes.
WORKER_PROBES = 60

Message = dict[str, Any]


# -- servers ------------------------------------------------------------------

LiveServerFactory = Callable[..., Awaitable[GalleryServer]]


@pytest.fixture
async def start_live_server(
    backend: dict[str, object], instance_root: Path, clean: None, tmp_path: Path
) -> AsyncIterator[LiveServerFactory]:
    """``await start_live_server(workers=2, redis_url=None, **settings)``; stopped at teardown.

    Like ``start_server`` of tests/browser (same environment, same command, the
    supervising master), plus settings: each keyword becomes ``GALLERY_<NAME>``.
    ``redis_url`` puts the server on another Redis (a ``private_redis``).
    """
    servers: list[GalleryServer] = []

    async def start(
        workers: int = 2, redis_url: str | None = None, **settings: str
    ) -> GalleryServer:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        on_backend = {**backend, "redis_url": redis_url or backend["redis_url"]}
        env = server_environment(on_backend, instance_root, url)
        env.update({f"GALLERY_{name.upper()}": value for name, value in settings.items()})
        log_dir = tmp_path / f"server-{len(servers) + 1}"
        log_dir.mkdir()
        server = GalleryServer(
            env, port, workers, log_dir, hypercorn_command(port, workers, SUPERVISED)
        )
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def live_runtime(settings: Settings, clean: None) -> AsyncIterator[Runtime]:
    """A runtime on the session's database and Redis, to make people and photos."""
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


# -- people -------------------------------------------------------------------


@dataclass
class Person:
    """Someone signed in over HTTP: their client (cookies, CSRF token) and id."""

    username: str
    user_id: int
    client: httpx.AsyncClient
    csrf: str

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.client.cookies.jar)

    async def like(self, image_id: int) -> httpx.Response:
        return await self.client.put(
            f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": self.csrf}
        )

    async def unlike(self, image_id: int) -> httpx.Response:
        return await self.client.delete(
            f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": self.csrf}
        )

    async def upload(self, data: bytes, description: str = "") -> int:
        response = await self.client.post(
            "/api/v1/images",
            files={"file": ("photo.jpg", data, "image/jpeg")},
            data={"description": description},
            headers={"X-CSRF-Token": self.csrf},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


async def sign_in(server: GalleryServer, username: str) -> httpx.AsyncClient:
    """A client signed in through the /login form (a new sign-in each time)."""
    client = httpx.AsyncClient(base_url=server.url, timeout=HTTP_TIMEOUT_SECONDS)
    response = await post_form(client, "/login", {"login": username, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client


@pytest.fixture
async def people(live_runtime: Runtime) -> AsyncIterator[Callable[..., Awaitable[Person]]]:
    """``await people(server, "alice")``: an active account, signed in over HTTP.

    Asking again for the same name signs the same account in once more (a second
    sign-in, as a second browser would have).
    """
    made: dict[str, int] = {}
    async with AsyncExitStack() as clients:

        async def person(server: GalleryServer, username: str) -> Person:
            if username not in made:
                made[username] = await make_active_user(
                    live_runtime, username, f"{username}@example.com", PASSWORD
                )
            client = await sign_in(server, username)
            clients.push_async_callback(client.aclose)
            me = await client.get("/api/v1/me")
            assert me.status_code == 200, me.text
            return Person(username, made[username], client, me.json()["csrf_token"])

        yield person


People = Callable[..., Awaitable[Person]]


class AlicesPhoto(NamedTuple):
    alice: Person
    bob: Person
    image_id: int


async def alices_photo(server: GalleryServer, people: People, runtime: Runtime) -> AlicesPhoto:
    """alice and bob signed in on ``server``, and a photo of alice's for bob to like."""
    alice = await people(server, "alice")
    bob = await people(server, "bob")
    return AlicesPhoto(alice, bob, await store_image(runtime, alice.user_id))


# -- sockets ------------------------------------------------------------------


def live_url(server: GalleryServer) -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/live"


@dataclass
class LiveSocket:
    """A client socket and the ``hello`` it was greeted with."""

    connection: ClientConnection
    hello: Message
    skipped: list[Message] = field(default_factory=list)

    @property
    def worker(self) -> str:
        return str(self.hello["worker"])

    async def send_json(self, message: Message) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout: float = EVENT_TIMEOUT_SECONDS) -> Message:
        """The next message, skipping keep-alives as a page does."""
        async with asyncio.timeout(timeout):
            while True:
                text = await self.connection.recv()
                assert isinstance(text, str), f"the server sent a binary frame: {text!r}"
                message = json.loads(text)
                assert isinstance(message, dict), text
                if message.get("type") != "keepalive":
                    return message

    async def next_event(
        self, wanted: Callable[[Message], bool], timeout: float = EVENT_TIMEOUT_SECONDS
    ) -> Message:
        """The next message ``wanted`` accepts; the others are kept in ``skipped``."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.receive(timeout)
                if wanted(message):
                    return message
                self.skipped.append(message)

    async def subscribe(self, *topics: str) -> dict[str, int | None]:
        """Subscribe and return the ``seqs`` of the ``subscribed`` reply."""
        await self.send_json({"type": "subscribe", "topics": list(topics)})
        reply = await self.next_event(lambda m: m["type"] == "subscribed")
        seqs: dict[str, int | None] = reply["seqs"]
        return seqs

    async def closed(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> tuple[int | None, str]:
        """Wait for the server to close the socket (reading what comes before):
        the close code and reason it sent, ``(None, "")`` if it sent no close frame."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    self.skipped.append(json.loads(await self.connection.recv()))
            except ConnectionClosed as closed:
                if closed.rcvd is None:
                    return None, ""
                return closed.rcvd.code, closed.rcvd.reason

    async def close(self) -> None:
        await self.connection.close()


async def open_socket(
    server: GalleryServer,
    person: Person | None = None,
    *,
    origin: str | None = None,
    sock: socket.socket | None = None,
    max_queue: int = 16,
    compression: str | None = "deflate",
) -> LiveSocket:
    """A socket as ``person``'s page opens it (anonymous without one), after its hello.

    No client pings (``ping_interval=None``): a test that stops reading must not
    be closed by the client's own keep-alive.
    """
    headers = {"Cookie": person.cookie_header} if person is not None else {}
    connection = await connect(
        live_url(server),
        origin=origin,  # type: ignore[arg-type]
        additional_headers=headers,
        sock=sock,
        max_queue=max_queue,
        compression=compression,
        ping_interval=None,
        open_timeout=HTTP_TIMEOUT_SECONDS,
        close_timeout=5,
    )
    first = json.loads(await asyncio.wait_for(connection.recv(), EVENT_TIMEOUT_SECONDS))
    assert first["type"] == "hello", first
    return LiveSocket(connection, first)


async def sockets_on_each_worker(
    server: GalleryServer, person: Person | None = None, workers: int = 2
) -> list[LiveSocket]:
    """One socket on each of the server's workers (told apart by the hello's ``worker``)."""
    by_worker: dict[str, LiveSocket] = {}
    for _ in range(WORKER_PROBES):
        live = await open_socket(server, person)
        if live.worker in by_worker:
            await live.close()
            await asyncio.sleep(0.05)  # let the other worker reach accept() first
            continue
        by_worker[live.worker] = live
        if len(by_worker) == workers:
            return list(by_worker.values())
    for live in by_worker.values():
        await live.close()
    raise AssertionError(
        f"{WORKER_PROBES} sockets reached only the workers {sorted(by_worker)}, not {workers}"
    )


def event_of(kind: str, topic: str, **fields: object) -> Callable[[Message], bool]:
    """A predicate: an event of this type on this topic whose fields match ``fields``."""

    def wanted(message: Message) -> bool:
        return (
            message.get("type") == kind
            and message.get("topic") == topic
            and all(message.get(name) == value for name, value in fields.items())
        )

    return wanted


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/live is a ``live`` test (``-m "not live"`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.live)
