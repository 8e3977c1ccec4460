"""Feed pages from the shared cache, with what is personal laid on top.

Every public feed page (everyone's, an author's, a tag's, the seed pages, the
hot feed, today's top) is built once per feed version, *as an anonymous
visitor sees it*, and kept in the page cache (``infra.page_cache``) that every
worker and every viewer share. A request then costs one Redis read for the
version and a lookup; the database is asked only when something changed.

What differs per viewer is added afterwards by ``personal_items``: the
``liked`` and ``saved`` flags (one query for the page's ids, none for anonymous
viewers), and leaving out the posts of accounts the viewer muted (one query on
the mutes' key, none for a viewer who never muted anyone). Later per-viewer
rules (private accounts, followers-only posts, blocks) belong in the same step:
it receives the shared items and may drop or mark some, without giving up the
shared page.

The shared items are never mutated: an item that changes for this viewer is
copied first.

While Redis cannot be reached there is no feed version to key pages and ETags
by: public pages are then built from the database and kept in this process
for at most a second (``OUTAGE_PAGE_SECONDS``), answered without an ETag.
Anonymous readers notice nothing; everything that needs Redis (signing in,
the hot feed, rate-limited forms) answers 503 meanwhile (``web/errors.py``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import orjson
from quart import Response, current_app, request
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.page_cache import CachedPage, PageCache
from gallery.infra.redis import is_unavailable
from gallery.models.user import User
from gallery.services import feeds, paging, ranking, tags, users, visibility
from gallery.web.conditional import current_etag, not_modified, set_validators
from gallery.web.current_user import signed_in_user
from gallery.web.private_media import current_window
from gallery.web.resources import resources
from gallery.web.shapes import image_out, seed_image

# Builds a page's public JSON structure from a database session of its own.
PageBuilder = Callable[[AsyncSession], Awaitable[Any]]

JSON_CONTENT_TYPE = "application/json"
PAGE_CACHE_EXTENSION = "gallery.page_cache"
# While Redis is down: how long a page built from the database is reused by
# this process (the single flight of the page cache shares the build meanwhile).
OUTAGE_PAGE_SECONDS = 1


async def feed_version_or_none() -> str | None:
    """The feed version, or ``None`` while Redis cannot be reached."""
    try:
        return await feeds.feed_version(resources().redis)
    except RedisError as error:
        if not is_unavailable(error):
            raise
        return None


def outage_version() -> str:
    """A cache key standing in for the feed version during a Redis outage: the second."""
    return f"no-redis-{int(time.time()) // OUTAGE_PAGE_SECONDS}"


def current_page_cache() -> PageCache:
    """The app's page cache, made on first use over the app's Redis client."""
    cache: PageCache | None = current_app.extensions.get(PAGE_CACHE_EXTENSION)
    redis = resources().redis
    if cache is None or cache.redis is not redis:
        cache = PageCache(redis)
        current_app.extensions[PAGE_CACHE_EXTENSION] = cache
    return cache


async def shared_page(key: str, version: str, build: PageBuilder) -> CachedPage:
    """The public page ``key`` at ``version``, built with ``build`` by whoever asks first.

    The build gets a session of its own, not the request's: it may outlive the
    request that started it (the others waiting for it still want it). Its
    connection comes from a pool of its own: the waiting request may hold one.
    """
    database = resources().runtime.page_builds

    async def build_in_own_session() -> Any:
        async with database.session() as session:
            return await build(session)

    return await current_page_cache().get_or_build(f"{version}:{key}", build_in_own_session)


async def personal_items(
    items: list[dict[str, Any]], *, spare_hidden: bool = True
) -> list[dict[str, Any]]:
    """The shared ``items`` as the signed-in viewer sees them (``items`` itself if unchanged).

    With ``spare_hidden``, the posts of accounts the viewer muted are left out
    (``services/visibility.py``); a profile passes ``False``: whoever opens a
    muted account's profile went there to see it.
    """
    viewer = signed_in_user()
    if viewer is None or not items:
        return items
    session = resources().db
    if viewer.relations_version:
        items = await _without_hidden(session, viewer, items, spare_hidden=spare_hidden)
    ids = [item["id"] for item in items]
    if viewer.saves_version:
        liked, saved = await feeds.viewer_marks(session, viewer.id, ids)
    else:  # never saved anything: the likes alone, as before saves existed
        liked, saved = await feeds.liked_among(session, viewer.id, ids), set()
    if not liked and not saved:
        return items
    return [
        {**item, "liked": item["id"] in liked, "saved": item["id"] in saved}
        if item["id"] in liked or item["id"] in saved
        else item
        for item in items
    ]


async def _without_hidden(
    session: AsyncSession, viewer: User, items: list[dict[str, Any]], *, spare_hidden: bool
) -> list[dict[str, Any]]:
    """``items`` less the posts of accounts the viewer is spared (with ``spare_hidden``),
    and less the first comments of accounts behind a block with the viewer."""
    relations = await visibility.viewer_relations(session, viewer)
    hidden, blocked = relations.hidden, relations.blocked
    if spare_hidden and any(item["author"]["id"] in hidden for item in items):
        items = [item for item in items if item["author"]["id"] not in hidden]
    if not blocked:
        return items
    return [
        {**item, "comments": [c for c in item["comments"] if c["author"]["id"] not in blocked]}
        if any(c["author"]["id"] in blocked for c in item.get("comments", ()))
        else item
        for item in items
    ]


def personal_page_key(
    page_key: str, viewer_id: int, saves_version: int, relations_version: int
) -> str:
    """Under what a viewer's copy of a shared page is kept (``PageCache.personal``).

    The shared page's key holds the feed version, which moves with every like;
    the viewer's saves and mutes move their own versions.
    """
    return f"{page_key}@{viewer_id}:{saves_version}:{relations_version}"


async def personal_page(
    page: CachedPage, list_field: str, *, spare_hidden: bool = True
) -> tuple[dict[str, Any], bytes]:
    """The page's structure and JSON for this viewer; the shared bytes when nothing differs.

    A signed-in viewer's version is kept in this process under the shared
    page's key (which holds the feed version, and every like moves that on),
    so polling an unchanged feed costs no likes query after the first.
    """
    viewer = signed_in_user()
    if viewer is None:
        return page.data, page.body
    cache = current_page_cache()
    personal_key = personal_page_key(
        page.key, viewer.id, viewer.saves_version, viewer.relations_version
    )
    mine = cache.personal(personal_key)
    if mine is None:
        items = page.data[list_field]
        laid = await personal_items(items, spare_hidden=spare_hidden)
        if laid is items:
            mine = page
        else:
            data = {**page.data, list_field: laid}
            mine = CachedPage(data=data, body=orjson.dumps(data), key=personal_key)
        cache.keep_personal(personal_key, mine)
    return mine.data, mine.body


async def feed_json(
    key: str,
    build: PageBuilder,
    *,
    list_field: str = "items",
    version: str | None = None,
    spare_hidden: bool = True,
) -> Response:
    """A cached feed page as JSON with an ETag, or 304 when the client has this version.

    ``version`` stands for everything the page shows (by default the feed
    version); ``key`` names the page within it (feed, size, cursor);
    ``spare_hidden`` as for ``personal_items``.
    """
    if version is None:
        version = await feed_version_or_none()
        if version is None:  # Redis is down: from the database, without an ETag
            page = await shared_page(key, outage_version(), build)
            _, body = await personal_page(page, list_field, spare_hidden=spare_hidden)
            response = Response(body, content_type=JSON_CONTENT_TYPE)
            response.headers["Cache-Control"] = "no-cache"
            return response
    etag = current_etag(version)
    if request.if_none_match.contains(etag):
        return not_modified(etag)
    page = await shared_page(key, version, build)
    _, body = await personal_page(page, list_field, spare_hidden=spare_hidden)
    return set_validators(Response(body, content_type=JSON_CONTENT_TYPE), etag)


async def feed_items(
    key: str, build: PageBuilder, *, version: str | None = None, spare_hidden: bool = True
) -> dict[str, Any]:
    """A cached feed page's structure as this viewer sees it, for the HTML pages."""
    if version is None:
        version = await feed_version_or_none() or outage_version()
    page = await shared_page(key, version, build)
    data, _ = await personal_page(page, "items", spare_hidden=spare_hidden)
    return data


