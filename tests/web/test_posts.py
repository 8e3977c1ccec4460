"""A post after posting (``web/posts.py``, ``services/posts.py``): editing its words with
their history, content warnings, and saving posts for later."""

from __future__ import annotations

import html
import io
import re

from PIL import Image
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Image as Post
from gallery.models import ModerationAction
from tests.helpers import (
    csrf_header,
    csrf_token,
    moderation_entries,
    moderator_client,
    page_html,
    post_form,
    signed_in,
    tag_names_of,
)
from tests.images import api_upload, jpeg_bytes, multipart


async def two_photo_post(
    app: Quart, runtime: Runtime, caption: str = "Before #old"
) -> tuple[int, Client, str]:
    """Alice's post of two photos (the first with alt text); its id, her client and token."""
    client, token = await signed_in(app, runtime)
    body, content_type = multipart(
        [("description", caption), ("alt_text", "first words"), ("alt_text", "")],
        [("file", "a.jpg", jpeg_bytes()), ("file", "b.jpg", jpeg_bytes(200, 200))],
    )
    response = await client.post(
        "/api/v1/images", data=body, headers={"Content-Type": content_type, "X-CSRF-Token": token}
    )
    assert response.status_code == 201
    return int((await response.get_json())["id"]), client, token


# -- editing -------------------------------------------------------------------------


async def test_the_author_edits_caption_and_alt_texts_and_the_history_keeps_the_old(
    app: Quart, runtime: Runtime
) -> None:
    post_id, client, token = await two_photo_post(app, runtime)
    before = await (await client.get(f"/api/v1/images/{post_id}")).get_json()
    photo_ids = [photo["id"] for photo in before["photos"]]
    assert before["edited_at"] is None

    form = await page_html(client, f"/images/{post_id}/edit")
    assert f'name="alt_text_{photo_ids[0]}"' in form and "first words</textarea>" in form
    response = await post_form(
        client,
        f"/images/{post_id}/edit",
        {
            "description": "After #new",
            f"alt_text_{photo_ids[0]}": "first words, better",
            f"alt_text_{photo_ids[1]}": "a second <description>",
        },
    )
    assert response.status_code == 303

    after = await (await client.get(f"/api/v1/images/{post_id}")).get_json()
    assert after["description"] == "After #new"
    assert [p["alt_text"] for p in after["photos"]] == [
        "first words, better",
        "a second <description>",
    ]
    assert after["edited_at"] is not None
    # Hashtags follow the caption, in the same transaction.
    assert await tag_names_of(runtime, post_id) == ["new"]
    assert (await (await client.get("/api/v1/tags/old/images")).get_json())["items"] == []
    page = await page_html(client, f"/images/{post_id}")
    assert "data-edited" in page and 'alt="a second &lt;description&gt;"' in page

    history = await (await client.get(f"/api/v1/images/{post_id}/versions")).get_json()
    assert [v["description"] for v in history["items"]] == ["After #new", "Before #old"]
    assert history["items"][1]["alt_texts"] == [
        {"photo_id": photo_ids[0], "alt_text": "first words"},
        {"photo_id": photo_ids[1], "alt_text": ""},
    ]
    assert history["items"][1]["editor"] == "alice"
    history_page = await page_html(client, f"/images/{post_id}/history")
    assert "Before #old" in history_page and html.escape("a second <description>") in history_page

    # Saving the same words again writes no version.
    again = await client.patch(
        f"/api/v1/images/{post_id}", json={"description": "After #new"}, headers=csrf_header(token)
    )
    assert again.status_code == 200
    assert (
        len((await (await client.get(f"/api/v1/images/{post_id}/versions")).get_json())["items"])
        == 2
    )


