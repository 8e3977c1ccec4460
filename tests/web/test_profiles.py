"""Profiles (display name, bio, website), avatars and the colour mode
(``services/profiles.py``, ``services/avatars.py``, ``web/settings.py``).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image as PILImage
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.user import AVATAR_SIZES
from gallery.services import avatars, profiles
from gallery.services.errors import InvalidInput
from tests.helpers import (
    csrf_header,
    csrf_token,
    fetch_user_by_name,
    follow_redirect,
    page_html,
    page_text,
    post_form,
    signed_in,
)
from tests.images import api_upload, jpeg_bytes, shared_image, stored_files, upload_file


def test_the_profile_words_are_checked_and_tidied() -> None:
    assert profiles.check_display_name("  Ada   Lovelace \n") == "Ada Lovelace"
    assert profiles.check_display_name("   ") is None
    assert profiles.check_display_name("Zoë 山田 🌸") == "Zoë 山田 🌸"
    # A right-to-left override would let a name pose as another.
    assert profiles.check_display_name("ad\u202emin") == "admin"
    assert profiles.check_display_name("x" * 50) == "x" * 50
    with pytest.raises(InvalidInput, match="at most 50") as refused:
        profiles.check_display_name("x" * 51)
    assert refused.value.field == "display_name"

    assert profiles.check_bio("Line one\r\n\r\n\r\n\r\nLine two") == "Line one\n\nLine two"
    with pytest.raises(InvalidInput, match="at most 300"):
        profiles.check_bio("y" * 301)

    assert profiles.check_website("example.com/me") == "https://example.com/me"
    assert profiles.check_website("http://example.com") == "http://example.com"
    assert profiles.check_website("") is None
    for bad in (
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com",
        "https://",
        "https://exa mple.com",
        "https://example.com:99999",
    ):
        with pytest.raises(InvalidInput, match="http:// or https://"):
            profiles.check_website(bad)
    with pytest.raises(InvalidInput, match="at most 200"):
        profiles.check_website("https://example.com/" + "a" * 200)


def test_generated_avatars_are_initials_on_a_hue_of_the_account() -> None:
    assert avatars.generated_letters("Ada Lovelace") == "AL"
    assert avatars.generated_letters("bob_smith") == "BS"
    assert avatars.generated_letters("carol") == "C"
    assert avatars.generated_letters("🌸 zoë") == "Z"
    assert avatars.generated_letters("🌸") == "?"
    hues = {avatars.generated_hue(user_id) for user_id in range(1, 25)}
    assert len(hues) == avatars.GENERATED_HUES  # neighbours differ, every hue used
    assert all(avatars.valid_generated("AL", hue) for hue in hues)
    assert not avatars.valid_generated("al", 0)
    assert not avatars.valid_generated("ABC", 0)
    assert not avatars.valid_generated("A", 7)
    assert not avatars.valid_generated("<", 0)


async def test_a_profile_is_saved_and_shown_everywhere_its_owner_appears(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    bob, _ = await signed_in(app, runtime, "bob")
    image_id = (await (await api_upload(alice, token, description="Dusk")).get_json())["id"]
    assert (await alice.get("/settings/")).headers["Location"].endswith("/settings/profile")

    saved = await post_form(
        alice,
        "/settings/profile",
        {
            "display_name": "Alice Ådahl",
            "bio": "Light chaser. See https://alice.example/work, or #dusk <b>photos</b>.",
            "website": "alice.example",
        },
    )
    assert "Your profile is saved." in await follow_redirect(alice, saved)

    profile = await page_html(bob, "/u/alice")
    assert "Alice Ådahl" in profile and "@alice" in profile
    assert (
        '<a href="https://alice.example/work" rel="nofollow ugc noopener">'
        "https://alice.example/work</a>," in profile
    )
    assert '<a class="hashtag" href="/tags/dusk">#dusk</a>' in profile
    assert "&lt;b&gt;photos&lt;/b&gt;" in profile  # escaped, never markup
    assert re.search(
        r'<a href="https://alice.example" rel="nofollow ugc noopener me"[^>]*>alice.example</a>',
        profile,
    )

    # The cached feed pages show the new name at once (the version moved).
    home = await page_text(bob, "/")
    assert "Alice Ådahl" in home
    item = (await (await bob.get("/api/v1/feed")).get_json())["items"][0]
    assert item["author"]["display_name"] == "Alice Ådahl"
    assert item["author"]["username"] == "alice"
    assert (await page_text(bob, f"/images/{image_id}")).count("Alice Ådahl") >= 1

    as_json = await (await bob.get("/api/v1/users/alice")).get_json()
    assert as_json["display_name"] == "Alice Ådahl"
    assert as_json["website"] == "https://alice.example"
    assert as_json["bio"].startswith("Light chaser.")


async def test_bad_profile_words_are_refused_and_nothing_is_saved(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    refused = await post_form(
        alice,
        "/settings/profile",
        {"display_name": "Alice", "bio": "ok", "website": "javascript:alert(1)"},
    )
    assert refused.status_code == 400
    page = await refused.get_data(as_text=True)
    assert 'data-error="website"' in page and "http:// or https://" in page
    assert 'value="javascript:alert(1)"' in page  # what was typed stays, escaped
    user = await fetch_user_by_name(runtime, "alice")
    assert (user.display_name, user.bio, user.website) == (None, None, None)

    over = await alice.patch(
        "/api/v1/me/profile", json={"bio": "b" * 301}, headers=csrf_header(token)
    )
    assert over.status_code == 400
    assert (await over.get_json())["error"]["message"].endswith("at most 300 characters.")

    # A field left out keeps its value; an empty one clears it.
    changed = await alice.patch(
        "/api/v1/me/profile",
        json={"display_name": "Al", "website": "https://al.example"},
        headers=csrf_header(token),
    )
    assert changed.status_code == 200
    assert (await changed.get_json())["display_name"] == "Al"
    cleared = await alice.patch(
        "/api/v1/me/profile", json={"website": ""}, headers=csrf_header(token)
    )
    assert (await cleared.get_json())["website"] is None
    me = await (await alice.get("/api/v1/me")).get_json()
    assert (me["display_name"], me["website"], me["theme"]) == ("Al", None, "auto")


def pixels_at(data: bytes, x: int, y: int) -> tuple[int, ...]:
    with PILImage.open(io.BytesIO(data)) as image:
        return tuple(image.convert("RGB").getpixel((x, y)))


def two_halves(width: int = 600, height: int = 300) -> bytes:
    """A photo red on its left half and blue on its right."""
    image = PILImage.new("RGB", (width, height), (220, 20, 20))
    image.paste((20, 20, 220), (width // 2, 0, width, height))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


async def test_an_avatar_is_the_chosen_square_in_every_size_without_metadata(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    before = await stored_files(runtime)
    generated = await (await alice.get("/api/v1/me")).get_json()
    assert generated["avatar_url"] == avatars.generated_avatar_path(
        await fetch_user_by_name(runtime, "alice")
    )
    svg = await alice.get(generated["avatar_url"])
    assert svg.status_code == 200 and svg.content_type.startswith("image/svg+xml")
    assert ">A</text>" in await svg.get_data(as_text=True)
    assert "immutable" in svg.headers["Cache-Control"]

    # The right (blue) square of the red-and-blue photo.
    chosen = await alice.put(
        "/api/v1/me/avatar",
        files={"file": upload_file(two_halves())},
        form={"crop_left": "300", "crop_top": "0", "crop_side": "300"},
        headers=csrf_header(token),
    )
    assert chosen.status_code == 200, await chosen.get_data(as_text=True)
    urls = (await chosen.get_json())["avatar_urls"]
    assert sorted(int(size) for size in urls) == sorted(AVATAR_SIZES)
    user = await fetch_user_by_name(runtime, "alice")
    for size in AVATAR_SIZES:
        data = await runtime.storage.open(user.avatar_keys[AVATAR_SIZES.index(size)])
        with PILImage.open(io.BytesIO(data)) as image:
            assert image.size == (size, size)
        red, green, blue = pixels_at(data, size // 2, size // 2)
        assert blue > 150 and red < 80, (size, red, green, blue)
    assert sorted(set(await stored_files(runtime)) - set(before)) == sorted(user.avatar_keys)

    # A GPS-tagged photo loses its metadata; without a square, its centre is kept.
    replaced = await alice.put(
        "/api/v1/me/avatar",
        files={"file": upload_file(shared_image("exif_gps.jpg"))},
        headers=csrf_header(token),
    )
    assert replaced.status_code == 200
    old_keys = user.avatar_keys
    user = await fetch_user_by_name(runtime, "alice")
    largest = await runtime.storage.open(user.avatar_keys[-1])
    with PILImage.open(io.BytesIO(largest)) as image:
        assert not image.getexif() and "exif" not in image.info
    # The old files are gone; only the new ones are left.
    assert sorted(set(await stored_files(runtime)) - set(before)) == sorted(user.avatar_keys)
    assert not set(old_keys) & set(await stored_files(runtime))

    # Shown on the feed's cards in the JSON.
    await api_upload(alice, token)
    item = (await (await alice.get("/api/v1/feed")).get_json())["items"][0]
    assert item["author"]["avatar_url"] == (await replaced.get_json())["avatar_url"]

    removed = await alice.delete("/api/v1/me/avatar", headers=csrf_header(token))
    assert removed.status_code == 204
    assert not set(user.avatar_keys) & set(await stored_files(runtime))
    me = await (await alice.get("/api/v1/me")).get_json()
    assert me["avatar_url"].startswith("/avatars/")


async def test_a_bad_avatar_is_refused_and_the_old_one_stays(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    first = await alice.put(
        "/api/v1/me/avatar", files={"file": upload_file(jpeg_bytes())}, headers=csrf_header(token)
    )
    assert first.status_code == 200
    kept = (await fetch_user_by_name(runtime, "alice")).avatar_key
    files = await stored_files(runtime)

    cases = [
        ({"file": upload_file(b"<html>not a photo</html>")}, {}, 415),
        ({"file": upload_file(shared_image("truncated_jpeg.jpg"))}, {}, 422),
        # Outside the 640 × 480 photo, and not whole pixels.
        (
            {"file": upload_file(jpeg_bytes())},
            {"crop_left": "400", "crop_top": "0", "crop_side": "300"},
            400,
        ),
        (
            {"file": upload_file(jpeg_bytes())},
            {"crop_left": "-1", "crop_top": "0", "crop_side": "30"},
            400,
        ),
        ({"file": upload_file(jpeg_bytes())}, {"crop_left": "10"}, 400),
        ({}, {}, 400),
    ]
    for uploaded, crop, status in cases:
        response = await alice.put(
            "/api/v1/me/avatar", files=uploaded, form=crop, headers=csrf_header(token)
        )
        assert response.status_code == status, (crop, await response.get_data(as_text=True))
    assert (await fetch_user_by_name(runtime, "alice")).avatar_key == kept
    assert await stored_files(runtime) == files

    # The page's form answers the same, with the reason under the field.
    page = await post_avatar_form(
        alice, jpeg_bytes(), {"crop_left": "0", "crop_top": "0", "crop_side": "481"}
    )
    assert page.status_code == 400
    assert "must lie inside the photo (640 × 480 pixels)" in await page.get_data(as_text=True)


async def post_avatar_form(client: Client, data: bytes, crop: dict[str, str] | None = None) -> Any:
    """The settings page's avatar form, posted as the browser sends it."""
    return await client.post(
        "/settings/profile/avatar",
        files={"file": upload_file(data)},
        form={"csrf_token": await csrf_token(client, "/settings/profile"), **(crop or {})},
    )