async def author_shown_in_full(username: str) -> int | None:
    """The author's id if the viewer sees all of their posts (their own, a
    follower's, a moderator's): their pages then come from
    ``author_page_in_full``, shared by everyone who may see it. ``None`` for
    everyone else (the public page), at no cost for an anonymous visitor.
    ``NotFoundError`` where a block stands between the viewer and the author."""
    viewer = signed_in_user()
    if viewer is None:
        return None
    session = resources().db
    author = await users.find_visible(session, username, viewer)
    if await visibility.sees_everything_of(session, viewer, author.id):
        return author.id
    return None


async def check_author_visible(*, username: str | None = None, user_id: int | None = None) -> None:
    """``NotFoundError`` where a block stands between the viewer and this author:
    their shared pages (built as an anonymous visitor sees them) must answer as
    if the author did not exist. No query for a viewer never in a relation."""
    viewer = signed_in_user()
    if viewer is None or not viewer.relations_version:
        return
    session = resources().db
    if username is not None:
        await users.find_visible(session, username, viewer)
    elif user_id is not None:
        author = await users.find_by_id(session, user_id)
        await visibility.check_not_blocked(
            session, viewer, author.id, "There is no user with that id."
        )


# -- the public pages: a cache key and a builder for each ---------------------


def public_feed(page: feeds.FeedPage) -> dict[str, Any]:
    """A keyset page as the API's ``Feed`` shape, as an anonymous visitor sees it."""
    storage = resources().storage
    return {
        "items": [asdict(image_out(card, storage)) for card in page.cards],
        "next_cursor": page.next_cursor,
    }


