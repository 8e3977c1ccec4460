"""The HTML pages of images: upload, home, profile, image page, deletion, /media."""

from __future__ import annotations

import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import Comment, Image
from tests.helpers import csrf_token, make_active_user, post_form, sign_in
from tests.images import add_image_rows, jpeg_bytes, multipart, shared_image, stored_files


async def count_rows(runtime: Runtime, model: type) -> int:
    async with runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def signed_in_client(app: Quart, runtime: Runtime, username: str = "alice") -> Client:
    await make_active_user(runtime, username, f"{username}@example.com")
    client = app.test_client()
    await sign_in(client, username)
    return client


async def upload_page(client: Client, files: list[tuple[bytes, str]], description: str = "") -> Any:
    body, content_type = multipart(
        {"description": description, "csrf_token": await csrf_token(client)},
        [("file", name, data) for data, name in files],
    )
    return await client.post("/upload", data=body, headers={"Content-Type": content_type})


async def test_upload_page_needs_a_signed_in_user(app: Quart) -> None:
    response = await app.test_client().get("/upload")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/upload")


async def test_uploading_several_photos_lands_them_on_the_home_page(
    app: Quart, runtime: Runtime
) -> None:
    client = await signed_in_client(app, runtime)
    form = await client.get("/upload")
    assert form.status_code == 200
    body = await form.get_data(as_text=True)
    assert 'name="file"' in body and "multiple" in body and 'enctype="multipart/form-data"' in body

    response = await upload_page(
        client, [(jpeg_bytes(), "one.jpg"), (shared_image("hopper.png"), "two.png")], "Beach day"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    home = await (await client.get("/")).get_data(as_text=True)
    assert "Uploaded 2 photos." in home
    assert home.count("Beach day") >= 2
    assert await count_rows(runtime, Image) == 2


async def test_a_bad_file_among_good_ones_is_reported_by_name(app: Quart, runtime: Runtime) -> None:
    client = await signed_in_client(app, runtime)
    response = await upload_page(
        client, [(jpeg_bytes(), "good.jpg"), (b"not an image at all", "evil<b>.jpg")]
    )
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert "evil&lt;b&gt;.jpg" in body and "evil<b>" not in body
    assert "not an image we accept" in body
    assert await count_rows(runtime, Image) == 1
    assert len(stored_files(runtime)) == 3


async def test_only_bad_files_answer_with_their_status(app: Quart, runtime: Runtime) -> None:
    client = await signed_in_client(app, runtime)
    response = await upload_page(client, [(shared_image("truncated_jpeg.jpg"), "cut.jpg")])
    assert response.status_code == 422
    assert "damaged or incomplete" in await response.get_data(as_text=True)
    no_file = await client.post("/upload", form={"csrf_token": await csrf_token(client)})
    assert no_file.status_code == 400
    assert "Choose at least one image" in await no_file.get_data(as_text=True)
    assert await count_rows(runtime, Image) == 0
    assert stored_files(runtime) == []


async def test_home_page_shows_latest_photos_with_a_more_link(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 14)
    client = app.test_client()
    body = await (await client.get("/")).get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'data-image-id="(\d+)"', body)]
    assert shown == sorted(ids, reverse=True)[:12]
    more = re.search(r'href="(/\?cursor=[^"]+)"', body)
    assert more, "the no-JavaScript fallback link to the next page"
    rest = await (await client.get(more.group(1).replace("&amp;", "&"))).get_data(as_text=True)
    assert [int(i) for i in re.findall(r'data-image-id="(\d+)"', rest)] == sorted(ids)[:2][::-1]
    assert 'width="800" height="600"' in body  # space reserved before the image loads


async def test_profile_page_and_unknown_users(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    alice_ids = await add_image_rows(runtime, alice, 2)
    await add_image_rows(runtime, bob, 1)
    client = app.test_client()
    page = await client.get("/u/Alice")
    assert page.status_code == 200
    body = await page.get_data(as_text=True)
    assert "alice" in body
    assert sorted(int(i) for i in re.findall(r'data-image-id="(\d+)"', body)) == alice_ids
    missing = await client.get("/u/nobody")
    assert missing.status_code == 404
    assert "<!doctype html>" in (await missing.get_data(as_text=True)).lower()


async def test_image_page_comments_without_javascript(app: Quart, runtime: Runtime) -> None:
    client = await signed_in_client(app, runtime)
    await upload_page(client, [(jpeg_bytes(), "one.jpg")], "Line one\n<script>x</script>")
    async with runtime.db.session() as session:
        image_id = await session.scalar(select(Image.id))
    page = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert 'id="comment-form"' in page

    posted = await post_form(client, f"/images/{image_id}/comments", {"content": "Lovely!"})
    assert posted.status_code == 303
    assert re.fullmatch(rf"/images/{image_id}#comment-\d+", posted.headers["Location"])
    page = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert "Lovely!" in page

    empty = await post_form(client, f"/images/{image_id}/comments", {"content": "  "})
    assert empty.status_code == 303
    page = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert "Write something before posting" in page
    assert await count_rows(runtime, Comment) == 1


async def test_comment_form_on_a_missing_image_is_404(app: Quart, runtime: Runtime) -> None:
    client = await signed_in_client(app, runtime)
    response = await post_form(client, "/images/4242/comments", {"content": "hello"})
    assert response.status_code == 404
    assert (await client.get("/images/4242")).status_code == 404


async def test_deleting_from_the_page(app: Quart, runtime: Runtime) -> None:
    owner = await signed_in_client(app, runtime, "olivia")
    await upload_page(owner, [(jpeg_bytes(), "one.jpg")])
    async with runtime.db.session() as session:
        image_id = await session.scalar(select(Image.id))
    stranger = await signed_in_client(app, runtime, "sam")
    page = await (await stranger.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f"/images/{image_id}/delete" not in page
    denied = await post_form(stranger, f"/images/{image_id}/delete", {})
    assert denied.status_code == 403
    assert len(stored_files(runtime)) == 3

    page = await (await owner.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f"/images/{image_id}/delete" in page
    deleted = await post_form(owner, f"/images/{image_id}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["Location"] == "/u/olivia"
    assert stored_files(runtime) == []
    assert (await owner.get(f"/images/{image_id}")).status_code == 404


async def test_media_serves_stored_files_and_nothing_else(app: Quart, runtime: Runtime) -> None:
    client = await signed_in_client(app, runtime)
    await upload_page(client, [(jpeg_bytes(), "one.jpg")])
    media = runtime.settings.media_dir
    assert media is not None
    key = stored_files(runtime)[0].relative_to(media).as_posix()
    response = await client.get(f"/media/{key}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    cached = await client.get(f"/media/{key}", headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status_code == 304
    (media / "secret.txt").write_text("not for you")
    for path in (
        "/media/secret.txt",
        "/media/../gallery.db",
        "/media/%2e%2e/gallery.db",
        "/media/..%2fgallery.db",
        f"/media/{key}/../../secret.txt",
        "/media/00/00/" + "0" * 32 + "_display.jpg",
    ):
        assert (await client.get(path)).status_code == 404, path
