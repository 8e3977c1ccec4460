"""The JSON API for images, comments, users and the latest feed (``web/api/images.py``):
shapes, permissions, refusals, deletion, the comment switch."""

from __future__ import annotations

import html
import io
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image as PILImage
from quart import Quart
from sqlalchemy import select

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.models import Comment, Image, Permission, Role, User
from gallery.models.moderation import ModerationAction, ModerationEntry
from gallery.services.comments import COMMENTS_OFF_MESSAGE
from tests.conftest import build_settings
from tests.helpers import (
    AUTHOR_KEYS,
    COMMENT_KEYS,
    IMAGE_KEYS,
    PHOTO_KEYS,
    add_image_with_comments,
    comment_via_api,
    count_rows,
    csrf_token,
    make_active_user,
    page_html,
    page_text,
    patch_image_via_api,
    post_form,
    set_permissions,
    signed_in,
    tag_names_of,
    user_id_of,
)
from tests.images import (
    DEFAULT_PHOTO_FILES,
    add_image_rows,
    api_upload,
    fetch_photo,
    files_per_photo,
    jpeg_bytes,
    multipart,
    shared_image,
    stored_files,
    upload_file,
)

# -- uploads -------------------------------------------------------------------


async def test_upload_returns_201_with_the_image_shape(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(client, token, jpeg_bytes(2400, 1600), description=" Sunset ")
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == IMAGE_KEYS
    assert set(body["author"]) == AUTHOR_KEYS
    assert body["author"]["username"] == "alice"
    assert (body["width"], body["height"]) == (1080, 720)
    assert body["description"] == "Sunset"
    assert body["created_at"].endswith("Z")
    assert body["comments"] == [] and body["liked"] is False
    assert body["comment_count"] == body["like_count"] == 0
    assert response.headers["Location"] == f"/api/v1/images/{body['id']}"
    display_status, display_type = await fetch_photo(client, body["url"])
    assert (display_status, display_type) == (200, "image/jpeg")
    assert (await fetch_photo(client, body["thumb_url"]))[0] == 200
    assert len(await stored_files(runtime)) == files_per_photo(2400)


async def test_uploaded_photo_keeps_no_gps_and_is_upright(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    gps = await api_upload(client, token, shared_image("exif_gps.jpg"))
    assert gps.status_code == 201
    rotated = await api_upload(client, token, shared_image("orientation_rectangle.jpg"))
    assert rotated.status_code == 201
    assert ((await rotated.get_json())["width"], (await rotated.get_json())["height"]) == (1, 2)
    for key in await stored_files(runtime):
        with PILImage.open(io.BytesIO(await runtime.storage.open(key))) as stored:
            assert len(stored.getexif()) == 0
            assert "exif" not in stored.info


@pytest.mark.parametrize(
    ("data", "filename", "status"),
    [
        (b"just some text, honestly", "notes.jpg", 415),
        (shared_image("broken.png"), "broken.png", 415),
        (shared_image("truncated_jpeg.jpg"), "cut.jpg", 422),
        (shared_image("decompression_bomb.gif"), "bomb.gif", 422),
    ],
)
async def test_bad_files_are_refused_and_leave_nothing(
    app: Quart, runtime: Runtime, data: bytes, filename: str, status: int
) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(client, token, data, filename=filename)
    assert response.status_code == status
    error = (await response.get_json())["error"]
    assert error["message"] and error["code"] in {"UNSUPPORTED_MEDIA_TYPE", "UNPROCESSABLE"}
    assert await count_rows(runtime, Image) == 0
    assert await stored_files(runtime) == []


async def test_upload_needs_a_photo(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await client.post(
        "/api/v1/images", form={"description": "no file"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["message"] == "Choose at least one photo."


async def test_one_request_posts_several_photos_with_their_alt_texts(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    body, content_type = multipart(
        [("description", "Pair"), ("alt_text", "<b>left</b> & right"), ("alt_text", "")],
        [("file", "a.jpg", jpeg_bytes(300, 200)), ("file", "b.png", shared_image("hopper.png"))],
    )
    response = await client.post(
        "/api/v1/images",
        data=body,
        headers={"Content-Type": content_type, "X-CSRF-Token": token},
    )
    assert response.status_code == 201
    post = await response.get_json()
    assert [set(photo) for photo in post["photos"]] == [PHOTO_KEYS, PHOTO_KEYS]
    assert [photo["alt_text"] for photo in post["photos"]] == ["<b>left</b> & right", ""]
    assert [(p["width"], p["height"]) for p in post["photos"]] == [(300, 200), (128, 128)]
    assert (post["url"], post["width"]) == (post["photos"][0]["url"], 300)
    # Escaped wherever the alt text shows: the post page, the home page's card.
    for path in (f"/images/{post['id']}", "/"):
        html_body = await page_html(client, path)
        assert 'alt="&lt;b&gt;left&lt;/b&gt; &amp; right"' in html_body
        assert "<b>left</b>" not in html_body
    # In JSON it is data, as typed.
    detail = await (await client.get(f"/api/v1/images/{post['id']}")).get_json()
    assert detail["photos"][0]["alt_text"] == "<b>left</b> & right"


async def test_too_long_description_is_refused(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(client, token, description="x" * 2001)
    assert response.status_code == 400
    assert await count_rows(runtime, Image) == 0
    assert await stored_files(runtime) == []


async def test_upload_refusals_for_who_is_asking(app: Quart, runtime: Runtime) -> None:
    anonymous = app.test_client()
    token = await csrf_token(anonymous)
    response = await api_upload(anonymous, token)
    assert response.status_code == 401
    assert "error" in await response.get_json()

    client, token = await signed_in(app, runtime)
    no_csrf = await client.post(
        "/api/v1/images", files={"file": upload_file(jpeg_bytes())}, form={"description": ""}
    )
    assert no_csrf.status_code == 403

    await set_permissions(runtime, "alice", int(Permission.FOLLOW | Permission.COMMENT))
    forbidden = await api_upload(client, token)
    assert forbidden.status_code == 403
    assert await count_rows(runtime, Image) == 0


@pytest.fixture
async def small_limit_app(
    backend: dict[str, object], instance_root: Path, app: Quart
) -> AsyncIterator[Quart]:
    """A second app on the same data with a 1 MB upload limit."""
    settings = build_settings(backend, instance_root, max_upload_mb=1)
    limited = create_app(settings)
    async with limited.test_app():
        yield limited


async def test_a_body_over_the_limit_is_413(small_limit_app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(small_limit_app, runtime)
    noise = PILImage.effect_noise((1400, 1400), 120).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert len(buffer.getvalue()) > 1024 * 1024
    response = await api_upload(client, token, buffer.getvalue(), filename="big.png")
    assert response.status_code == 413
    assert (await response.get_json())["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await stored_files(runtime) == []


async def test_tags_attached_by_the_api_upload(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(client, token, description="Morning #Run at the #park")
    assert response.status_code == 201
    image_id = (await response.get_json())["id"]
    assert await tag_names_of(runtime, image_id) == ["park", "run"]


# -- images and comments -------------------------------------------------------


async def test_image_detail_and_unknown_ids(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    image = await (await api_upload(client, token, description="one")).get_json()
    detail = await app.test_client().get(f"/api/v1/images/{image['id']}")
    assert detail.status_code == 200
    assert (await detail.get_json())["description"] == "one"
    for path in ("/api/v1/images/999999", "/api/v1/images/99999999999999999999"):
        missing = await client.get(path)
        assert missing.status_code == 404
        assert (await missing.get_json())["error"]["code"] == "NOT_FOUND"


async def test_comments_post_list_and_count(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    image = await (await api_upload(client, token)).get_json()
    url = f"/api/v1/images/{image['id']}/comments"
    for text in ("first!", "  second  ", "third <b>bold</b>"):
        posted = await client.post(url, json={"content": text}, headers={"X-CSRF-Token": token})
        assert posted.status_code == 201
        assert set(await posted.get_json()) == COMMENT_KEYS
    listed = await (await client.get(url + "?limit=2")).get_json()
    assert [c["content"] for c in listed["items"]] == ["first!", "second"]
    rest = await (await client.get(f"{url}?limit=2&cursor={listed['next_cursor']}")).get_json()
    assert [c["content"] for c in rest["items"]] == ["third <b>bold</b>"]
    assert rest["next_cursor"] is None
    detail = await (await client.get(f"/api/v1/images/{image['id']}")).get_json()
    assert detail["comment_count"] == 3
    assert [c["content"] for c in detail["comments"]] == ["first!", "second"]


@pytest.mark.parametrize("content", ["", "   ", "x" * 1001])
async def test_comment_length_is_checked(app: Quart, runtime: Runtime, content: str) -> None:
    client, token = await signed_in(app, runtime)
    image = await (await api_upload(client, token)).get_json()
    response = await client.post(
        f"/api/v1/images/{image['id']}/comments",
        json={"content": content},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400
    assert await count_rows(runtime, Comment) == 0


async def test_comment_of_exactly_1000_characters_is_fine(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    image = await (await api_upload(client, token)).get_json()
    response = await client.post(
        f"/api/v1/images/{image['id']}/comments",
        json={"content": "é" * 1000},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 201


async def test_comment_refusals(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    image = await (await api_upload(client, token)).get_json()
    url = f"/api/v1/images/{image['id']}/comments"
    anonymous = app.test_client()
    anonymous_token = await csrf_token(anonymous)
    refused = await anonymous.post(
        url, json={"content": "hi"}, headers={"X-CSRF-Token": anonymous_token}
    )
    assert refused.status_code == 401
    assert (await client.post(url, json={"content": "hi"})).status_code == 403
    missing = await client.post(
        "/api/v1/images/424242/comments", json={"content": "hi"}, headers={"X-CSRF-Token": token}
    )
    assert missing.status_code == 404
    not_json = await client.post(url, json={"text": "hi"}, headers={"X-CSRF-Token": token})
    assert not_json.status_code == 400
    assert await count_rows(runtime, Comment) == 0


async def test_who_may_delete_a_comment(app: Quart, runtime: Runtime) -> None:
    owner, owner_token = await signed_in(app, runtime, "olivia")
    image = await (await api_upload(owner, owner_token)).get_json()
    url = f"/api/v1/images/{image['id']}/comments"
    writer, writer_token = await signed_in(app, runtime, "walter")
    stranger, stranger_token = await signed_in(app, runtime, "sam")
    ids = []
    for _ in range(3):
        posted = await writer.post(
            url, json={"content": "hi"}, headers={"X-CSRF-Token": writer_token}
        )
        ids.append((await posted.get_json())["id"])

    denied = await stranger.delete(
        f"/api/v1/comments/{ids[0]}", headers={"X-CSRF-Token": stranger_token}
    )
    assert denied.status_code == 403
    by_author = await writer.delete(
        f"/api/v1/comments/{ids[0]}", headers={"X-CSRF-Token": writer_token}
    )
    assert by_author.status_code == 204
    by_owner = await owner.delete(
        f"/api/v1/comments/{ids[1]}", headers={"X-CSRF-Token": owner_token}
    )
    assert by_owner.status_code == 204
    await set_permissions(runtime, "sam", int(Role.MODERATOR))
    by_moderator = await stranger.delete(
        f"/api/v1/comments/{ids[2]}", headers={"X-CSRF-Token": stranger_token}
    )
    assert by_moderator.status_code == 204
    gone = await writer.delete(f"/api/v1/comments/{ids[0]}", headers={"X-CSRF-Token": writer_token})
    assert gone.status_code == 404
    detail = await (await owner.get(f"/api/v1/images/{image['id']}")).get_json()
    assert detail["comment_count"] == 0 and detail["comments"] == []


async def test_deleting_an_image_removes_row_comments_and_files(
    app: Quart, runtime: Runtime
) -> None:
    owner, owner_token = await signed_in(app, runtime, "olivia")
    kept = await (await api_upload(owner, owner_token, description="kept")).get_json()
    doomed = await (await api_upload(owner, owner_token, description="doomed")).get_json()
    await owner.post(
        f"/api/v1/images/{doomed['id']}/comments",
        json={"content": "bye"},
        headers={"X-CSRF-Token": owner_token},
    )
    stranger, stranger_token = await signed_in(app, runtime, "sam")
    denied = await stranger.delete(
        f"/api/v1/images/{doomed['id']}", headers={"X-CSRF-Token": stranger_token}
    )
    assert denied.status_code == 403
    assert len(await stored_files(runtime)) == 2 * DEFAULT_PHOTO_FILES

    deleted = await owner.delete(
        f"/api/v1/images/{doomed['id']}", headers={"X-CSRF-Token": owner_token}
    )
    assert deleted.status_code == 204
    assert await count_rows(runtime, Image) == 1
    assert await count_rows(runtime, Comment) == 0
    remaining = await stored_files(runtime)
    assert len(remaining) == DEFAULT_PHOTO_FILES
    # The kept image's files (the URL ends in its stem, in the folder or the bucket).
    kept_stem = urlsplit(kept["url"]).path.rsplit("/", 1)[-1].split("_")[0]
    assert all(kept_stem in key for key in remaining)
    assert (await owner.get(f"/api/v1/images/{doomed['id']}")).status_code == 404
    again = await owner.delete(
        f"/api/v1/images/{doomed['id']}", headers={"X-CSRF-Token": owner_token}
    )
    assert again.status_code == 404


async def test_a_moderator_may_delete_any_image(app: Quart, runtime: Runtime) -> None:
    owner, owner_token = await signed_in(app, runtime, "olivia")
    image = await (await api_upload(owner, owner_token)).get_json()
    moderator, moderator_token = await signed_in(app, runtime, "mona")
    await set_permissions(runtime, "mona", int(Role.MODERATOR))
    response = await moderator.delete(
        f"/api/v1/images/{image['id']}", headers={"X-CSRF-Token": moderator_token}
    )
    assert response.status_code == 204
    assert await stored_files(runtime) == []


# -- turning comments off and on -----------------------------------------------


async def test_the_owner_turns_comments_off_with_patch(app: Quart, runtime: Runtime) -> None:
    alice, alice_token = await signed_in(app, runtime, "alice")
    image_id, _ = await add_image_with_comments(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    response = await patch_image_via_api(alice, alice_token, image_id, {"comments_enabled": False})
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == IMAGE_KEYS
    assert (body["id"], body["comments_enabled"]) == (image_id, False)
    assert len(body["comments"]) == 1  # the comment already there stays

    refused = await comment_via_api(bob, bob_token, image_id, "Hello?")
    assert refused.status_code == 403
    assert (await refused.get_json())["error"] == {
        "code": "FORBIDDEN",
        "message": COMMENTS_OFF_MESSAGE,
    }
    # The owner too: nobody comments while it is off.
    assert (await comment_via_api(alice, alice_token, image_id, "Me?")).status_code == 403

    # The page's form, without JavaScript: flashed, back at the comments.
    response = await post_form(bob, f"/images/{image_id}/comments", {"content": "Hello?"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comments"
    assert COMMENTS_OFF_MESSAGE in await page_text(bob, f"/images/{image_id}")
    assert await count_rows(runtime, Comment, Comment.image_id == image_id) == 1

    # Back on: comments go through again.
    response = await patch_image_via_api(alice, alice_token, image_id, {"comments_enabled": True})
    assert (await response.get_json())["comments_enabled"] is True
    assert (await comment_via_api(bob, bob_token, image_id, "Hello!")).status_code == 201
    assert await count_rows(runtime, Comment, Comment.image_id == image_id) == 2


async def test_only_the_owner_or_a_moderator_may_switch(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, _ = await add_image_with_comments(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    response = await patch_image_via_api(bob, bob_token, image_id, {"comments_enabled": False})
    assert response.status_code == 403
    assert (await response.get_json())["error"]["message"] == (
        "Only the owner or a moderator can turn comments on or off."
    )
    page = await post_form(bob, f"/images/{image_id}/comments/disable")
    assert page.status_code == 403
    assert "Only the owner or a moderator" in html.unescape(await page.get_data(as_text=True))

    anonymous = app.test_client()
    token = await csrf_token(anonymous)
    response = await patch_image_via_api(anonymous, token, image_id, {"comments_enabled": False})
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "UNAUTHORIZED"
    page = await post_form(anonymous, f"/images/{image_id}/comments/disable")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")

    assert (
        await patch_image_via_api(bob, None, image_id, {"comments_enabled": False})
    ).status_code == 403

    # A moderator may, and it is written to the moderation log.
    mona, mona_token = await signed_in(app, runtime, "mona")
    async with runtime.db.session() as session:
        moderator = await session.get_one(User, await user_id_of(runtime, "mona"))
        moderator.permissions = int(Role.MODERATOR)
        await session.commit()
    response = await patch_image_via_api(mona, mona_token, image_id, {"comments_enabled": False})
    assert response.status_code == 200
    assert (await response.get_json())["comments_enabled"] is False
    body = await page_text(mona, f"/images/{image_id}")
    assert f'action="/images/{image_id}/comments/enable"' in body
    response = await post_form(mona, f"/images/{image_id}/comments/enable")
    assert response.status_code == 303
    async with runtime.db.session() as session:
        actions = (
            await session.scalars(select(ModerationEntry.action).order_by(ModerationEntry.id))
        ).all()
    assert actions == [ModerationAction.DISABLE_COMMENTS, ModerationAction.ENABLE_COMMENTS]


async def test_patch_refuses_bad_bodies_and_unknown_images(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id, _ = await add_image_with_comments(runtime)
    for body in ({}, {"comments_enabled": "perhaps"}, {"comments_enabled": None}):
        response = await patch_image_via_api(alice, token, image_id, body)
        assert response.status_code == 400, body
        assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"
    response = await patch_image_via_api(alice, token, 424242, {"comments_enabled": False})
    assert response.status_code == 404


async def test_feeds_carry_comments_enabled_and_see_the_switch(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id, _ = await add_image_with_comments(runtime)

    first = await alice.get("/api/v1/feed")
    items = (await first.get_json())["items"]
    assert [(i["id"], i["comments_enabled"]) for i in items] == [(image_id, True)]
    etag = first.headers["ETag"]

    await patch_image_via_api(alice, token, image_id, {"comments_enabled": False})
    # The switch changes the feed's version: a poll with the old tag gets the new body.
    polled = await alice.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert (await polled.get_json())["items"][0]["comments_enabled"] is False
    detail = await (await alice.get(f"/api/v1/images/{image_id}")).get_json()
    assert detail["comments_enabled"] is False
    seed = await (await alice.get("/index/images/1/10/")).get_json()
    assert seed["images"][0]["comments_enabled"] is False


# -- the latest feed and users -------------------------------------------------


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
        "is_private",
        "requested",
        "display_name",
        "bio",
        "website",
        "avatar_urls",
    }
    assert (user["follower_count"], user["following_count"], user["following"]) == (0, 0, False)
    # No profile words yet, and the generated avatar (one scalable file) at every size.
    assert (user["display_name"], user["bio"], user["website"]) == (None, None, None)
    assert set(user["avatar_urls"].values()) == {user["avatar_url"]}
    assert (await client.get("/api/v1/users/nobody")).status_code == 404
    assert (await client.get("/api/v1/users/nobody/images")).status_code == 404
