"""The JSON API for images and comments: shapes, permissions, refusals, deletion."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from quart import Quart
from sqlalchemy import func, select

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.models import Comment, Image, Permission, Role, User
from tests.conftest import build_settings
from tests.helpers import csrf_token, signed_in
from tests.images import api_upload, jpeg_bytes, shared_image, stored_files, upload_file

IMAGE_KEYS = {
    "id",
    "url",
    "thumb_url",
    "width",
    "height",
    "description",
    "created_at",
    "author",
    "comment_count",
    "like_count",
    "liked",
    "comments",
    # Beyond SPEC §5's Image: whether the owner lets people comment (issue 5).
    "comments_enabled",
}
COMMENT_KEYS = {"id", "content", "created_at", "author"}
AUTHOR_KEYS = {"id", "username", "avatar_url"}


async def count_rows(runtime: Runtime, model: type) -> int:
    async with runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def set_permissions(runtime: Runtime, username: str, permissions: int) -> None:
    async with runtime.db.session() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.permissions = permissions
        await session.commit()


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
    display = await client.get(body["url"])
    assert display.status_code == 200
    assert display.headers["Content-Type"] == "image/jpeg"
    thumb = await client.get(body["thumb_url"])
    assert thumb.status_code == 200
    assert len(stored_files(runtime)) == 3  # original, display, thumbnail


async def test_uploaded_photo_keeps_no_gps_and_is_upright(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    gps = await api_upload(client, token, shared_image("exif_gps.jpg"))
    assert gps.status_code == 201
    rotated = await api_upload(client, token, shared_image("orientation_rectangle.jpg"))
    assert rotated.status_code == 201
    assert ((await rotated.get_json())["width"], (await rotated.get_json())["height"]) == (1, 2)
    for path in stored_files(runtime):
        with PILImage.open(path) as stored:
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
    assert stored_files(runtime) == []


async def test_upload_needs_exactly_one_file(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await client.post(
        "/api/v1/images", form={"description": "no file"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 400
    assert "file" in (await response.get_json())["error"]["message"]


async def test_too_long_description_is_refused(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(client, token, description="x" * 2001)
    assert response.status_code == 400
    assert await count_rows(runtime, Image) == 0
    assert stored_files(runtime) == []


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
    assert stored_files(runtime) == []


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
    assert len(stored_files(runtime)) == 6

    deleted = await owner.delete(
        f"/api/v1/images/{doomed['id']}", headers={"X-CSRF-Token": owner_token}
    )
    assert deleted.status_code == 204
    assert await count_rows(runtime, Image) == 1
    assert await count_rows(runtime, Comment) == 0
    remaining = stored_files(runtime)
    assert len(remaining) == 3
    assert all(kept["url"].split("/")[-1].split("_")[0] in p.name for p in remaining)
    assert (await owner.get(doomed["url"])).status_code == 404
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
    assert stored_files(runtime) == []
