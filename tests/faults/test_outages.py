"""Drills: Redis stopped, frozen and restarted, MariaDB stopped, under a running site.

Gallery runs as production does (``gallery serve``, two workers) on private
servers that the drills really stop (SIGTERM), freeze (SIGSTOP) and start
again. What visitors must get meanwhile: public pages and feeds from the
database, a 503 with ``Retry-After`` for what cannot be done, never a 500;
and afterwards, the site back by itself with everybody still signed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from gallery.infra.runtime import Runtime
from tests.browser.conftest import post_form
from tests.faults.conftest import DrillGallery, PrivateMariaDB
from tests.helpers import add_image_with_comments, make_active_user
from tests.private_servers import PrivateRedis

PASSWORD = "correct horse battery"
# How long a recovery may take before the drill fails: a bound on waiting,
# never an assertion about speed (the site is expected back within seconds).
RECOVERY_ROUNDS = 150
ROUND_SECONDS = 0.2
# A request that Redis's outage made hang would fail the drill with a timeout.
CLIENT_TIMEOUT_SECONDS = 8.0


@dataclass(frozen=True)
class Scene:
    """Alice signed in (``member``), a stranger (``visitor``), and alice's photo."""

    member: httpx.AsyncClient
    visitor: httpx.AsyncClient
    image_id: int


@pytest.fixture
async def scene(drill_gallery: DrillGallery, drill_runtime: Runtime) -> AsyncIterator[Scene]:
    async with (
        signed_in_client(drill_gallery, drill_runtime) as member,
        anonymous(drill_gallery) as visitor,
    ):
        image_id, _ = await add_image_with_comments(drill_runtime, "alice")
        yield Scene(member, visitor, image_id)


@asynccontextmanager
async def signed_in_client(
    gallery: DrillGallery, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in through the form, as alice (created active)."""
    await make_active_user(runtime, "alice", "alice@example.com", PASSWORD)
    async with httpx.AsyncClient(base_url=gallery.url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
        response = await post_form(client, "/login", {"login": "alice", "password": PASSWORD})
        assert response.status_code == 302, response.text
        assert (await client.get("/api/v1/me")).json()["username"] == "alice"
        yield client


def anonymous(gallery: DrillGallery) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gallery.url, timeout=CLIENT_TIMEOUT_SECONDS)


def public_paths(image_id: int) -> list[str]:
    return [
        "/",
        "/api/v1/feed",
        f"/images/{image_id}",
        f"/api/v1/images/{image_id}",
        "/u/alice",
        "/index/images/1/10/",
        "/login",
    ]


def assert_unavailable(response: httpx.Response, *, json: bool) -> None:
    assert response.status_code == 503, (response.request.url, response.status_code)
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if json:
        assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "try again" in response.text


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(RECOVERY_ROUNDS):
        try:
            if await check():
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(ROUND_SECONDS)
    raise AssertionError(f"not within {RECOVERY_ROUNDS * ROUND_SECONDS:.0f} s: {what}")


async def signed_in_again(client: httpx.AsyncClient) -> bool:
    response = await client.get("/api/v1/me")
    return response.status_code == 200 and response.json()["username"] == "alice"


async def test_redis_stopped_public_reads_go_on_the_rest_is_503_then_all_is_back(
    drill_gallery: DrillGallery, scene: Scene, private_redis: PrivateRedis
) -> None:
    member, visitor, image_id = scene.member, scene.visitor, scene.image_id
    await private_redis.stop()
    statuses: list[int] = []
    for _ in range(5):  # the outage lasts a few seconds of traffic
        for path in public_paths(image_id):
            response = await visitor.get(path)
            statuses.append(response.status_code)
            assert response.status_code == 200, (path, response.status_code)
        assert_unavailable(await member.get("/api/v1/me"), json=True)
        assert_unavailable(await member.get("/"), json=False)
        assert_unavailable(await visitor.get("/api/v1/feed/hot"), json=True)
        # Sign-in fails closed: no unlimited password guessing while Redis is down.
        refused = await post_form(visitor, "/login", {"login": "alice", "password": "x" * 9})
        assert_unavailable(refused, json=False)
    assert 500 not in statuses

    await private_redis.start()
    await until(lambda: signed_in_again(member), "alice signed in again")
    assert (await member.get(f"/images/{image_id}")).status_code == 200
    assert "Traceback" not in drill_gallery.log


async def test_redis_frozen_answers_promptly_then_recovers(
    scene: Scene, private_redis: PrivateRedis
) -> None:
    member, visitor, image_id = scene.member, scene.visitor, scene.image_id
    private_redis.freeze()
    # Every answer comes (a hang would fail on the client's timeout), and none is a 500.
    for _ in range(3):
        for path in public_paths(image_id):
            response = await visitor.get(path)
            assert response.status_code in (200, 503), (path, response.status_code)
            if response.status_code == 503:
                assert "Retry-After" in response.headers
        assert_unavailable(await member.get("/api/v1/me"), json=True)
    private_redis.thaw()
    await until(lambda: signed_in_again(member), "alice signed in again")
    for path in public_paths(image_id):
        assert (await visitor.get(path)).status_code == 200, path


async def test_a_restarted_redis_costs_nobody_an_error(
    scene: Scene, private_redis: PrivateRedis
) -> None:
    member, visitor, image_id = scene.member, scene.visitor, scene.image_id
    # Warm both workers' pools: many connections open, then all stale at once.
    await asyncio.gather(*(member.get("/api/v1/me") for _ in range(20)))
    await private_redis.stop()
    await private_redis.start()
    responses = await asyncio.gather(
        *(member.get("/api/v1/me") for _ in range(20)),
        *(member.get(f"/images/{image_id}") for _ in range(10)),
        *(visitor.get("/api/v1/feed") for _ in range(10)),
    )
    assert [r.status_code for r in responses] == [200] * 40
    assert {r.json()["username"] for r in responses[:20]} == {"alice"}


async def test_mariadb_stopped_is_503_then_the_site_is_back_by_itself(
    scene: Scene, private_mariadb: PrivateMariaDB
) -> None:
    member, visitor, image_id = scene.member, scene.visitor, scene.image_id
    await private_mariadb.stop()
    try:
        # Pages whose answer must come from the database: 503, never 500.
        assert_unavailable(await visitor.get("/u/alice"), json=False)
        assert_unavailable(await visitor.get(f"/api/v1/images/{image_id}"), json=True)
        assert_unavailable(await member.get("/api/v1/me"), json=True)
        for path in public_paths(image_id):
            response = await visitor.get(path)
            # A page this process already holds for the current feed version
            # may still be served from memory; anything else is a 503.
            assert response.status_code in (200, 503), (path, response.status_code)
    finally:
        await private_mariadb.start()
    await until(lambda: signed_in_again(member), "alice served again")
    for path in public_paths(image_id):
        assert (await visitor.get(path)).status_code == 200, path
