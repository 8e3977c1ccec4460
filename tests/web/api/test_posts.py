"""The composer's API (``web/api/posts.py``): photos sent one by one, then posted together."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import update

from gallery.infra.runtime import Runtime
from gallery.models import Image, Photo
from gallery.models.base import utcnow
from gallery.services import drafts
from tests.helpers import (
    IMAGE_KEYS,
    PHOTO_KEYS,
    count_rows,
    csrf_header,
    signed_in,
    user_id_of,
)
from tests.images import files_per_photo, jpeg_bytes, shared_image, stored_files, upload_file


async def send_photo(
    client: Client, token: str, data: bytes | None = None, alt_text: str = ""
) -> Any:
    return await client.post(
        "/api/v1/photos",
        files={"file": upload_file(data if data is not None else jpeg_bytes(320, 240))},
        form={"alt_text": alt_text},
        headers=csrf_header(token),
    )


async def sent_photo_id(client: Client, token: str, **size: int) -> int:
    response = await send_photo(client, token, jpeg_bytes(**size) if size else None)
    assert response.status_code == 201, await response.get_data(as_text=True)
    return int((await response.get_json())["id"])


async def post_drafts(client: Client, token: str, photos: list[dict[str, Any]], **body: Any) -> Any:
    return await client.post(
        "/api/v1/posts", json={"photos": photos, **body}, headers=csrf_header(token)
    )


async def test_photos_sent_one_by_one_become_a_post_in_the_order_chosen(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    sent = await send_photo(client, token, alt_text="typed early")
    assert sent.status_code == 201
    assert set(await sent.get_json()) == PHOTO_KEYS
    first = (await sent.get_json())["id"]
    second = await sent_photo_id(client, token, width=200, height=300)
    third = await sent_photo_id(client, token, width=300, height=300)
    # Sent, not posted: nobody sees them yet.
    assert (await (await client.get("/api/v1/feed")).get_json())["items"] == []

    response = await post_drafts(
        client,
        token,
        [{"id": third}, {"id": first, "alt_text": "the chosen words"}, {"id": second}],
        description="In my order #order",
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    post = await response.get_json()
    assert set(post) == IMAGE_KEYS
    assert [photo["id"] for photo in post["photos"]] == [third, first, second]
    assert [photo["alt_text"] for photo in post["photos"]] == ["", "the chosen words", ""]
    assert (post["width"], post["height"]) == (300, 300)  # the cover is the first chosen
    assert response.headers["Location"] == f"/api/v1/images/{post['id']}"
    [shown] = (await (await client.get("/api/v1/feed")).get_json())["items"]
    assert shown["id"] == post["id"] and len(shown["photos"]) == 3
    tagged = await (await client.get("/api/v1/tags/order/images")).get_json()
    assert [item["id"] for item in tagged["items"]] == [post["id"]]

    # Taken: posting them again finds nothing waiting.
    again = await post_drafts(client, token, [{"id": first}])
    assert again.status_code == 404


async def test_a_bad_photo_is_refused_on_its_own_and_the_others_stay(
    app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(app, runtime)
    good = await sent_photo_id(client, token)
    bad = await send_photo(client, token, shared_image("truncated_jpeg.jpg"))
    assert bad.status_code == 422
    assert "damaged" in (await bad.get_json())["error"]["message"]
    assert len(await stored_files(runtime)) == files_per_photo(320)  # the good one's only
    response = await post_drafts(client, token, [{"id": good}])
    assert response.status_code == 201


async def test_only_your_own_waiting_photos_can_be_posted(app: Quart, runtime: Runtime) -> None:
    alice, alice_token = await signed_in(app, runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")
    alices = await sent_photo_id(alice, alice_token)
    mine = await sent_photo_id(bob, bob_token)

    stolen = await post_drafts(bob, bob_token, [{"id": mine}, {"id": alices}])
    assert stolen.status_code == 404
    assert "Photo 2 is not one of your photos" in (await stolen.get_json())["error"]["message"]
    twice = await post_drafts(bob, bob_token, [{"id": mine}, {"id": mine}])
    assert twice.status_code == 400
    none = await post_drafts(bob, bob_token, [])
    assert none.status_code == 400
    eleven = await post_drafts(bob, bob_token, [{"id": mine}] * 11)
    assert eleven.status_code == 400
    assert await count_rows(runtime, Image) == 0
    # Nothing was taken by the refusals: both still post.
    assert (await post_drafts(bob, bob_token, [{"id": mine}])).status_code == 201
    assert (await post_drafts(alice, alice_token, [{"id": alices}])).status_code == 201


async def test_removing_a_waiting_photo_removes_its_files(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    kept = await sent_photo_id(client, token)
    dropped = await sent_photo_id(client, token)
    assert len(await stored_files(runtime)) == 2 * files_per_photo(320)
    gone = await client.delete(f"/api/v1/photos/{dropped}", headers=csrf_header(token))
    assert gone.status_code == 204
    assert len(await stored_files(runtime)) == files_per_photo(320)
    assert (await post_drafts(client, token, [{"id": dropped}])).status_code == 404

    assert (await post_drafts(client, token, [{"id": kept}])).status_code == 201
    posted = await client.delete(f"/api/v1/photos/{kept}", headers=csrf_header(token))
    assert posted.status_code == 409
    assert len(await stored_files(runtime)) == files_per_photo(320)


async def test_someone_elses_photo_cannot_be_removed(app: Quart, runtime: Runtime) -> None:
    alice, alice_token = await signed_in(app, runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")
    alices = await sent_photo_id(alice, alice_token)
    response = await bob.delete(f"/api/v1/photos/{alices}", headers=csrf_header(bob_token))
    assert response.status_code == 404
    assert await count_rows(runtime, Photo) == 1


async def test_photos_never_posted_are_swept_after_a_day(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    old = await sent_photo_id(client, token)
    fresh = await sent_photo_id(client, token)
    posted = await sent_photo_id(client, token)
    assert (await post_drafts(client, token, [{"id": posted}])).status_code == 201
    async with runtime.db.session() as session:
        await session.execute(
            update(Photo)
            .where(Photo.id.in_([old, posted]))
            .values(created_at=utcnow() - timedelta(hours=25))
        )
        await session.commit()

    assert await drafts.sweep_drafts(runtime.db, runtime.storage) == 1

    assert (await post_drafts(client, token, [{"id": old}])).status_code == 404
    assert (await post_drafts(client, token, [{"id": fresh}])).status_code == 201
    assert len(await stored_files(runtime)) == 2 * files_per_photo(320)  # the posted two


async def test_waiting_photos_are_bounded(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    first = await sent_photo_id(client, token, width=16, height=16)
    owner_id = await user_id_of(runtime, "alice")
    # Rows only (no files) for the rest of the allowance: counting is what is tested.
    async with runtime.db.session() as session:
        for _ in range(drafts.MAX_DRAFTS_PER_USER - 1):
            session.add(
                Photo(
                    owner_id=owner_id, position=0, original_key="x", display_key="x",
                    thumb_key="x", width=1, height=1, thumb_size=1,
                )
            )  # fmt: skip
        await session.commit()
    refused = await send_photo(client, token)
    assert refused.status_code == 409
    assert "40 photos waiting" in (await refused.get_json())["error"]["message"]
    await client.delete(f"/api/v1/photos/{first}", headers=csrf_header(token))
    assert (await send_photo(client, token)).status_code == 201
