"""ETags and 304s on the JSON feeds (``web/conditional.py``): per version, viewer and query."""

from __future__ import annotations

from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import counted_statements, csrf_token, make_active_user, sign_in
from tests.images import add_image_rows, api_upload


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
