"""The anonymous home page's content, rendered once per feed version and URL
(``web/fragments.py``).

Only the content block (hero, today's top, the grid and its footer) is kept;
base.html around it (navbar, the session's CSRF token, flashed messages) is
rendered for every request. What is kept must be exactly what a fresh render
would give: every change the feeds show appears at once, and signed-in
viewers, odd query strings and other pages never see a kept copy.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from quart import Quart
from quart.signals import template_rendered
from sqlalchemy import update

from gallery.infra.runtime import Runtime
from gallery.models import Image
from gallery.services import ranking
from gallery.web.fragments import FRAGMENT_EXTENSION, FragmentCache
from gallery.web.main import HOME_CONTENT_TEMPLATE
from tests.helpers import META_CSRF, csrf_token, make_active_user, page_html, sign_in, signed_in
from tests.images import add_image_rows, api_upload

CARD = '<article class="photo-card"'
MAIN = re.compile(r"<main\b.*?</main>", re.DOTALL)
NEXT_CURSOR = re.compile(r'data-next-cursor="([^"]*)"')
TOP_IDS = re.compile(r'data-top-image="(\d+)"')


@pytest.fixture
def rendered(app: Quart) -> Iterator[list[str]]:
    """The names of the templates rendered on their own (not included) during the test."""
    names: list[str] = []

    async def record(_sender: Quart, template: Any, **_extra: Any) -> None:
        names.append(template.name)

    with template_rendered.connected_to(record, app):
        yield names


def main_part(page: str) -> str:
    found = MAIN.search(page)
    assert found, "no <main> on the page"
    return found.group(0)


def sign_in_next(path: str) -> str:
    """The query of a "sign in to like" link back to ``path``, as ``url_for`` writes it."""
    return html.escape(urlencode({"next": path}, safe="!$'()*,/:;?@"))


def like_count_of(page: str, image_id: int) -> int:
    found = re.search(
        rf'data-like-image="{image_id}">.*?<span class="count-value">(\d+)</span>', page, re.DOTALL
    )
    assert found, f"no like count for image {image_id}"
    return int(found.group(1))


async def test_anonymous_visitors_share_one_render_of_the_content(
    app: Quart, runtime: Runtime, rendered: list[str]
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 3)
    first, second = app.test_client(), app.test_client()

    one = await first.get("/")
    two = await second.get("/")

    assert rendered.count(HOME_CONTENT_TEMPLATE) == 1
    assert rendered.count("main/index.html") == 2  # the page around it, every time
    page_one, page_two = await one.get_data(as_text=True), await two.get_data(as_text=True)
    assert page_one.count(CARD) == 3 and "data-todays-top" in page_one
    assert main_part(page_one) == main_part(page_two)
    # Each visitor still gets a CSRF token of their own (in a cookie: see web/security.py).
    token_one, token_two = META_CSRF.search(page_one), META_CSRF.search(page_two)
    assert token_one and token_two and token_one.group(1) != token_two.group(1)
    for response in (one, two):
        assert "gallery_csrf=" in response.headers.get("Set-Cookie", "")
    assert await csrf_token(first) == token_one.group(1)  # and it stays theirs


async def test_concurrent_misses_render_the_content_once(
    app: Quart, runtime: Runtime, rendered: list[str]
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 5)
    responses = await asyncio.gather(*(app.test_client().get("/") for _ in range(12)))
    assert {response.status_code for response in responses} == {200}
    assert rendered.count(HOME_CONTENT_TEMPLATE) == 1
    parts = {main_part(await response.get_data(as_text=True)) for response in responses}
    assert len(parts) == 1


# -- a change shows at once -------------------------------------------------------


async def test_an_upload_shows_at_once(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    anonymous = app.test_client()
    first = await (await api_upload(client, token, description="first #sea")).get_json()
    assert f'data-image-id="{first["id"]}"' in await page_html(anonymous)

    second = await (await api_upload(client, token, description="second #sky")).get_json()

    page = await page_html(anonymous)
    assert page.count(CARD) == 2
    assert f'data-image-id="{second["id"]}"' in page
    # (Today's top takes new images in when it is re-ranked, once a minute.)
    assert 'href="/tags/sky"' in page  # the description's hashtag, as a link


async def test_a_like_and_a_comment_show_at_once(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    [image_id] = await add_image_rows(runtime, alice, 1)
    bob, token = await signed_in(app, runtime, "bob")
    anonymous = app.test_client()
    before = await page_html(anonymous)
    assert like_count_of(before, image_id) == 0

    liked = await bob.put(f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": token})
    assert liked.status_code == 200
    assert like_count_of(await page_html(anonymous), image_id) == 1

    posted = await bob.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": "fresh words"},
        headers={"X-CSRF-Token": token},
    )
    assert posted.status_code == 201
    page = await page_html(anonymous)
    assert "fresh words" in page and like_count_of(page, image_id) == 1


async def test_a_new_ranking_of_todays_top_shows_without_a_feed_change(
    app: Quart, runtime: Runtime
) -> None:
    """Today's top is re-ranked on a clock of its own: views move it, not the feed version."""
    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 3)
    anonymous = app.test_client()
    assert TOP_IDS.findall(await page_html(anonymous))[0] == str(ids[-1])  # newest first on ties

    assert runtime.redis is not None
    async with runtime.db.session() as session:
        await session.execute(update(Image).where(Image.id == ids[0]).values(view_count=1000))
        await session.commit()
        await ranking.refresh_ranking(session, runtime.redis)

    assert TOP_IDS.findall(await page_html(anonymous))[0] == str(ids[0])