async def test_the_settings_page_takes_an_avatar_and_removes_it(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    settings = await page_html(alice, "/settings/profile")
    assert "data-avatar-form" in settings and "/avatars/" in settings

    changed = await post_avatar_form(alice, jpeg_bytes(300, 200))
    page = await follow_redirect(alice, changed)
    assert "Your avatar is changed." in page
    user = await fetch_user_by_name(runtime, "alice")
    assert user.avatar_key and "/avatars/" not in page.split("data-current-avatar")[0][-400:]

    removed = await post_form(alice, "/settings/profile/avatar/remove")
    assert "your initials stand in" in await follow_redirect(alice, removed)
    assert (await fetch_user_by_name(runtime, "alice")).avatar_key is None
    assert not set(user.avatar_keys) & set(await stored_files(runtime))


async def test_the_colour_mode_is_on_every_page_before_it_renders(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    anonymous = app.test_client()
    # Following the system: the script that reads it runs in <head>, before the body.
    for client in (alice, anonymous):
        page = await page_html(client, "/")
        assert '<html lang="en" data-theme-auto>' in page
        head = page.split("</head>")[0]
        assert re.search(r'<script src="/static/js/theme\.js[^"]*"></script>', head)
        assert 'content="light dark"' in head

    saved = await post_form(alice, "/settings/appearance", {"theme": "dark"})
    assert "Your appearance setting is saved." in await follow_redirect(alice, saved)
    for path in ("/", "/u/alice", "/settings/appearance", "/notifications"):
        page = await page_html(alice, path)
        assert '<html lang="en" data-bs-theme="dark">' in page, path
        assert "theme.js" not in page  # nothing to decide in the browser
    assert 'id="theme-dark" value="dark" checked' in await page_html(alice, "/settings/appearance")

    light = await alice.put(
        "/api/v1/me/appearance", json={"theme": "light"}, headers=csrf_header(token)
    )
    assert await light.get_json() == {"theme": "light"}
    assert 'data-bs-theme="light"' in await page_html(alice, "/")
    bad = await alice.put(
        "/api/v1/me/appearance", json={"theme": "purple"}, headers=csrf_header(token)
    )
    assert bad.status_code == 400
    refused = await post_form(alice, "/settings/appearance", {"theme": "purple"})
    assert "Choose the light or dark mode" in await follow_redirect(alice, refused)
    assert (await fetch_user_by_name(runtime, "alice")).theme == "light"
