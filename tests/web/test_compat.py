"""The seed clients' numbered pages (``web/compat.py``): their shape, their limits."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.models import Image, Photo
from tests.helpers import SEED_IMAGE_KEYS, make_active_user
from tests.images import add_image_rows, image_row


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


async def test_a_post_of_several_photos_is_its_first_photo_in_the_seed_shape(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    async with runtime.db.session() as session:
        post: Image = image_row(alice, 0, "Three")
        post.photos[0].alt_text = "the first"
        post.photos += [
            Photo(
                owner_id=alice, position=position, original_key=f"o{position}.jpg",
                display_key=f"d{position}.jpg", thumb_key=f"t{position}.jpg",
                width=100 * position, height=50, thumb_size=50,
            )
            for position in (1, 2)
        ]  # fmt: skip
        session.add(post)
        await session.commit()
        cover_key = post.photos[0].display_key
    client = app.test_client()
    for path in ("/index/images/1/10/", f"/profile/images/{alice}/1/10/"):
        [item] = (await (await client.get(path)).get_json())["images"]
        assert set(item) == SEED_IMAGE_KEYS
        assert urlsplit(item["url"]).path.endswith(cover_key)  # a bucket's URL is signed
        assert (item["width"], item["height"]) == (800, 600)
        assert item["description"] == "Three"
    [api_item] = (await (await client.get("/api/v1/feed")).get_json())["items"]
    assert [urlsplit(photo["url"]).path[-6:] for photo in api_item["photos"]] == [
        cover_key[-6:], "d1.jpg", "d2.jpg",
    ]  # fmt: skip
    assert api_item["photos"][0]["alt_text"] == "the first"


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
