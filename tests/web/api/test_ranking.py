"""The hot feed over HTTP (``web/api/ranking.py``): shape, pages, 304s, the documentation."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import update

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.services import feeds, ranking
from tests.helpers import counted_statements, make_active_user
from tests.images import add_image_rows


async def set_likes(runtime: Runtime, image_id: int, likes: int) -> None:
    async with runtime.db.session() as session:
        await session.execute(update(Image).where(Image.id == image_id).values(like_count=likes))
        await session.commit()


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