# -- what is per request stays per request ----------------------------------------


@pytest.mark.parametrize("warm", [True, False], ids=["kept", "first-render"])
async def test_a_flashed_message_still_shows_once(
    app: Quart, runtime: Runtime, rendered: list[str], warm: bool
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 2)
    if warm:
        await page_html(app.test_client())
    client = app.test_client()
    await sign_in(client)

    signed_out = await client.post("/logout", form={"csrf_token": await csrf_token(client)})
    assert signed_out.status_code == 302
    page = await page_html(client, signed_out.headers["Location"])

    assert "You are signed out." in page
    assert "hero-heading" in page and "data-like-signin" in page  # the anonymous content
    assert rendered.count(HOME_CONTENT_TEMPLATE) == 1
    assert "You are signed out." not in await page_html(client)  # shown once, as before


async def test_a_signed_in_viewer_never_gets_the_anonymous_content(
    app: Quart, runtime: Runtime, rendered: list[str]
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 2)
    anonymous = app.test_client()
    await page_html(anonymous)
    client = app.test_client()
    await sign_in(client)

    page = await page_html(client)

    assert 'class="feed-tabs"' in page and "data-like-form" in page
    assert "data-like-signin" not in page and "hero-heading" not in page
    assert rendered.count(HOME_CONTENT_TEMPLATE) == 1  # the anonymous render only
    # Nor does the viewer's page reach anonymous visitors.
    again = await page_html(anonymous)
    assert "data-like-signin" in again and "data-like-form" not in again
    assert 'class="feed-tabs"' not in again


async def test_each_cursor_page_is_kept_apart(
    app: Quart, runtime: Runtime, rendered: list[str]
) -> None:
    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 15)
    anonymous = app.test_client()
    first = await page_html(anonymous)
    found = NEXT_CURSOR.search(first)
    assert found and found.group(1)
    cursor = html.unescape(found.group(1))
    path = f"/?cursor={quote(cursor, safe='')}"

    later = await page_html(anonymous, path)
    again = await page_html(app.test_client(), path)

    assert rendered.count(HOME_CONTENT_TEMPLATE) == 2  # the first page, then this one
    assert main_part(later) == main_part(again)
    shown = [int(i) for i in re.findall(r'data-image-id="(\d+)"', later)]
    assert shown == sorted(ids[:3], reverse=True)  # the oldest three, newest first
    assert "data-todays-top" not in later and "Back to the newest photos" in later
    # The sign-in links come back to this page, not to the first one.
    assert f'href="/login?{sign_in_next(path)}"' in later
    # The first page is unchanged by it.
    assert main_part(await page_html(anonymous)) == main_part(first)
    assert rendered.count(HOME_CONTENT_TEMPLATE) == 2


async def test_other_query_strings_render_as_usual(
    app: Quart, runtime: Runtime, rendered: list[str]
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 2)
    anonymous = app.test_client()

    page = await page_html(anonymous, "/?foo=bar")

    assert page.count(CARD) == 2 and "data-todays-top" in page
    assert f'href="/login?{sign_in_next("/?foo=bar")}"' in page  # the URL as asked for
    assert HOME_CONTENT_TEMPLATE not in rendered  # included, not kept
    assert FRAGMENT_EXTENSION not in app.extensions
    bad = await anonymous.get("/?cursor=not-a-cursor")
    assert bad.status_code == 400
    assert FRAGMENT_EXTENSION not in app.extensions


# -- the cache itself ---------------------------------------------------------------


class Renders:
    """A render that counts its calls and can be made to wait or fail."""

    def __init__(self, text: str = "<p>hi</p>") -> None:
        self.text = text
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.text


@pytest.fixture
async def cache() -> AsyncIterator[FragmentCache]:
    yield FragmentCache(entries=2)


async def test_the_cache_keeps_the_latest_keys(cache: FragmentCache) -> None:
    render = Renders()
    for key in ("a", "b", "a", "c"):  # "a" is used again, so "b" is the oldest
        assert await cache.get_or_render(key, render) == "<p>hi</p>"
    assert render.calls == 3 and len(cache) == 2
    await cache.get_or_render("a", render)
    assert render.calls == 3
    await cache.get_or_render("b", render)
    assert render.calls == 4


async def test_a_failed_render_reaches_every_waiter_and_is_not_kept(cache: FragmentCache) -> None:
    render = Renders()
    render.gate.clear()
    render.error = RuntimeError("template broke")
    waiting = [asyncio.ensure_future(cache.get_or_render("k", render)) for _ in range(3)]
    await asyncio.sleep(0)
    render.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert render.calls == 1
    assert all(isinstance(result, RuntimeError) for result in results)
    render.error = None
    assert await cache.get_or_render("k", render) == "<p>hi</p>" and render.calls == 2


async def test_a_waiter_that_leaves_does_not_cancel_the_render(cache: FragmentCache) -> None:
    render = Renders()
    render.gate.clear()
    leaving = asyncio.ensure_future(cache.get_or_render("k", render))
    staying = asyncio.ensure_future(cache.get_or_render("k", render))
    await asyncio.sleep(0)
    leaving.cancel()
    render.gate.set()
    assert await staying == "<p>hi</p>"
    assert leaving.cancelled() and render.calls == 1 and len(cache) == 1
