"""Feed pages from the shared cache (``web/feed_pages.py``): built once per version,
shared by workers, exact after writes.

A second app over the same database and Redis stands for another Hypercorn
worker: it has its own in-process layer, so a page it cached before a change
must still never be served after it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.models.user import User
from gallery.services import moderation
from gallery.settings import Settings
from tests.conftest import build_settings
from tests.helpers import add_user_row, counted_statements, csrf_token, make_active_user, sign_in
from tests.images import add_image_rows, api_upload


async def test_pages_build_while_requests_hold_every_connection(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    """A page that looks its user up first waits for the shared build; with one
    connection per request pool, the build must not need a second one from it."""
    settings = build_settings(
        backend, instance_root, db_pool_size=1, db_max_overflow=0, pool_timeout_seconds=2
    )
    app = create_app(settings)
    async with app.test_app():
        runtime = runtime_of(app)
        alice = await make_active_user(runtime)
        await add_image_rows(runtime, alice, 3)
        pages = await asyncio.gather(*(app.test_client().get("/u/alice") for _ in range(4)))
        assert [page.status_code for page in pages] == [200] * 4


@pytest.fixture
async def other_worker(app: Quart, settings: Settings) -> AsyncIterator[Quart]:
    """Another worker process's app: same database and Redis, its own memory."""
    second = create_app(settings)
    async with second.test_app():
        yield second


def runtime_of(app: Quart) -> Runtime:
    return app.extensions["gallery"]


async def test_a_cached_page_costs_no_query_in_any_worker(
    app: Quart, runtime: Runtime, other_worker: Quart
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 3)
    built = await app.test_client().get("/api/v1/feed?limit=2")
    assert built.status_code == 200
    with counted_statements(runtime) as statements:
        again = await app.test_client().get("/api/v1/feed?limit=2")
    assert statements == []
    assert await again.get_data() == await built.get_data()
    # The other worker has nothing in memory: it reads the page from Redis.
    with counted_statements(runtime_of(other_worker)) as statements:
        there = await other_worker.test_client().get("/api/v1/feed?limit=2")
    assert statements == []
    assert await there.get_data() == await built.get_data()


