"""Views counted by the image page and the API (``web/image_views.py``): who the viewer is."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from quart import Quart

from gallery.infra.redis import connect
from gallery.infra.runtime import Runtime
from gallery.services import views
from tests.helpers import make_active_user, sign_in, stored_view_count
from tests.images import add_image_rows
from tests.mailbox import free_port


def from_address(address: str) -> dict[str, object]:
    """The ASGI scope of a request from ``address`` (what Hypercorn puts in ``client``)."""
    return {"client": (address, 50000)}


async def one_image(runtime: Runtime) -> int:
    return (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]


async def pending(runtime: Runtime) -> dict[int, int]:
    assert runtime.redis is not None
    return await views.pending_views(runtime.redis)


async def test_the_image_page_and_the_api_count_views(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = (await add_image_rows(runtime, user_id, 1))[0]
    assert runtime.redis is not None
    anonymous = app.test_client()
    for _ in range(2):  # a reload in the same hour counts once
        page = await anonymous.get(f"/images/{image_id}", scope_base=from_address("192.0.2.1"))
        assert page.status_code == 200
    assert await pending(runtime) == {image_id: 1}

    # Another address is another anonymous viewer; the API counts as the page does.
    api = await anonymous.get(f"/api/v1/images/{image_id}", scope_base=from_address("192.0.2.2"))
    assert api.status_code == 200
    polled = await anonymous.get(
        f"/api/v1/images/{image_id}",
        headers={"If-None-Match": api.headers["ETag"]},
        scope_base=from_address("192.0.2.2"),
    )
    assert polled.status_code == 304
    assert await pending(runtime) == {image_id: 2}

    signed = app.test_client()
    await sign_in(signed)
    await signed.get(f"/images/{image_id}")
    await signed.get(f"/api/v1/images/{image_id}", headers={"User-Agent": "other"})
    assert await pending(runtime) == {image_id: 3}

    # The markers name the user, or a keyed hash that does not reveal the address.
    markers = [key async for key in runtime.redis.scan_iter(f"{views.SEEN_PREFIX}*")]
    assert len(markers) == 3
    anonymous_marker = re.compile(rf"views:seen:{image_id}:a:[0-9a-f]{{32}}")
    assert sum(1 for key in markers if anonymous_marker.fullmatch(key)) == 2
    assert f"views:seen:{image_id}:u:{user_id}" in markers
    assert not any("192.0.2" in key for key in markers)

    assert await views.flush_views(runtime.db, runtime.redis) == 3
    assert await stored_view_count(runtime.db, image_id) == 3
    assert await pending(runtime) == {}


async def test_twenty_user_agents_from_one_address_count_one_view(
    app: Quart, runtime: Runtime
) -> None:
    image_id = await one_image(runtime)
    for n in range(20):
        # A fresh client each time: no cookie ties the requests together either.
        client = app.test_client()
        path = f"/api/v1/images/{image_id}" if n % 2 else f"/images/{image_id}"
        response = await client.get(
            path, headers={"User-Agent": f"agent/{n}"}, scope_base=from_address("203.0.113.9")
        )
        assert response.status_code == 200
    assert await pending(runtime) == {image_id: 1}


async def test_two_addresses_count_two_views(app: Quart, runtime: Runtime) -> None:
    image_id = await one_image(runtime)
    for address in ("203.0.113.9", "198.51.100.4", "203.0.113.9", "198.51.100.4"):
        response = await app.test_client().get(
            f"/api/v1/images/{image_id}", scope_base=from_address(address)
        )
        assert response.status_code == 200
    assert await pending(runtime) == {image_id: 2}


async def test_one_ipv6_network_counts_as_one_viewer(app: Quart, runtime: Runtime) -> None:
    image_id = await one_image(runtime)
    # Any address of a /64 is the same client's to pick; another /64 is another client.
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"):
        response = await app.test_client().get(
            f"/api/v1/images/{image_id}", scope_base=from_address(address)
        )
        assert response.status_code == 200
    assert await pending(runtime) == {image_id: 2}


async def test_a_signed_in_user_counts_once_from_any_address(app: Quart, runtime: Runtime) -> None:
    image_id = await one_image(runtime)
    client = app.test_client()
    assert (await sign_in(client)).status_code == 302
    for n, address in enumerate(["192.0.2.10", "198.51.100.20", "2001:db8::5", "192.0.2.10"]):
        response = await client.get(
            f"/images/{image_id}" if n % 2 else f"/api/v1/images/{image_id}",
            headers={"User-Agent": f"device/{n}"},
            scope_base=from_address(address),
        )
        assert response.status_code == 200
    assert await pending(runtime) == {image_id: 1}


@asynccontextmanager
async def redis_unreachable(runtime: Runtime) -> AsyncIterator[None]:
    """The app's Redis client swapped for one at a port where nothing listens."""
    reachable = runtime.redis
    unreachable = connect(f"redis://127.0.0.1:{free_port()}/0")
    runtime.redis = unreachable
    try:
        yield
    finally:
        runtime.redis = reachable
        await unreachable.aclose()


async def test_the_page_and_the_api_answer_while_redis_is_unreachable(
    app: Quart, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    image_id = await one_image(runtime)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="gallery.services.views"):
        async with redis_unreachable(runtime):
            page = await client.get(f"/images/{image_id}")
            api = await client.get(f"/api/v1/images/{image_id}")
    assert page.status_code == 200
    assert "/media/" in await page.get_data(as_text=True)
    assert api.status_code == 200
    assert (await api.get_json())["id"] == image_id
    # One warning line per view not counted, and nothing counted.
    not_counted = [
        record
        for record in caplog.records
        if record.name == "gallery.services.views"
        and record.getMessage().startswith(f"Could not count a view of image {image_id}")
    ]
    assert len(not_counted) == 2
    assert all(record.levelno == logging.WARNING and not record.exc_info for record in not_counted)
    assert await pending(runtime) == {}
