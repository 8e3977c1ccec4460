"""The tag pages and the search page (``web/discover.py``)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import make_active_user
from tests.images import add_described_images

# -- the tag page --------------------------------------------------------------


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


# -- the search page -----------------------------------------------------------


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
