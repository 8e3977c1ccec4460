"""Hashtag feeds and search in the JSON API."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quart import Response, jsonify, url_for
from quart_schema import document_response, tag

from gallery.infra.runtime import current_storage, request_db
from gallery.services import search
from gallery.web.api import bp
from gallery.web.api.images import PageQuery, viewer_id
from gallery.web.api.schemas import Feed, ImageOut, avatar_url, image_out
from gallery.web.feed_pages import feed_json, tag_page
from gallery.web.querystring import validate_query
from gallery.web.security import client_address, rate_limit

# Generous for people and for infinite scroll; it bounds what a script can make
# the database do (short words are matched with LIKE, which scans).
SEARCHES_PER_MINUTE = 120


@dataclass
class SearchQuery:
    q: str | None = None
    type: str | None = None
    limit: int | None = None
    cursor: str | None = None


@dataclass
class UserResult:
    id: int
    username: str
    avatar_url: str


@dataclass
class TagResult:
    name: str
    image_count: int
    url: str


@dataclass
class SearchResults:
    """``items`` are Images, users or tags, as ``type`` asked."""

    items: list[ImageOut | UserResult | TagResult]
    next_cursor: str | None


@bp.get("/tags/<name>/images")
@tag(["images", "tags"])
@validate_query(PageQuery)
@document_response(Feed)
async def tag_images(name: str, query_args: PageQuery) -> Response:
    """The images tagged ``#name`` (any case), newest first; 404 for a tag nobody used."""
    return await feed_json(*tag_page(name, query_args.limit, query_args.cursor))


@bp.get("/search")
@tag(["search"])
@validate_query(SearchQuery)
@document_response(SearchResults)
async def search_everything(query_args: SearchQuery) -> Response:
    """Search: ``type=images`` (default) by the words of descriptions, newest first;
    ``type=users`` by the start of a username; ``type=tags`` by the start of a tag.

    ``q`` is 1–100 characters. Users come as ``{id, username, avatar_url}``, tags
    as ``{name, image_count, url}``, images as Images. 400 for an empty or too
    long ``q``, a photo search with no letters or digits, or another ``type``.
    """
    results = await run_search(
        query_args.q, query_args.type, limit=query_args.limit, cursor=query_args.cursor
    )
    response = jsonify(asdict(results))
    response.headers["Cache-Control"] = "private, no-cache"
    return response


async def run_search(
    query: str | None, kind: str | None, *, limit: int | None, cursor: str | None
) -> SearchResults:
    """Shared by the API and the search page: rate-limited, then the service."""
    search_type = search.search_type(kind)
    search.clean_query(query)  # a refusal costs neither a count nor a query
    await rate_limit(
        "searches", f"search:{client_address()}", limit=SEARCHES_PER_MINUTE, window_seconds=60
    )
    session = await request_db()
    storage = current_storage()
    items: list[ImageOut | UserResult | TagResult]
    if search_type is search.SearchType.USERS:
        people = await search.search_users(session, query, limit=limit, cursor=cursor)
        items = [
            UserResult(id=u.id, username=u.username, avatar_url=avatar_url(u, storage))
            for u in people.users
        ]
        return SearchResults(items=items, next_cursor=people.next_cursor)
    if search_type is search.SearchType.TAGS:
        found = await search.search_tags(session, query, limit=limit, cursor=cursor)
        items = [
            TagResult(
                name=t.name,
                image_count=t.image_count,
                url=url_for("discover.tag_page", name=t.name),
            )
            for t in found.tags
        ]
        return SearchResults(items=items, next_cursor=found.next_cursor)
    page = await search.search_images(
        session, query, viewer_id=viewer_id(), limit=limit, cursor=cursor
    )
    items = [image_out(card, storage) for card in page.cards]
    return SearchResults(items=items, next_cursor=page.next_cursor)
