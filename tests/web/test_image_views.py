"""Views counted by the image page and the API (``web/image_views.py``): who the viewer is."""

from __future__ import annotations

import re

from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.services import views
from tests.helpers import make_active_user, sign_in, stored_view_count
from tests.images import add_image_rows


async def test_the_image_page_and_the_api_count_views(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = (await add_image_rows(runtime, user_id, 1))[0]
    assert runtime.redis is not None
    anonymous = app.test_client()
    for _ in range(2):  # a reload in the same hour counts once
        page = await anonymous.get(f"/images/{image_id}", headers={"User-Agent": "browser-a"})
        assert page.status_code == 200
    assert await views.pending_views(runtime.redis) == {image_id: 1}

    # Another browser at the same address is another anonymous viewer.
    api = await anonymous.get(f"/api/v1/images/{image_id}", headers={"User-Agent": "browser-b"})
    assert api.status_code == 200
    polled = await anonymous.get(
        f"/api/v1/images/{image_id}",
        headers={"User-Agent": "browser-b", "If-None-Match": api.headers["ETag"]},
    )
    assert polled.status_code == 304
    assert await views.pending_views(runtime.redis) == {image_id: 2}

    signed = app.test_client()
    await sign_in(signed)
    await signed.get(f"/images/{image_id}")
    await signed.get(f"/api/v1/images/{image_id}", headers={"User-Agent": "other"})
    assert await views.pending_views(runtime.redis) == {image_id: 3}

    # The markers name the user, or a keyed hash that does not reveal the address.
    markers = [key async for key in runtime.redis.scan_iter(f"{views.SEEN_PREFIX}*")]
    assert len(markers) == 3
    anonymous_marker = re.compile(rf"views:seen:{image_id}:a:[0-9a-f]{{32}}")
    assert sum(1 for key in markers if anonymous_marker.fullmatch(key)) == 2
    assert f"views:seen:{image_id}:u:{user_id}" in markers

    assert await views.flush_views(runtime.db, runtime.redis) == 3
    assert await stored_view_count(runtime.db, image_id) == 3
    assert await views.pending_views(runtime.redis) == {}
