"""The hot feed over HTTP, views counted by the image page and API, the background flusher."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from quart import Quart
from sqlalchemy import select, update

from gallery import create_app
from gallery.infra.db import Database
from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.services import feeds, ranking, views
from tests.conftest import build_settings
from tests.helpers import make_active_user, sign_in
from tests.images import add_image_rows
from tests.services.test_feeds import counted_statements


async def set_likes(runtime: Runtime, image_id: int, likes: int) -> None:
    async with runtime.db.session() as session:
        await session.execute(update(Image).where(Image.id == image_id).values(like_count=likes))
        await session.commit()


async def view_count(database: Database, image_id: int) -> int | None:
    async with database.session() as session:
        return await session.scalar(select(Image.view_count).where(Image.id == image_id))


async def test_the_hot_feed_has_the_feed_shape_and_pages(app: Quart, runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 5)
    for likes, image_id in zip([3, 9, 0, 5, 1], ids, strict=True):
        await set_likes(runtime, image_id, likes)
    client = app.test_client()
    latest = await (await client.get("/api/v1/feed")).get_json()
    first = await (await client.get("/api/v1/feed/hot?limit=2")).get_json()
    assert set(first) == {"items", "next_cursor"}
    assert set(first["items"][0]) == set(latest["items"][0])
    shown = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = await (await client.get(f"/api/v1/feed/hot?limit=2&cursor={cursor}")).get_json()
        shown += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert shown == [ids[1], ids[3], ids[0], ids[4], ids[2]]
    assert first["items"][0]["like_count"] == 9


async def test_hot_polls_get_304_without_touching_the_database(
    app: Quart, runtime: Runtime
) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 4)
    client = app.test_client()
    first = await client.get("/api/v1/feed/hot?limit=2")
    second_path = f"/api/v1/feed/hot?limit=2&cursor={(await first.get_json())['next_cursor']}"
    for path in ("/api/v1/feed/hot?limit=2", second_path):
        response = await client.get(path)
        assert response.status_code == 200
        etag = response.headers["ETag"]
        with counted_statements(runtime) as statements:
            again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert await again.get_data() == b""
        assert statements == [], path

    etag = first.headers["ETag"]
    # What feeds show changed (a like, a comment): the tag moves on.
    assert runtime.redis is not None
    await feeds.bump_feed_version(runtime.redis)
    liked = await client.get("/api/v1/feed/hot?limit=2", headers={"If-None-Match": etag})
    assert liked.status_code == 200
    # A new ranking with a new order moves it on too.
    etag = liked.headers["ETag"]
    await set_likes(runtime, ids[0], 50)
    async with runtime.db.session() as session:
        await ranking.refresh_ranking(session, runtime.redis)
    reranked = await client.get("/api/v1/feed/hot?limit=2", headers={"If-None-Match": etag})
    assert reranked.status_code == 200
    assert (await reranked.get_json())["items"][0]["id"] == ids[0]


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=0", "limit=101", "cursor=not-ours", "cursor=djE6MTA"],
)
async def test_bad_hot_parameters_are_400(app: Quart, query: str) -> None:
    response = await app.test_client().get(f"/api/v1/feed/hot?{query}")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"


async def test_the_hot_feed_is_in_the_openapi_document(app: Quart) -> None:
    document = await (await app.test_client().get("/openapi.json")).get_json()
    operation = document["paths"]["/api/v1/feed/hot"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"limit", "cursor"}
    assert "likes, comments, views and age" in operation["summary"]
    assert "score = (2·likes + 3·comments + views/10 + 1)" in operation["description"]


async def test_the_image_page_and_the_api_count_views(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = (await add_image_rows(runtime, user_id, 1))[0]
    assert runtime.redis is not None
    anonymous = app.test_client()
    for _ in range(2):  # a reload in the same hour counts once
        page = await anonymous.get(f"/images/{image_id}", headers={"User-Agent": "browser-a"})
        assert page.status_code == 200
    assert await views.pending_views(runtime.redis) == {image_id: 1}

    # Another browser at the same address is another anonymous viewer.
    api = await anonymous.get(f"/api/v1/images/{image_id}", headers={"User-Agent": "browser-b"})
    assert api.status_code == 200
    polled = await anonymous.get(
        f"/api/v1/images/{image_id}",
        headers={"User-Agent": "browser-b", "If-None-Match": api.headers["ETag"]},
    )
    assert polled.status_code == 304
    assert await views.pending_views(runtime.redis) == {image_id: 2}

    signed = app.test_client()
    await sign_in(signed)
    await signed.get(f"/images/{image_id}")
    await signed.get(f"/api/v1/images/{image_id}", headers={"User-Agent": "other"})
    assert await views.pending_views(runtime.redis) == {image_id: 3}

    # The markers name the user, or a keyed hash that does not reveal the address.
    markers = [key async for key in runtime.redis.scan_iter(f"{views.SEEN_PREFIX}*")]
    assert len(markers) == 3
    anonymous_marker = re.compile(rf"views:seen:{image_id}:a:[0-9a-f]{{32}}")
    assert sum(1 for key in markers if anonymous_marker.fullmatch(key)) == 2
    assert f"views:seen:{image_id}:u:{user_id}" in markers

    assert await views.flush_views(runtime.db, runtime.redis) == 3
    assert await view_count(runtime.db, image_id) == 3
    assert await views.pending_views(runtime.redis) == {}


async def test_the_web_process_flushes_views_in_the_background(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    settings = build_settings(backend, instance_root, run_worker=True, view_flush_seconds=0.05)
    app = create_app(settings)
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
        response = await app.test_client().get(f"/api/v1/images/{image_id}")
        assert response.status_code == 200

        async def flushed() -> None:
            while await view_count(runtime.db, image_id) != 1:
                await asyncio.sleep(0.05)

        # No flush_views call here: only the background loop can write it.
        await asyncio.wait_for(flushed(), timeout=60)  # a guard against hanging, not a speed test


async def test_views_are_flushed_when_the_web_process_stops(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    # An interval far longer than the test: only the flush at shutdown can write.
    settings = build_settings(backend, instance_root, run_worker=True, view_flush_seconds=3600)
    app = create_app(settings)
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        image_id = (await add_image_rows(runtime, await make_active_user(runtime), 1))[0]
        await app.test_client().get(f"/api/v1/images/{image_id}")
        assert await view_count(runtime.db, image_id) == 0
    database = Database(str(settings.database_url))
    try:
        assert await view_count(database, image_id) == 1
    finally:
        await database.dispose()
