"""The JSON API for likes, follows, the following feed and notifications (``web/api/social.py``)."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import AUTHOR_KEYS, csrf_header, csrf_token, make_active_user, signed_in
from tests.images import add_image_rows

NOTIFICATION_KEYS = {
    "id",
    "kind",
    "created_at",
    "read",
    "text",
    "url",
    "actor",
    "image",
    "comment",
}


async def test_like_and_unlike_return_the_state_and_are_idempotent(
    app: Quart, runtime: Runtime
) -> None:
    owner = await make_active_user(runtime, "owner", "owner@example.com")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    client, token = await signed_in(app, runtime, "fan")
    path = f"/api/v1/images/{image_id}/like"

    for _ in range(2):
        response = await client.put(path, headers=csrf_header(token))
        assert response.status_code == 200
        assert await response.get_json() == {"liked": True, "like_count": 1}
    detail = await (await client.get(f"/api/v1/images/{image_id}")).get_json()
    assert (detail["liked"], detail["like_count"]) == (True, 1)
    feed = await (await client.get("/api/v1/feed")).get_json()
    assert feed["items"][0]["liked"] is True
    anonymous = await (await app.test_client().get("/api/v1/feed")).get_json()
    assert anonymous["items"][0]["liked"] is False

    for _ in range(2):
        response = await client.delete(path, headers=csrf_header(token))
        assert response.status_code == 200
        assert await response.get_json() == {"liked": False, "like_count": 0}


async def test_like_refusals(app: Quart, runtime: Runtime) -> None:
    owner = await make_active_user(runtime, "owner", "owner@example.com")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    path = f"/api/v1/images/{image_id}/like"

    visitor = app.test_client()
    anonymous = await visitor.put(path, headers=csrf_header(await csrf_token(visitor)))
    assert anonymous.status_code == 401
    assert (await anonymous.get_json())["error"]["code"] == "UNAUTHORIZED"

    client, token = await signed_in(app, runtime, "fan")
    for method in (client.put, client.delete):
        assert (await method(path)).status_code == 403  # no CSRF token
        missing = await method("/api/v1/images/999999/like", headers=csrf_header(token))
        assert missing.status_code == 404
        assert "error" in await missing.get_json()
    detail = await (await client.get(f"/api/v1/images/{image_id}")).get_json()
    assert detail["like_count"] == 0


async def test_many_likes_over_http_at_once_count_exactly(app: Quart, runtime: Runtime) -> None:
    owner = await make_active_user(runtime, "owner", "owner@example.com")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    fans = [await signed_in(app, runtime, f"fan{index}") for index in range(8)]
    path = f"/api/v1/images/{image_id}/like"

    responses = await asyncio.gather(
        *(client.put(path, headers=csrf_header(token)) for client, token in fans * 3)
    )
    assert {response.status_code for response in responses} == {200}
    detail = await (await app.test_client().get(f"/api/v1/images/{image_id}")).get_json()
    assert detail["like_count"] == len(fans)


async def test_follow_and_unfollow(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime, "star", "star@example.com")
    client, token = await signed_in(app, runtime, "fan")

    for _ in range(2):
        response = await client.put("/api/v1/users/STAR/follow", headers=csrf_header(token))
        assert response.status_code == 200
        assert await response.get_json() == {
            "following": True,
            "follower_count": 1,
            "requested": False,
        }
    profile = await (await client.get("/api/v1/users/star")).get_json()
    assert (profile["follower_count"], profile["following"]) == (1, True)
    own = await (await client.get("/api/v1/users/fan")).get_json()
    assert (own["following_count"], own["following"]) == (1, False)

    followers = await (await client.get("/api/v1/users/star/followers")).get_json()
    assert [u["username"] for u in followers["items"]] == ["fan"]
    assert set(followers["items"][0]) == AUTHOR_KEYS and followers["next_cursor"] is None
    following = await (await client.get("/api/v1/users/fan/following")).get_json()
    assert [u["username"] for u in following["items"]] == ["star"]

    response = await client.delete("/api/v1/users/star/follow", headers=csrf_header(token))
    assert await response.get_json() == {
        "following": False,
        "follower_count": 0,
        "requested": False,
    }
    response = await client.delete("/api/v1/users/star/follow", headers=csrf_header(token))
    assert await response.get_json() == {
        "following": False,
        "follower_count": 0,
        "requested": False,
    }


async def test_follow_refusals(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime, "star", "star@example.com")
    visitor = app.test_client()
    anonymous = await visitor.put(
        "/api/v1/users/star/follow", headers=csrf_header(await csrf_token(visitor))
    )
    assert anonymous.status_code == 401

    client, token = await signed_in(app, runtime, "fan")
    assert (await client.put("/api/v1/users/star/follow")).status_code == 403
    missing = await client.put("/api/v1/users/nobody/follow", headers=csrf_header(token))
    assert missing.status_code == 404
    self_follow = await client.put("/api/v1/users/Fan/follow", headers=csrf_header(token))
    assert self_follow.status_code == 400
    error = (await self_follow.get_json())["error"]
    assert "yourself" in error["message"]
    for path in ("/api/v1/users/nobody/followers", "/api/v1/users/nobody/following"):
        assert (await client.get(path)).status_code == 404
    assert (await client.get("/api/v1/users/star/followers?cursor=bogus")).status_code == 400


async def test_the_following_feed(app: Quart, runtime: Runtime) -> None:
    star = await make_active_user(runtime, "star", "star@example.com")
    stranger = await make_active_user(runtime, "stranger", "stranger@example.com")
    star_images = await add_image_rows(runtime, star, 3)
    await add_image_rows(runtime, stranger, 2)
    assert (await app.test_client().get("/api/v1/feed/following")).status_code == 401

    client, token = await signed_in(app, runtime, "fan")
    empty = await (await client.get("/api/v1/feed/following")).get_json()
    assert empty == {"items": [], "next_cursor": None}

    await client.put("/api/v1/users/star/follow", headers=csrf_header(token))
    first = await (await client.get("/api/v1/feed/following?limit=2")).get_json()
    rest = await (
        await client.get(f"/api/v1/feed/following?limit=2&cursor={first['next_cursor']}")
    ).get_json()
    ids = [item["id"] for item in first["items"] + rest["items"]]
    assert ids == sorted(star_images, reverse=True)
    assert rest["next_cursor"] is None
    assert (await client.get("/api/v1/feed/following?limit=0")).status_code == 400


async def test_notifications_list_read_and_read_all(app: Quart, runtime: Runtime) -> None:
    owner_client, owner_token = await signed_in(app, runtime, "owner")
    fan_client, fan_token = await signed_in(app, runtime, "fan")
    owner_id = (await (await owner_client.get("/api/v1/me")).get_json())["id"]
    (image_id,) = await add_image_rows(runtime, owner_id, 1)

    await fan_client.put(f"/api/v1/images/{image_id}/like", headers=csrf_header(fan_token))
    await fan_client.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": "<b>great</b> shot"},
        headers=csrf_header(fan_token),
    )
    await fan_client.put("/api/v1/users/owner/follow", headers=csrf_header(fan_token))
    # One's own actions notify nobody.
    await owner_client.put(f"/api/v1/images/{image_id}/like", headers=csrf_header(owner_token))

    listing = await (await owner_client.get("/api/v1/notifications")).get_json()
    assert listing["unread_count"] == 3 and listing["next_cursor"] is None
    follow_notice, comment_notice, like_notice = listing["items"]
    assert all(set(item) == NOTIFICATION_KEYS for item in listing["items"])
    assert [n["kind"] for n in listing["items"]] == ["follow", "comment", "like"]
    assert follow_notice["text"] == "fan started following you"
    assert follow_notice["url"] == "/u/fan" and follow_notice["image"] is None
    assert comment_notice["text"] == "fan commented on your photo"
    assert comment_notice["comment"]["content"] == "<b>great</b> shot"
    assert comment_notice["url"] == f"/images/{image_id}#comment-{comment_notice['comment']['id']}"
    assert like_notice["image"]["id"] == image_id and like_notice["url"] == f"/images/{image_id}"
    assert like_notice["actor"]["username"] == "fan" and like_notice["read"] is False
    fan_listing = await (await fan_client.get("/api/v1/notifications")).get_json()
    assert fan_listing == {"items": [], "next_cursor": None, "unread_count": 0}

    read_path = f"/api/v1/notifications/{like_notice['id']}/read"
    assert (await owner_client.post(read_path)).status_code == 403  # no CSRF token
    assert (await fan_client.post(read_path, headers=csrf_header(fan_token))).status_code == 404
    response = await owner_client.post(read_path, headers=csrf_header(owner_token))
    assert await response.get_json() == {"unread_count": 2}
    missing = await owner_client.post(
        "/api/v1/notifications/999999/read", headers=csrf_header(owner_token)
    )
    assert missing.status_code == 404

    response = await owner_client.post(
        "/api/v1/notifications/read-all", headers=csrf_header(owner_token)
    )
    assert await response.get_json() == {"unread_count": 0}
    listing = await (await owner_client.get("/api/v1/notifications")).get_json()
    assert [item["read"] for item in listing["items"]] == [True, True, True]


async def test_the_unread_count_polls_with_etags(app: Quart, runtime: Runtime) -> None:
    owner_client, _ = await signed_in(app, runtime, "owner")
    fan_client, fan_token = await signed_in(app, runtime, "fan")
    path = "/api/v1/notifications/unread-count"
    assert (await app.test_client().get(path)).status_code == 401

    first = await owner_client.get(path)
    assert await first.get_json() == {"unread_count": 0}
    etag = first.headers["ETag"]
    unchanged = await owner_client.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert await unchanged.get_data() == b""

    # Someone else's unrelated change does not disturb the poll...
    await fan_client.get("/api/v1/users/owner")
    assert (await owner_client.get(path, headers={"If-None-Match": etag})).status_code == 304
    # ...a new follower does.
    await fan_client.put("/api/v1/users/owner/follow", headers=csrf_header(fan_token))
    changed = await owner_client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert await changed.get_json() == {"unread_count": 1}
    assert changed.headers["ETag"] != etag


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/notifications",
        "/api/v1/notifications/unread-count",
        "/api/v1/feed/following",
    ],
)
async def test_personal_feeds_are_for_the_signed_in_only(app: Quart, path: str) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == 401
    assert response.headers.get("Location") is None  # JSON routes never redirect


async def test_the_openapi_document_lists_the_social_routes(app: Quart) -> None:
    paths = (await (await app.test_client().get("/openapi.json")).get_json())["paths"]
    for path in (
        "/api/v1/images/{image_id}/like",
        "/api/v1/users/{username}/follow",
        "/api/v1/users/{username}/followers",
        "/api/v1/feed/following",
        "/api/v1/notifications",
        "/api/v1/notifications/unread-count",
        "/api/v1/notifications/read-all",
    ):
        assert path in paths, path
    assert {"put", "delete"} <= set(paths["/api/v1/images/{image_id}/like"])
