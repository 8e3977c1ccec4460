"""Drills: what a stranger can make the running site keep, count or reveal.

Against Gallery as production runs it (two workers, MariaDB, Redis): a flood
of cookie-less visits stores nothing, one account has one sign-in counter
however it is typed, one address cannot inflate a photo's views, and personal
answers are never kept by a cache.
"""

from __future__ import annotations

import asyncio

import httpx

from gallery.infra.runtime import Runtime
from gallery.services import views
from tests.browser.conftest import post_form
from tests.faults.conftest import DrillGallery
from tests.helpers import add_image_with_comments, make_active_user

PASSWORD = "correct horse battery"
VISITS = 1000


async def test_a_thousand_cookie_less_visits_store_nothing(
    drill_gallery: DrillGallery, drill_runtime: Runtime
) -> None:
    redis = drill_runtime.redis
    assert redis is not None
    paths = ["/login", "/register", "/", "/password/forgot"]
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=drill_gallery.url, limits=limits, timeout=30) as client:
        for path in paths:  # the shared page caches fill once; they are not per visitor
            assert (await client.get(path)).status_code == 200
        keys_before = await redis.dbsize()

        async def visit(number: int) -> int:
            # Sent as built, past the client's cookie jar: every visit is a new stranger.
            request = httpx.Request("GET", drill_gallery.url + paths[number % len(paths)])
            response = await client.send(request)
            assert "cookie" not in request.headers
            return response.status_code

        statuses = await asyncio.gather(*(visit(n) for n in range(VISITS)))
    assert statuses == [200] * VISITS
    assert await redis.dbsize() == keys_before
    assert [key async for key in redis.scan_iter("web-session:*")] == []


async def test_one_account_one_sign_in_counter_however_it_is_typed(
    drill_gallery: DrillGallery, drill_runtime: Runtime
) -> None:
    await make_active_user(drill_runtime, "mallory", "mallory@example.com", PASSWORD)
    spellings = ["mallory", "mallory@example.com", "MALLORY", " Mallory@Example.com "]
    async with httpx.AsyncClient(base_url=drill_gallery.url, timeout=30) as client:
        statuses = [
            (
                await post_form(
                    client, "/login", {"login": spellings[n % 4], "password": "wrong" * 2}
                )
            ).status_code
            for n in range(10)
        ]
        assert 429 not in statuses
        # The eleventh guess, in yet another spelling, and even the right password: refused.
        response = await post_form(
            client, "/login", {"login": "Mallory@example.COM", "password": PASSWORD}
        )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


async def test_one_address_counts_one_view_whatever_it_claims_to_be(
    drill_gallery: DrillGallery, drill_runtime: Runtime
) -> None:
    await make_active_user(drill_runtime, "ann", "ann@example.com", PASSWORD)
    image_id, _ = await add_image_with_comments(drill_runtime, "ann")
    assert drill_runtime.redis is not None
    async with httpx.AsyncClient(base_url=drill_gallery.url, timeout=30) as client:
        for number in range(20):
            headers = {"User-Agent": f"Browser/{number}.0", "Accept-Language": f"x-{number}"}
            response = await client.get(f"/api/v1/images/{image_id}", headers=headers)
            assert response.status_code == 200
            response = await client.get(f"/images/{image_id}", headers=headers)
            assert response.status_code == 200
    assert await views.pending_views(drill_runtime.redis) == {image_id: 1}


async def test_personal_answers_are_never_stored_by_a_cache(
    drill_gallery: DrillGallery, drill_runtime: Runtime
) -> None:
    await make_active_user(drill_runtime, "alice", "alice@example.com", PASSWORD)
    async with httpx.AsyncClient(base_url=drill_gallery.url, timeout=30) as client:
        response = await post_form(client, "/login", {"login": "alice", "password": PASSWORD})
        assert response.status_code == 302
        for path in ("/account", "/api/v1/me", "/api/v1/sessions", "/", "/u/alice"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert "no-store" in response.headers["Cache-Control"], path