async def test_the_edited_caption_reaches_the_cached_feeds_at_once(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    post_id = (await (await api_upload(client, token, description="Old words")).get_json())["id"]
    first = await client.get("/api/v1/feed")
    assert (await first.get_json())["items"][0]["description"] == "Old words"
    etag = first.headers["ETag"]
    response = await client.patch(
        f"/api/v1/images/{post_id}", json={"description": "New words"}, headers=csrf_header(token)
    )
    assert response.status_code == 200
    polled = await client.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert (await polled.get_json())["items"][0]["description"] == "New words"
    assert "New words" in await page_html(app.test_client(), "/")


async def test_only_the_author_edits_words_and_only_they_and_moderators_see_history(
    app: Quart, runtime: Runtime
) -> None:
    post_id, _, _ = await two_photo_post(app, runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")
    moderator = await moderator_client(app, runtime)
    moderator_token = await csrf_token(moderator)
    for client, token in ((bob, bob_token), (moderator, moderator_token)):
        refused = await client.patch(
            f"/api/v1/images/{post_id}",
            json={"description": "mine now"},
            headers=csrf_header(token),
        )
        assert refused.status_code == 403
        assert (await client.get(f"/images/{post_id}/edit")).status_code == 404
    assert (await bob.get(f"/api/v1/images/{post_id}/versions")).status_code == 404
    assert (await bob.get(f"/images/{post_id}/history")).status_code == 404
    assert (await moderator.get(f"/api/v1/images/{post_id}/versions")).status_code == 200
    async with runtime.db.session() as session:
        post = await session.get_one(Post, post_id)
        assert post.description == "Before #old" and post.edited_at is None


async def test_alt_texts_only_for_the_posts_own_photos_and_within_bounds(
    app: Quart, runtime: Runtime
) -> None:
    post_id, client, token = await two_photo_post(app, runtime)
    foreign = await client.patch(
        f"/api/v1/images/{post_id}",
        json={"alt_texts": [{"id": 987654, "alt_text": "x"}]},
        headers=csrf_header(token),
    )
    assert foreign.status_code == 400
    too_long = await client.patch(
        f"/api/v1/images/{post_id}",
        json={"alt_texts": [{"id": 1, "alt_text": "x" * 1501}]},
        headers=csrf_header(token),
    )
    assert too_long.status_code == 400
    nothing = await client.patch(f"/api/v1/images/{post_id}", json={}, headers=csrf_header(token))
    assert nothing.status_code == 400


# -- content warnings -------------------------------------------------------------------


async def test_a_sensitive_post_is_blurred_behind_its_warning_until_the_viewer_opts_in(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    post_id = (await (await api_upload(client, token, description="Surgery")).get_json())["id"]
    marked = await client.patch(
        f"/api/v1/images/{post_id}",
        json={"sensitive": True, "content_warning": "Blood <and> needles"},
        headers=csrf_header(token),
    )
    assert marked.status_code == 200
    body = await marked.get_json()
    assert (body["sensitive"], body["content_warning"]) == (True, "Blood <and> needles")
    # Not an edit of the words: no "edited", no version.
    assert body["edited_at"] is None

    bob, _ = await signed_in(app, runtime, "bob")
    for viewer in (app.test_client(), bob):
        for path in ("/", f"/images/{post_id}", "/u/alice"):
            page = await page_html(viewer, path)
            assert "is-sensitive" in page, path
        home = await page_html(viewer, "/")
        assert "data-sensitive-cover" in home and "Blood &lt;and&gt; needles" in home

    # Bob asks to always see such photos: no blur, no cover, for him only.
    assert (await post_form(bob, "/account/sensitive", {"show_sensitive": "1"})).status_code == 302
    for path in ("/", f"/images/{post_id}"):
        page = await page_html(bob, path)
        assert "is-sensitive" not in page and "data-sensitive-cover" not in page
        assert "data-show-sensitive" in page
    assert "is-sensitive" in await page_html(app.test_client(), "/")

    unmarked = await client.patch(
        f"/api/v1/images/{post_id}", json={"sensitive": False}, headers=csrf_header(token)
    )
    assert (await unmarked.get_json())["content_warning"] is None
    assert "is-sensitive" not in await page_html(app.test_client(), "/")


async def test_moderators_add_and_remove_the_mark_and_the_log_says_so(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    post_id = (await (await api_upload(client, token)).get_json())["id"]
    moderator = await moderator_client(app, runtime)
    page = await page_html(moderator, f"/images/{post_id}")
    assert "data-sensitive-switch" in page
    response = await post_form(
        moderator, f"/images/{post_id}/sensitive", {"sensitive": "1", "content_warning": "Gore"}
    )
    assert response.status_code == 303
    response = await post_form(moderator, f"/images/{post_id}/sensitive", {"sensitive": "0"})
    assert response.status_code == 303
    entries = await moderation_entries(runtime)
    assert [e.action for e in entries][-2:] == [
        ModerationAction.MARK_SENSITIVE.value,
        ModerationAction.UNMARK_SENSITIVE.value,
    ]
    assert entries[-2].reason == "Gore" and entries[-2].target == f"image {post_id}"
    bob, bob_token = await signed_in(app, runtime, "bob")
    refused = await bob.patch(
        f"/api/v1/images/{post_id}", json={"sensitive": True}, headers=csrf_header(bob_token)
    )
    assert refused.status_code == 403


# -- saved for later ----------------------------------------------------------------------


async def test_saving_posts_for_later_is_private_and_shows_on_every_feed(
    app: Quart, runtime: Runtime
) -> None:
    alice, alice_token = await signed_in(app, runtime)
    first = (await (await api_upload(alice, alice_token, description="one")).get_json())["id"]
    second = (await (await api_upload(alice, alice_token, description="two")).get_json())["id"]
    bob, token = await signed_in(app, runtime, "bob")

    feed = await bob.get("/api/v1/feed")
    etag = feed.headers["ETag"]
    assert [item["saved"] for item in (await feed.get_json())["items"]] == [False, False]
    for post_id in (first, second):
        saved = await bob.put(f"/api/v1/images/{post_id}/save", headers=csrf_header(token))
        assert (await saved.get_json()) == {"saved": True}
    again = await bob.put(f"/api/v1/images/{first}/save", headers=csrf_header(token))
    assert again.status_code == 200

    # The feed did not change for anyone, but Bob's view of it did: a new ETag.
    polled = await bob.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert [item["saved"] for item in (await polled.get_json())["items"]] == [True, True]
    assert 'aria-pressed="true"' in await page_html(bob, f"/images/{first}")
    mine = await (await bob.get("/api/v1/saved")).get_json()
    assert [item["id"] for item in mine["items"]] == [second, first]  # latest save first
    assert "one" in await page_html(bob, "/saved")

    # Nobody else sees Bob's saves.
    others = await (await alice.get("/api/v1/feed")).get_json()
    assert [item["saved"] for item in others["items"]] == [False, False]
    assert (await (await alice.get("/api/v1/saved")).get_json())["items"] == []
    assert (await app.test_client().get("/api/v1/saved")).status_code == 401

    gone = await bob.delete(f"/api/v1/images/{first}/save", headers=csrf_header(token))
    assert (await gone.get_json()) == {"saved": False}
    assert [i["id"] for i in (await (await bob.get("/api/v1/saved")).get_json())["items"]] == [
        second
    ]
    # The page's form without JavaScript.
    response = await post_form(bob, f"/images/{first}/save", {"next": "/saved"})
    assert response.status_code == 303 and response.headers["Location"] == "/saved"
    assert (
        await bob.put("/api/v1/images/987654/save", headers=csrf_header(token))
    ).status_code == 404


async def test_a_deleted_post_leaves_the_saved_list(app: Quart, runtime: Runtime) -> None:
    alice, alice_token = await signed_in(app, runtime)
    post_id = (await (await api_upload(alice, alice_token)).get_json())["id"]
    bob, token = await signed_in(app, runtime, "bob")
    await bob.put(f"/api/v1/images/{post_id}/save", headers=csrf_header(token))
    deleted = await alice.delete(f"/api/v1/images/{post_id}", headers=csrf_header(alice_token))
    assert deleted.status_code == 204
    assert (await (await bob.get("/api/v1/saved")).get_json())["items"] == []
    async with runtime.db.session() as session:
        assert (await session.scalars(select(Post.id))).all() == []


# -- the full-size photo ---------------------------------------------------------------


async def test_the_author_downloads_each_stored_full_size_photo(
    app: Quart, runtime: Runtime
) -> None:
    post_id, client, _ = await two_photo_post(app, runtime)
    post = await (await client.get(f"/api/v1/images/{post_id}")).get_json()
    second = post["photos"][1]["id"]
    page = await page_html(client, f"/images/{post_id}")
    assert page.count("data-download-original") == 2
    response = await client.get(f"/images/{post_id}/photos/{second}/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="gallery-{post_id}-2.jpg"'
    )
    original = Image.open(io.BytesIO(await response.get_data()))
    assert original.size == (200, 200) and not original.getexif()

    bob, _ = await signed_in(app, runtime, "bob")
    assert "data-download-original" not in await page_html(bob, f"/images/{post_id}")
    refused = await bob.get(f"/images/{post_id}/photos/{second}/download")
    assert refused.status_code == 404
    other_post = await client.get(f"/images/{post_id + 1}/photos/{second}/download")
    assert other_post.status_code == 404


# -- responsive photos everywhere ---------------------------------------------------------


async def test_every_page_that_shows_photos_offers_srcset_picture_and_placeholder(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    photos = [("file", f"{n}.jpg", jpeg_bytes(1200, 800)) for n in range(10)]
    body, content_type = multipart([("description", "Ten at once #ten")], photos)
    response = await client.post(
        "/api/v1/images", data=body, headers={"Content-Type": content_type, "X-CSRF-Token": token}
    )
    assert response.status_code == 201
    post = await response.get_json()
    assert len(post["photos"]) == 10
    assert [p["width"] for p in post["photos"]] == [1080] * 10
    cover = post["photos"][0]
    # 320, 640, 1080 and the photo's own 1200 (\S*: a bucket's signed query).
    widths = ["320", "640", "1080", "1200"]
    assert re.findall(r"_w(\d+)\.webp\S* (\d+)w", cover["srcset"]) == [(w, w) for w in widths]
    assert re.findall(r"_w(\d+)\.jpg\S* (\d+)w", cover["fallback_srcset"]) == [
        (w, w) for w in widths
    ]
    assert cover["srcset_type"] == "image/webp"
    await client.put(f"/api/v1/images/{post['id']}/save", headers=csrf_header(token))

    pages = [
        "/",
        "/u/alice",
        "/tags/ten",
        "/search?q=ten",
        f"/images/{post['id']}",
        "/saved",
    ]
    for path in pages:
        html_body = await page_html(client, path)
        assert '<picture class="photo-picture"><source type="image/webp"' in html_body, path
        assert html.escape(cover["srcset"]) in html_body or cover["srcset"] in html_body, path
        assert 'sizes="' in html_body and "data-blurhash=" in html_body, path
    detail = await page_html(client, f"/images/{post['id']}")
    assert detail.count("data-carousel-slide") == 10 and detail.count("data-carousel-dot") == 10
