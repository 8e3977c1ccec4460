"""The home page and the API's documentation page (``web/main.py``)."""

from __future__ import annotations

import html
import re

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from tests.helpers import add_like, add_user_row, make_active_user, page_html
from tests.images import add_image_rows


async def test_home_page_renders(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert '<meta name="csrf-token"' in body


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


async def test_home_page_shows_todays_top_above_the_first_page_only(
    app: Quart, runtime: Runtime
) -> None:
    client = app.test_client()
    assert "data-todays-top" not in await page_html(client, "/")  # hidden while empty

    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 14)
    fan = await add_user_row(runtime, "fan")
    await add_like(runtime, fan, ids[3])
    await runtime.redis.flushdb()  # type: ignore[union-attr]  # re-rank now, not in a minute
    body = await page_html(client, "/")
    strip = re.search(r"<section [^>]*data-todays-top>.*?</section>", body, re.S)
    assert strip, "today's top above the latest photos"
    tiles = [int(i) for i in re.findall(r'data-top-image="(\d+)"', strip.group(0))]
    assert 1 <= len(tiles) <= 6 and tiles[0] == ids[3]
    assert body.index("data-todays-top") < body.index("data-feed-items")
    assert "Today&#39;s top" in strip.group(0) or "Today's top" in strip.group(0)
    # The cards of the latest feed are counted apart from the strip's tiles.
    assert len(re.findall(r'<article class="photo-card" data-image-id=', body)) == 12

    more = re.search(r'href="(/\?cursor=[^"]+)"', body)
    assert more
    assert "data-todays-top" not in await page_html(client, html.unescape(more.group(1)))


async def test_docs_page_lists_the_api_without_pages(app: Quart) -> None:
    client = app.test_client()
    document = await (await client.get("/openapi.json")).get_json()
    json_prefixes = ("/api/", "/index/images/", "/profile/images/")
    assert all(path.startswith(json_prefixes) for path in document["paths"])
    assert "/upload" not in document["paths"]
    page = await client.get("/docs")
    assert page.status_code == 200
    body = await page.get_data(as_text=True)
    assert "/api/v1/sessions/{session_id}" in body
    assert "<script>" not in body