def page_size_and_cursor(limit: int | None, cursor: str | None) -> tuple[int, str]:
    """Checked before the cache is asked, so bad input never reaches a key (400 instead)."""
    size = paging.check_limit(limit)
    paging.decode_cursor(cursor)
    return size, cursor or ""


# Fetches one keyset page of a feed (as an anonymous visitor sees it) from a session.
FetchPage = Callable[[AsyncSession, int, str], Awaitable[feeds.FeedPage]]


def keyset_feed(
    name: str, limit: int | None, cursor: str | None, fetch: FetchPage
) -> tuple[str, PageBuilder]:
    """The cache key and builder of a keyset feed's page: ``name`` tells feeds apart."""
    size, after = page_size_and_cursor(limit, cursor)

    async def build(session: AsyncSession) -> dict[str, Any]:
        return public_feed(await fetch(session, size, after))

    return f"{name}:{size}:{after}", build


def latest_page(limit: int | None, cursor: str | None) -> tuple[str, PageBuilder]:
    """Everyone's images (the API feed and the home page share these entries)."""
    return keyset_feed(
        "latest",
        limit,
        cursor,
        lambda session, size, after: feeds.latest(
            session, viewer_id=None, limit=size, cursor=after
        ),
    )


def author_page(author_id: int, limit: int | None, cursor: str | None) -> tuple[str, PageBuilder]:
    """One author's images, by the author's id (the profile page has looked them up)."""
    return keyset_feed(
        f"author:{author_id}",
        limit,
        cursor,
        lambda session, size, after: feeds.by_author(
            session, author_id, viewer_id=None, limit=size, cursor=after
        ),
    )


def author_page_in_full(
    author_id: int, limit: int | None, cursor: str | None
) -> tuple[str, PageBuilder]:
    """All of one author's posts, followers-only ones too, for those who may see them
    (``author_shown_in_full``). Their photos' URLs are signed for the current
    window (``web/private_media.py``), which is therefore part of the key."""
    return keyset_feed(
        f"author-all:{author_id}:m{current_window()}",
        limit,
        cursor,
        lambda session, size, after: feeds.by_author(
            session, author_id, viewer_id=None, limit=size, cursor=after, everything=True
        ),
    )


def author_page_by_name(
    username: str, limit: int | None, cursor: str | None
) -> tuple[str, PageBuilder]:
    """One author's images by username: a hit costs no query for the user (404 on a miss)."""

    async def fetch(session: AsyncSession, size: int, after: str) -> feeds.FeedPage:
        author = await users.find_by_username(session, username)
        return await feeds.by_author(session, author.id, viewer_id=None, limit=size, cursor=after)

    return keyset_feed(f"author-name:{username}", limit, cursor, fetch)


def tag_page(name: str, limit: int | None, cursor: str | None) -> tuple[str, PageBuilder]:
    return keyset_feed(
        f"tag:{name}",
        limit,
        cursor,
        lambda session, size, after: tags.tagged_images(
            session, name, viewer_id=None, limit=size, cursor=after
        ),
    )


def hot_page(limit: int | None, cursor: str | None) -> tuple[str, PageBuilder]:
    """The hot feed; its version must include the ranking generation (see the route)."""
    size = paging.check_limit(limit)
    after = cursor or ""

    async def build(session: AsyncSession) -> dict[str, Any]:
        page = await ranking.hot_page(
            session, resources().redis, viewer_id=None, limit=size, cursor=after or None
        )
        return public_feed(page)

    return f"hot:{size}:{after}", build


def seed_page(page: int, per_page: int, author_id: int | None) -> tuple[str, PageBuilder]:
    """The seed clients' numbered pages, ``{"has_next", "images"}`` (checked by the route)."""

    async def build(session: AsyncSession) -> dict[str, Any]:
        if author_id is not None:
            await users.find_by_id(session, author_id)
        numbered = await feeds.numbered_page(
            session, page=page, per_page=per_page, viewer_id=None, author_id=author_id
        )
        storage = resources().storage
        return {
            "has_next": numbered.has_next,
            "images": [seed_image(card, storage) for card in numbered.cards],
        }

    return f"seed:{author_id or '-'}:{page}:{per_page}", build


async def todays_top_items(limit: int, version: str) -> list[dict[str, Any]]:
    """Today's best images for the home page, cached per feed version and ranking."""
    redis = resources().redis
    generation = await ranking.current_generation(resources().db, redis)

    async def build(session: AsyncSession) -> dict[str, Any]:
        cards = await ranking.todays_top(session, redis, viewer_id=None, limit=limit)
        storage = resources().storage
        return {"items": [asdict(image_out(card, storage)) for card in cards]}

    page = await shared_page(f"top:{generation}:{limit}", version, build)
    data, _ = await personal_page(page, "items")
    return list(data["items"])
