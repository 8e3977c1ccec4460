"""Tag pages, search pages and their JSON API; hashtags as links in descriptions."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.web.templating import hashtag_links
from tests.helpers import make_active_user, signed_in
from tests.images import api_upload
from tests.services.test_search import HOSTILE_QUERIES, add_described_images
from tests.web.test_images_api import IMAGE_KEYS

SQL_WORDS = re.compile(r"sqlalchemy|syntax|SELECT|MATCH|fts5|Traceback|OperationalError", re.I)


async def get_json(app: Quart, path: str) -> tuple[int, dict[str, Any]]:
    response = await app.test_client().get(path)
    assert response.content_type == "application/json", path
    return response.status_code, await response.get_json()


# -- the tag feed API --------------------------------------------------------------


async def test_tag_feed_api(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_described_images(runtime, user_id, "#Sea one", "no", "#sea two", "#SEA 3")
    status, first = await get_json(app, "/api/v1/tags/sea/images?limit=2")
    assert status == 200
    assert set(first) == {"items", "next_cursor"}
    items = first["items"]
    assert isinstance(items, list) and set(items[0]) == IMAGE_KEYS
    assert [i["id"] for i in items] == [ids[3], ids[2]]
    _, second = await get_json(
        app, f"/api/v1/tags/Sea/images?limit=2&cursor={first['next_cursor']}"
    )
    assert [i["id"] for i in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None


async def test_tag_feed_api_etag_and_304(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "#sea")
    client = app.test_client()
    first = await client.get("/api/v1/tags/sea/images")
    etag = first.headers["ETag"]
    again = await client.get("/api/v1/tags/sea/images", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert await again.get_data() == b""


@pytest.mark.parametrize("name", ["unknown", "2024", "%25", quote("' OR 1=1 --", safe="")])
async def test_tag_feed_api_404(app: Quart, runtime: Runtime, name: str) -> None:
    status, body = await get_json(app, f"/api/v1/tags/{name}/images")
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "cursor=nope"])
async def test_tag_feed_api_bad_parameters(app: Quart, runtime: Runtime, query: str) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "#sea")
    status, body = await get_json(app, f"/api/v1/tags/sea/images?{query}")
    assert status == 400
    assert body["error"]["code"] == "BAD_REQUEST"


# -- the search API -------------------------------------------------------------------


async def test_search_api_for_each_type(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await make_active_user(runtime, "alicia", "alicia@example.com")
    ids = await add_described_images(runtime, user_id, "Sunset at #Brighton", "Sunrise #brunch")

    status, photos = await get_json(app, "/api/v1/search?q=sunset")
    assert status == 200 and set(photos) == {"items", "next_cursor"}
    assert [i["id"] for i in photos["items"]] == [ids[0]]
    assert set(photos["items"][0]) == IMAGE_KEYS

    _, people = await get_json(app, "/api/v1/search?q=ALI&type=users")
    assert [p["username"] for p in people["items"]] == ["alice", "alicia"]
    assert set(people["items"][0]) == {"id", "username", "avatar_url"}

    _, found = await get_json(app, "/api/v1/search?q=%23br&type=tags")
    assert found["items"] == [
        {"name": "brighton", "image_count": 1, "url": "/tags/brighton"},
        {"name": "brunch", "image_count": 1, "url": "/tags/brunch"},
    ]


async def test_search_api_pages(app: Quart, runtime: Runtime) -> None:
    for index in range(3):
        await make_active_user(runtime, f"sam{index}", f"sam{index}@example.com")
    _, first = await get_json(app, "/api/v1/search?q=sam&type=users&limit=2")
    cursor = first["next_cursor"]
    assert isinstance(cursor, str)
    _, second = await get_json(app, f"/api/v1/search?q=sam&type=users&limit=2&cursor={cursor}")
    names = [p["username"] for p in first["items"] + second["items"]]
    assert names == ["sam0", "sam1", "sam2"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type something"),
        ("q=", "Type something"),
        ("q=%20%20", "Type something"),
        ("q=%00", "Type something"),
        ("q=" + "x" * 101, "at most 100"),
        ("q=" + "x" * 10_000, "at most 100"),
        ("q=%2B-%3E%3C()~", "letters or digits"),
        ("q=sun&type=pictures", "users, tags, images"),
        ("q=sun&limit=0", "limit"),
        ("q=sun&limit=abc", "limit"),
        ("q=sun&cursor=nope", "cursor"),
        ("q=sun&type=users&cursor=nope", "cursor"),
    ],
)
async def test_search_api_refusals(app: Quart, query: str, message: str) -> None:
    status, body = await get_json(app, f"/api/v1/search?{query}")
    assert status == 400
    error = body["error"]
    assert error["code"] == "BAD_REQUEST"
    assert message in error["message"]


@pytest.mark.parametrize("kind", ["images", "users", "tags"])
@pytest.mark.parametrize("hostile", [*HOSTILE_QUERIES, "x" * 10_000])
async def test_hostile_search_queries_are_answered_plainly(
    app: Quart, runtime: Runtime, kind: str, hostile: str
) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "plain #sun and moon, 東京 🌅 100%")
    status, body = await get_json(app, f"/api/v1/search?type={kind}&q={quote(hostile, safe='')}")
    assert status in (200, 400), body
    assert not SQL_WORDS.search(str(body)), body
    if status == 200:
        assert set(body) == {"items", "next_cursor"}
    else:
        assert body["error"]["code"] == "BAD_REQUEST"


async def test_openapi_lists_the_routes(app: Quart) -> None:
    document = await (await app.test_client().get("/openapi.json")).get_json()
    assert "/api/v1/search" in document["paths"]
    assert "/api/v1/tags/{name}/images" in document["paths"]
    parameters = {p["name"] for p in document["paths"]["/api/v1/search"]["get"]["parameters"]}
    assert {"q", "type", "limit", "cursor"} <= parameters


# -- the tag page -------------------------------------------------------------------------


async def test_tag_page(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, *(f"Photo {i} #Harbour" for i in range(14)))
    response = await app.test_client().get("/tags/harbour")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert "<title>#harbour · Gallery</title>" in page
    assert ">#harbour</h1>" in page
    assert "14 photos" in page
    assert page.count('class="photo-card"') == 12
    assert 'data-feed-url="/api/v1/tags/harbour/images"' in page
    more = re.search(r'href="(/tags/harbour\?cursor=[^"]+)" rel="next"', page)
    assert more, "the no-JS More link"
    second = await (await app.test_client().get(more.group(1).replace("&amp;", "&"))).get_data(
        as_text=True
    )
    assert second.count('class="photo-card"') == 2
    assert '<a class="hashtag" href="/tags/harbour">#Harbour</a>' in page


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/tags/Harbour", "/tags/harbour"),
        ("/tags/%23harbour", "/tags/harbour"),
        ("/tags/HARBOUR?cursor=abc", "/tags/harbour?cursor=abc"),
    ],
)
async def test_tag_pages_have_one_address(
    app: Quart, runtime: Runtime, path: str, target: str
) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, "#harbour")
    response = await app.test_client().get(path)
    assert response.status_code == 301
    assert response.headers["Location"] == target


@pytest.mark.parametrize("name", ["nobody", "2024", "%3Cscript%3E"])
async def test_unknown_tag_pages_are_404(app: Quart, name: str) -> None:
    response = await app.test_client().get(f"/tags/{name}")
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    assert "no such tag" in await response.get_data(as_text=True)


# -- the search page ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/search", "/search?q=", "/search?q=%20%20&type=users"])
async def test_search_page_without_a_query_shows_the_form(app: Quart, path: str) -> None:
    response = await app.test_client().get(path)
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert 'id="search-q"' in page and 'id="search-error"' not in page
    assert all(label in page for label in (">Photos<", ">People<", ">Tags<"))


async def test_search_page_results_for_each_tab(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await make_active_user(runtime, "sunny", "sunny@example.com")
    await add_described_images(runtime, user_id, "Sunset over the #SunnySide")
    client = app.test_client()

    photos = await (await client.get("/search?q=sunset")).get_data(as_text=True)
    assert photos.count('class="photo-card"') == 1
    assert 'data-feed-url="/api/v1/search?q=sunset&amp;type=images"' in photos
    assert '<a class="hashtag" href="/tags/sunnyside">#SunnySide</a>' in photos
    assert 'aria-current="page">Photos<' in photos

    people = await (await client.get("/search?q=sun&type=users")).get_data(as_text=True)
    assert 'href="/u/sunny"' in people and 'aria-current="page">People<' in people

    found = await (await client.get("/search?q=%23sun&type=tags")).get_data(as_text=True)
    assert 'href="/tags/sunnyside"' in found and "1 photo<" in found


async def test_search_page_empty_results(app: Quart, runtime: Runtime) -> None:
    page = await (await app.test_client().get("/search?q=zebra")).get_data(as_text=True)
    assert "Nothing found" in page and "zebra" in page


async def test_search_page_more_link(app: Quart, runtime: Runtime) -> None:
    for index in range(26):
        await make_active_user(runtime, f"kim{index:02d}", f"kim{index:02d}@example.com")
    client = app.test_client()
    page = await (await client.get("/search?q=kim&type=users")).get_data(as_text=True)
    assert page.count('class="search-item"') == 24
    more = re.search(r'href="([^"]+)" rel="next">More people<', page)
    assert more
    rest = await (await client.get(more.group(1).replace("&amp;", "&"))).get_data(as_text=True)
    assert rest.count('class="search-item"') == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=%00", "Type something to search for."),
        ("q=" + "y" * 150, "The search is too long"),
        ("q=%2B%2B%2B", "Search for words"),
        ("q=a&type=nope", "type must be one of"),
    ],
)
async def test_search_page_bad_queries_are_400_with_the_message(
    app: Quart, query: str, message: str
) -> None:
    response = await app.test_client().get(f"/search?{query}")
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert message in page and 'id="search-error"' in page


async def test_search_page_escapes_the_query(app: Quart, runtime: Runtime) -> None:
    hostile = '<script>alert("x")</script>'
    for kind in ("images", "users", "tags"):
        response = await app.test_client().get(f"/search?type={kind}&q={quote(hostile)}")
        page = await response.get_data(as_text=True)
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


async def test_every_page_has_the_search_form(app: Quart) -> None:
    page = await (await app.test_client().get("/")).get_data(as_text=True)
    assert re.search(
        r'<form class="site-search" role="search" method="get" action="/search">', page
    )


# -- hashtags as links --------------------------------------------------------------------


async def test_descriptions_link_their_hashtags(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(
        client, token, description='Dinner in #Tōkyō & <b>"#wine"</b> http://x/#top a#b'
    )
    image_id = (await response.get_json())["id"]
    linked = (
        '<a class="hashtag" href="/tags/t%C5%8Dky%C5%8D">#Tōkyō</a> &amp; &lt;b&gt;&#34;'
        '<a class="hashtag" href="/tags/wine">#wine</a>&#34;&lt;/b&gt; http://x/#top a#b'
    )
    home = await (await client.get("/")).get_data(as_text=True)
    assert f'<p class="photo-card-desc">Dinner in {linked}</p>' in home
    detail = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f'<p class="detail-desc">Dinner in {linked}</p>' in detail
    assert "<b>" not in detail


async def test_the_hashtag_filter_escapes_everything(app: Quart) -> None:
    async with app.test_request_context("/"):
        assert str(hashtag_links(None)) == ""
        assert str(hashtag_links("<i>no tags</i>")) == "&lt;i&gt;no tags&lt;/i&gt;"
        assert str(hashtag_links("#a<script>")) == (
            '<a class="hashtag" href="/tags/a">#a</a>&lt;script&gt;'
        )
        assert str(hashtag_links("x #東京")) == (
            'x <a class="hashtag" href="/tags/%E6%9D%B1%E4%BA%AC">#東京</a>'
        )
