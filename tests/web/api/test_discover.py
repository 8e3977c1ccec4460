"""The tag feed and search in the JSON API (``web/api/discover.py``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import HOSTILE_QUERIES, IMAGE_KEYS, make_active_user
from tests.images import add_described_images

SQL_WORDS = re.compile(r"sqlalchemy|syntax|SELECT|MATCH|fts5|Traceback|OperationalError", re.I)


async def get_json(app: Quart, path: str) -> tuple[int, dict[str, Any]]:
    response = await app.test_client().get(path)
    assert response.content_type == "application/json", path
    return response.status_code, await response.get_json()


# -- the tag feed --------------------------------------------------------------


async def test_tag_feed_api(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_described_images(runtime, user_id, "#Sea one", "no", "#sea two", "#SEA 3")
    status, first = await get_json(app, "/api/v1/tags/sea/images?limit=2")
    assert status == 200
    assert set(first) == {"items", "next_cursor"}
    items = first["items"]
    assert isinstance(items, list) and set(items[0]) == IMAGE_KEYS
    assert [i["id"] for i in items] == [ids[3], ids[2]]
    _, second = await get_json(
        app, f"/api/v1/tags/Sea/images?limit=2&cursor={first['next_cursor']}"
    )
    assert [i["id"] for i in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None


async def test_tag_feed_api_etag_and_304(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "#sea")
    client = app.test_client()
    first = await client.get("/api/v1/tags/sea/images")
    etag = first.headers["ETag"]
    again = await client.get("/api/v1/tags/sea/images", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert await again.get_data() == b""


@pytest.mark.parametrize("name", ["unknown", "2024", "%25", quote("' OR 1=1 --", safe="")])
async def test_tag_feed_api_404(app: Quart, runtime: Runtime, name: str) -> None:
    status, body = await get_json(app, f"/api/v1/tags/{name}/images")
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "cursor=nope"])
async def test_tag_feed_api_bad_parameters(app: Quart, runtime: Runtime, query: str) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "#sea")
    status, body = await get_json(app, f"/api/v1/tags/sea/images?{query}")
    assert status == 400
    assert body["error"]["code"] == "BAD_REQUEST"


# -- search --------------------------------------------------------------------


async def test_search_api_for_each_type(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await make_active_user(runtime, "alicia", "alicia@example.com")
    ids = await add_described_images(runtime, user_id, "Sunset at #Brighton", "Sunrise #brunch")

    status, photos = await get_json(app, "/api/v1/search?q=sunset")
    assert status == 200 and set(photos) == {"items", "next_cursor"}
    assert [i["id"] for i in photos["items"]] == [ids[0]]
    assert set(photos["items"][0]) == IMAGE_KEYS

    _, people = await get_json(app, "/api/v1/search?q=ALI&type=users")
    assert [p["username"] for p in people["items"]] == ["alice", "alicia"]
    assert set(people["items"][0]) == {"id", "username", "avatar_url"}

    _, found = await get_json(app, "/api/v1/search?q=%23br&type=tags")
    assert found["items"] == [
        {"name": "brighton", "image_count": 1, "url": "/tags/brighton"},
        {"name": "brunch", "image_count": 1, "url": "/tags/brunch"},
    ]


async def test_search_api_pages(app: Quart, runtime: Runtime) -> None:
    for index in range(3):
        await make_active_user(runtime, f"sam{index}", f"sam{index}@example.com")
    _, first = await get_json(app, "/api/v1/search?q=sam&type=users&limit=2")
    cursor = first["next_cursor"]
    assert isinstance(cursor, str)
    _, second = await get_json(app, f"/api/v1/search?q=sam&type=users&limit=2&cursor={cursor}")
    names = [p["username"] for p in first["items"] + second["items"]]
    assert names == ["sam0", "sam1", "sam2"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type something"),
        ("q=", "Type something"),
        ("q=%20%20", "Type something"),
        ("q=%00", "Type something"),
        ("q=" + "x" * 101, "at most 100"),
        ("q=" + "x" * 10_000, "at most 100"),
        ("q=%2B-%3E%3C()~", "letters or digits"),
        ("q=sun&type=pictures", "users, tags, images"),
        ("q=sun&limit=0", "limit"),
        ("q=sun&limit=abc", "limit"),
        ("q=sun&cursor=nope", "cursor"),
        ("q=sun&type=users&cursor=nope", "cursor"),
    ],
)
async def test_search_api_refusals(app: Quart, query: str, message: str) -> None:
    status, body = await get_json(app, f"/api/v1/search?{query}")
    assert status == 400
    error = body["error"]
    assert error["code"] == "BAD_REQUEST"
    assert message in error["message"]


@pytest.mark.parametrize("kind", ["images", "users", "tags"])
@pytest.mark.parametrize("hostile", [*HOSTILE_QUERIES, "x" * 10_000])
async def test_hostile_search_queries_are_answered_plainly(
    app: Quart, runtime: Runtime, kind: str, hostile: str
) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "plain #sun and moon, 東京 🌅 100%")
    status, body = await get_json(app, f"/api/v1/search?type={kind}&q={quote(hostile, safe='')}")
    assert status in (200, 400), body
    assert not SQL_WORDS.search(str(body)), body
    if status == 200:
        assert set(body) == {"items", "next_cursor"}
    else:
        assert body["error"]["code"] == "BAD_REQUEST"


async def test_openapi_lists_the_routes(app: Quart) -> None:
    document = await (await app.test_client().get("/openapi.json")).get_json()
    assert "/api/v1/search" in document["paths"]
    assert "/api/v1/tags/{name}/images" in document["paths"]
    parameters = {p["name"] for p in document["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert {"q", "type", "limit", "cursor"} <= parameters