async def test_concurrent_misses_build_the_page_once(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 5)
    client = app.test_client()
    with counted_statements(runtime) as statements:
        responses = await asyncio.gather(*(client.get("/api/v1/feed") for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert len({await response.get_data() for response in responses}) == 1
    image_queries = [s for s in statements if "FROM images" in s]
    assert len(image_queries) == 1, statements


async def test_likes_are_laid_over_the_shared_page_per_viewer(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 3)
    await make_active_user(runtime, "bob", "bob@example.com")
    bob = app.test_client()
    await sign_in(bob, "bob")
    token = await csrf_token(bob)
    liked = await bob.put(f"/api/v1/images/{ids[1]}/like", headers={"X-CSRF-Token": token})
    assert liked.status_code == 200
    anonymous = app.test_client()
    await anonymous.get("/api/v1/feed")  # the shared page is built for everyone

    with counted_statements(runtime) as statements:
        mine = await (await bob.get("/api/v1/feed")).get_json()
    # The fast path reads what it keeps of bob (his figures), finds no copy of
    # the page laid out for him and hands over to the app: who is signed in
    # (the account row) and which of the page's images they like.
    assert len(statements) == 3, statements
    assert "users.saves_version" in statements[0] and "FROM likes" in statements[2]
    assert {item["id"]: item["liked"] for item in mine["items"]} == {
        ids[0]: False,
        ids[1]: True,
        ids[2]: False,
    }
    with counted_statements(runtime) as statements:
        again = await (await bob.get("/api/v1/feed")).get_json()
    # His copy, kept for this version, and his figures: the fast path asks nothing.
    assert again == mine and statements == [], statements
    theirs = await (await anonymous.get("/api/v1/feed")).get_json()
    assert not any(item["liked"] for item in theirs["items"])  # the shared page is untouched
    assert [i["like_count"] for i in theirs["items"]] == [i["like_count"] for i in mine["items"]]
    home = await (await bob.get("/")).get_data(as_text=True)
    assert home.count('aria-pressed="true"') == 1
    await bob.delete(f"/api/v1/images/{ids[1]}/like", headers={"X-CSRF-Token": token})
    after = await (await bob.get("/api/v1/feed")).get_json()
    assert not any(item["liked"] for item in after["items"])


# -- every write that feeds show reaches every worker at once ---------------------

PAGES = (
    "/api/v1/feed",
    "/api/v1/users/alice/images",
    "/index/images/1/10/",
    "/api/v1/tags/sea/images",
)


async def items_of(client: Client, path: str) -> list[dict[str, Any]]:
    body = await (await client.get(path)).get_json()
    return list(body["items"] if "items" in body else body["images"])


Change = Callable[[Client, str, int], Awaitable[Callable[[list[dict[str, Any]]], bool]]]


async def upload(client: Client, token: str, _image_id: int) -> Callable[[list[Any]], bool]:
    new = await (await api_upload(client, token, description="more #sea")).get_json()
    return lambda items: items[0]["id"] == new["id"]


async def comment(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    await client.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": "fresh words"},
        headers={"X-CSRF-Token": token},
    )
    return lambda items: (
        items[0]["comment_count"] == 1
        and [c["content"] for c in items[0]["comments"]] == ["fresh words"]
    )


async def uncomment(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    posted = await client.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": "soon gone"},
        headers={"X-CSRF-Token": token},
    )
    comment_id = (await posted.get_json())["id"]
    await warm_everywhere(client)  # cached with the comment, then it goes
    await client.delete(f"/api/v1/comments/{comment_id}", headers={"X-CSRF-Token": token})
    return lambda items: items[0]["comment_count"] == 0 and items[0]["comments"] == []


async def like(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    await client.put(f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": token})
    return lambda items: items[0]["like_count"] == 1


async def unlike(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    await client.put(f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": token})
    await warm_everywhere(client)
    await client.delete(f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": token})
    return lambda items: items[0]["like_count"] == 0


async def close_comments(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    await client.patch(
        f"/api/v1/images/{image_id}",
        json={"comments_enabled": False},
        headers={"X-CSRF-Token": token},
    )
    return lambda items: items[0]["comments_enabled"] is False


async def delete(client: Client, token: str, image_id: int) -> Callable[[list[Any]], bool]:
    await client.delete(f"/api/v1/images/{image_id}", headers={"X-CSRF-Token": token})
    return lambda items: all(item["id"] != image_id for item in items)


WORKERS: list[Quart] = []
IMAGE_LINK = re.compile(r'href="/images/(\d+)"')


async def warm_everywhere(_client: Client) -> None:
    """Every page cached by every worker (each in its own memory and in Redis)."""
    for worker in WORKERS:
        for path in PAGES:
            assert (await worker.test_client().get(path)).status_code == 200, path


@pytest.mark.parametrize(
    "change", [upload, comment, uncomment, like, unlike, close_comments, delete]
)
async def test_every_worker_shows_a_change_as_soon_as_it_commits(
    app: Quart, runtime: Runtime, other_worker: Quart, change: Change
) -> None:
    client = app.test_client()
    await make_active_user(runtime)
    await sign_in(client)
    token = await csrf_token(client)
    first = await (await api_upload(client, token, description="first #sea")).get_json()
    WORKERS[:] = [app, other_worker]
    try:
        await warm_everywhere(client)
        shows_the_change = await change(client, token, first["id"])
        for worker in WORKERS:
            for path in PAGES:
                seen = await items_of(worker.test_client(), path)
                assert shows_the_change(seen), (change.__name__, path, seen)
            # The home page (the latest and today's top) shows what the feed shows.
            home = await (await worker.test_client().get("/")).get_data(as_text=True)
            on_home = {int(found) for found in IMAGE_LINK.findall(home)}
            feed = await items_of(worker.test_client(), "/api/v1/feed")
            assert on_home == {item["id"] for item in feed}, change.__name__
    finally:
        WORKERS.clear()


async def test_a_locked_account_sees_its_lock_on_cached_pages(app: Quart, runtime: Runtime) -> None:
    """The lock is personal: the shared page stays, the locked viewer's page changes."""
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 2)
    admin_id = await add_user_row(runtime, "root", role=31)
    client = app.test_client()
    await sign_in(client)
    before = await (await client.get("/")).get_data(as_text=True)
    assert 'href="/upload"' in before
    async with runtime.db.session() as session:
        admin = await session.get_one(User, admin_id)
        await moderation.lock_user(session, actor=admin, user_id=alice, reason="spam")
    after = await (await client.get("/")).get_data(as_text=True)
    assert "data-locked-banner" in after and "data-locked-banner" not in before
    assert 'href="/upload"' not in after


async def test_a_deep_seed_page_skips_rows_by_id_alone(app: Quart, runtime: Runtime) -> None:
    """The deferred join: OFFSET runs over ids from the index, the join over one page."""
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 30)
    with counted_statements(runtime) as statements:
        page = await (await app.test_client().get("/index/images/3/10/")).get_json()
    assert len(page["images"]) == 10 and page["has_next"] is False
    image_queries = [s.upper() for s in statements if "FROM IMAGES" in s.upper()]
    # First the page's ids alone (MariaDB writes the offset as LIMIT x, y), then its rows.
    skipping, rows = image_queries
    assert skipping.startswith("SELECT IMAGES.ID \nFROM IMAGES") and "JOIN" not in skipping
    assert "JOIN USERS" in rows and "IN (" in rows and "OFFSET" not in rows
