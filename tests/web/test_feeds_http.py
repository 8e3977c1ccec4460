"""Feeds over HTTP: shapes, ETags and 304s, the seed clients' numbered pages."""

from __future__ import annotations

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import csrf_token, make_active_user, sign_in
from tests.images import add_image_rows, api_upload
from tests.services.test_feeds import counted_statements


async def test_feed_pages_follow_next_cursor(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 5)
    client = app.test_client()
    first = await (await client.get("/api/v1/feed?limit=3")).get_json()
    assert set(first) == {"items", "next_cursor"}
    second = await (
        await client.get(f"/api/v1/feed?limit=3&cursor={first['next_cursor']}")
    ).get_json()
    assert [i["id"] for i in first["items"] + second["items"]] == sorted(ids, reverse=True)
    assert second["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=101", "cursor=not-ours"])
async def test_bad_feed_parameters_are_400(app: Quart, query: str) -> None:
    response = await app.test_client().get(f"/api/v1/feed?{query}")
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"


async def test_matching_etag_gets_304_without_touching_the_database(
    app: Quart, runtime: Runtime
) -> None:
    user_id = await make_active_user(runtime)
    image_id = (await add_image_rows(runtime, user_id, 2))[0]
    client = app.test_client()
    for path in (
        "/api/v1/feed",
        "/api/v1/users/alice/images",
        f"/api/v1/images/{image_id}",
        f"/api/v1/images/{image_id}/comments",
        "/index/images/1/10/",
        f"/profile/images/{user_id}/1/10/",
    ):
        first = await client.get(path)
        assert first.status_code == 200, path
        etag = first.headers["ETag"]
        with counted_statements(runtime) as statements:
            again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert await again.get_data() == b""
        assert again.headers["ETag"] == etag
        assert statements == [], path
        stale = await client.get(path, headers={"If-None-Match": '"something-else"'})
        assert stale.status_code == 200


async def test_etag_changes_when_what_feeds_show_changes(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    client = app.test_client()
    await sign_in(client)
    token = await csrf_token(client)

    async def etag() -> str:
        return (await client.get("/api/v1/feed")).headers["ETag"]

    empty = await etag()
    image = await (await api_upload(client, token)).get_json()
    uploaded = await etag()
    await client.post(
        f"/api/v1/images/{image['id']}/comments",
        json={"content": "hello"},
        headers={"X-CSRF-Token": token},
    )
    commented = await etag()
    await client.delete(f"/api/v1/images/{image['id']}", headers={"X-CSRF-Token": token})
    deleted = await etag()
    assert len({empty, uploaded, commented, deleted}) == 4
    polled = await client.get("/api/v1/feed", headers={"If-None-Match": uploaded})
    assert polled.status_code == 200  # an old tag never gets a 304


async def test_etags_differ_per_viewer_and_per_query(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    anonymous = app.test_client()
    signed = app.test_client()
    await sign_in(signed)
    tags = {
        (await anonymous.get("/api/v1/feed")).headers["ETag"],
        (await signed.get("/api/v1/feed")).headers["ETag"],
        (await anonymous.get("/api/v1/feed?limit=5")).headers["ETag"],
    }
    assert len(tags) == 3
    response = await anonymous.get("/api/v1/feed")
    assert "no-cache" in response.headers["Cache-Control"]


async def test_seed_feeds_have_the_seed_shape(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    alice_ids = await add_image_rows(runtime, alice, 3)
    await add_image_rows(runtime, bob, 2)
    client = app.test_client()
    page = await (await client.get("/index/images/1/4/")).get_json()
    assert set(page) == {"has_next", "images"}
    assert page["has_next"] is True and len(page["images"]) == 4
    last = await (await client.get("/index/images/2/4/")).get_json()
    assert last == {"has_next": False, "images": last["images"]} and len(last["images"]) == 1
    profile = await (await client.get(f"/profile/images/{alice}/1/10/")).get_json()
    assert [i["id"] for i in profile["images"]] == sorted(alice_ids, reverse=True)
    assert profile["has_next"] is False


async def test_seed_per_page_is_capped_at_100(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_image_rows(runtime, user_id, 101)
    page = await (await app.test_client().get("/index/images/1/1000/")).get_json()
    assert len(page["images"]) == 100 and page["has_next"] is True


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/index/images/0/10/", 404),
        ("/index/images/-1/10/", 404),
        ("/index/images/1/0/", 400),
        ("/index/images/abc/10/", 404),
        ("/index/images/99999999999999999999/10/", 404),
        ("/index/images/1/10", 308),  # the seed routes end in a slash
        ("/profile/images/4242/1/10/", 404),
        ("/profile/images/0/1/10/", 404),
    ],
)
async def test_bad_seed_paths_are_4xx_never_500(app: Quart, path: str, status: int) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == status
    if status != 308:
        assert "error" in await response.get_json()


async def test_user_endpoints(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_image_rows(runtime, user_id, 2)
    client = app.test_client()
    user = await (await client.get("/api/v1/users/ALICE")).get_json()
    assert user["username"] == "alice" and user["image_count"] == 2
    assert set(user) == {
        "id",
        "username",
        "avatar_url",
        "created_at",
        "image_count",
        "follower_count",
        "following_count",
        "following",
    }
    assert (user["follower_count"], user["following_count"], user["following"]) == (0, 0, False)
    assert (await client.get("/api/v1/users/nobody")).status_code == 404
    assert (await client.get("/api/v1/users/nobody/images")).status_code == 404
