"""The pages of images: upload, the image page and its comments, deletion, /media."""

from __future__ import annotations

import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Comment, Image, Tag
from gallery.services.comments import COMMENTS_OFF_MESSAGE
from tests.helpers import (
    add_image_with_comments,
    comment_via_api,
    count_rows,
    csrf_token,
    page_text,
    patch_image_via_api,
    post_form,
    signed_in,
    tag_names_of,
)
from tests.images import (
    DEFAULT_PHOTO_FILES,
    files_per_photo,
    jpeg_bytes,
    multipart,
    shared_image,
    stored_files,
)


async def upload_page(
    client: Client,
    files: list[tuple[bytes, str]],
    description: str = "",
    alt_texts: list[str] | None = None,
) -> Any:
    fields = [("description", description), ("csrf_token", await csrf_token(client))]
    fields += [("alt_text", text) for text in alt_texts or []]
    body, content_type = multipart(fields, [("file", name, data) for data, name in files])
    return await client.post("/upload", data=body, headers={"Content-Type": content_type})


# -- uploading -----------------------------------------------------------------


async def test_upload_page_needs_a_signed_in_user(app: Quart) -> None:
    response = await app.test_client().get("/upload")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/upload")


async def test_several_photos_chosen_together_make_one_post(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    form = await client.get("/upload")
    assert form.status_code == 200
    body = await form.get_data(as_text=True)
    assert 'name="file"' in body and "multiple" in body and 'enctype="multipart/form-data"' in body

    response = await upload_page(
        client,
        [(jpeg_bytes(), "one.jpg"), (shared_image("hopper.png"), "two.png")],
        "Beach day",
        alt_texts=["Waves at dusk", "A portrait"],
    )
    assert response.status_code == 303
    async with runtime.db.session() as session:
        [post] = (await session.scalars(select(Image))).all()
    assert response.headers["Location"] == f"/images/{post.id}"
    assert [photo.alt_text for photo in post.photos] == ["Waves at dusk", "A portrait"]
    page = await (await client.get(f"/images/{post.id}")).get_data(as_text=True)
    assert "Posted 2 photos." in page
    assert page.count("data-carousel-slide") == 2
    assert 'alt="Waves at dusk"' in page and 'alt="A portrait"' in page
    home = await (await client.get("/")).get_data(as_text=True)
    assert home.count("Beach day") == 1
    assert 'data-photo-count="2"' in home
    assert len(await stored_files(runtime)) == DEFAULT_PHOTO_FILES + files_per_photo(128)


async def test_a_bad_file_among_good_ones_is_named_and_nothing_is_posted(
    app: Quart, runtime: Runtime
) -> None:
    client, _ = await signed_in(app, runtime)
    response = await upload_page(
        client, [(jpeg_bytes(), "good.jpg"), (b"not an image at all", "evil<b>.jpg")], "Kept"
    )
    assert response.status_code == 415
    body = await response.get_data(as_text=True)
    assert "evil&lt;b&gt;.jpg" in body and "evil<b>" not in body
    assert "not an image we accept" in body
    assert "This one is fine" in body  # good.jpg, to choose again with the others
    assert "Kept</textarea>" in body
    assert await count_rows(runtime, Image) == 0
    assert await stored_files(runtime) == []


async def test_refusals_before_any_photo_is_read(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    response = await upload_page(client, [(shared_image("truncated_jpeg.jpg"), "cut.jpg")])
    assert response.status_code == 422
    assert "damaged or incomplete" in await response.get_data(as_text=True)
    no_file = await client.post("/upload", form={"csrf_token": await csrf_token(client)})
    assert no_file.status_code == 400
    assert "Choose at least one photo" in await no_file.get_data(as_text=True)
    eleven = await upload_page(client, [(jpeg_bytes(16, 16), f"{n}.jpg") for n in range(11)])
    assert eleven.status_code == 400
    assert "at most 10 photos" in await eleven.get_data(as_text=True)
    surplus = await upload_page(client, [(jpeg_bytes(), "one.jpg")], alt_texts=["a", "b"])
    assert surplus.status_code == 400
    assert "more alt texts than photos" in await surplus.get_data(as_text=True)
    assert await count_rows(runtime, Image) == 0
    assert await stored_files(runtime) == []


async def test_tags_attached_by_the_upload_page(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    response = await upload_page(
        client, [(jpeg_bytes(), "one.jpg"), (jpeg_bytes(), "two.jpg")], "Two of #Paris"
    )
    assert response.status_code == 303
    async with runtime.db.session() as session:
        image_ids = list(await session.scalars(select(Image.id)))
    assert len(image_ids) == 1
    assert await tag_names_of(runtime, image_ids[0]) == ["paris"]
    assert await count_rows(runtime, Tag) == 1


# -- the image page and its comments -------------------------------------------


async def test_image_page_comments_without_javascript(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
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
    client, _ = await signed_in(app, runtime)
    response = await post_form(client, "/images/4242/comments", {"content": "hello"})
    assert response.status_code == 404
    assert (await client.get("/images/4242")).status_code == 404


async def test_the_owner_switches_comments_with_the_page_button(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    image_id, _ = await add_image_with_comments(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    body = await page_text(alice, f"/images/{image_id}")
    assert f'action="/images/{image_id}/comments/disable"' in body
    assert "Turn comments off" in body
    assert 'id="comment-form"' in body and 'data-comments-enabled="true"' in body

    response = await post_form(alice, f"/images/{image_id}/comments/disable")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comments"

    body = await page_text(alice, f"/images/{image_id}")
    assert "Comments are turned off for this photo; the ones already there stay." in body  # flash
    assert f'action="/images/{image_id}/comments/enable"' in body and "Turn comments on" in body
    assert 'id="comment-form"' not in body
    assert f'<p class="comment-signin" data-comments-off>{COMMENTS_OFF_MESSAGE}</p>' in body
    assert 'data-comments-enabled="false"' in body
    assert "comment 0" in body  # the old comment is still listed
    assert (await comment_via_api(bob, bob_token, image_id, "Hi")).status_code == 403

    response = await post_form(alice, f"/images/{image_id}/comments/enable")
    assert response.status_code == 303
    body = await page_text(alice, f"/images/{image_id}")
    assert "Comments are on again for this photo." in body
    assert 'id="comment-form"' in body and "data-comments-off" not in body
    assert (await comment_via_api(bob, bob_token, image_id, "Hi")).status_code == 201


async def test_the_image_page_says_comments_are_off_to_everyone(
    app: Quart, runtime: Runtime
) -> None:
    alice, alice_token = await signed_in(app, runtime, "alice")
    image_id, _ = await add_image_with_comments(runtime)
    bob, _ = await signed_in(app, runtime, "bob")
    await patch_image_via_api(alice, alice_token, image_id, {"comments_enabled": False})

    for viewer in (bob, app.test_client()):
        body = await page_text(viewer, f"/images/{image_id}")
        assert COMMENTS_OFF_MESSAGE in body and "data-comments-off" in body
        assert 'id="comment-form"' not in body and "Sign in to comment" not in body
        assert "/comments/disable" not in body and "/comments/enable" not in body  # no switch
        assert "comment 0" in body


# -- deleting, and the stored files --------------------------------------------


async def test_deleting_from_the_page(app: Quart, runtime: Runtime) -> None:
    owner, _ = await signed_in(app, runtime, "olivia")
    await upload_page(owner, [(jpeg_bytes(), "one.jpg")])
    async with runtime.db.session() as session:
        image_id = await session.scalar(select(Image.id))
    stranger, _ = await signed_in(app, runtime, "sam")
    page = await (await stranger.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f"/images/{image_id}/delete" not in page
    denied = await post_form(stranger, f"/images/{image_id}/delete", {})
    assert denied.status_code == 403
    assert len(await stored_files(runtime)) == DEFAULT_PHOTO_FILES

    page = await (await owner.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f"/images/{image_id}/delete" in page
    deleted = await post_form(owner, f"/images/{image_id}/delete", {})
    assert deleted.status_code == 303
    assert deleted.headers["Location"] == "/u/olivia"
    assert await stored_files(runtime) == []
    assert (await owner.get(f"/images/{image_id}")).status_code == 404


async def test_media_serves_stored_files_and_nothing_else(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    await upload_page(client, [(jpeg_bytes(), "one.jpg")])
    key = (await stored_files(runtime))[0]
    response = await client.get(f"/media/{key}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    cached = await client.get(f"/media/{key}", headers={"If-None-Match": response.headers["ETag"]})
    assert cached.status_code == 304
    # A file beside the stored ones (in the folder; with a bucket, where it would be).
    media = runtime.settings.media_dir
    assert media is not None
    media.mkdir(parents=True, exist_ok=True)
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
