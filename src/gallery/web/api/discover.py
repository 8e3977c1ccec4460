"""Hashtag feeds and search in the JSON API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import Field
from quart import Blueprint, Response, jsonify
from quart_schema import document_response, tag

from gallery.services import search
from gallery.web.actions import run_search
from gallery.web.feed_pages import feed_json, tag_page
from gallery.web.json_routes import answers
from gallery.web.querystring import Limit, PageQuery, cursor_field, validate_query
from gallery.web.rate_limits import rate_limited
from gallery.web.shapes import Feed, SearchResults

bp = Blueprint("discover", __name__)


# ``q`` and ``type`` are checked by services/search.py, with the messages the
# search page shows too; their bounds are written here for the document only.
QUERY_BOUNDS = {
    "description": (
        f"What to search for, 1–{search.MAX_QUERY_LENGTH} characters, not only spaces: "
        "words of descriptions (`type=images`), the start of a username (`users`) "
        "or of a tag (`tags`)."
    ),
    "required": True,
    "minLength": 1,
    "maxLength": search.MAX_QUERY_LENGTH,
    # At least one character that is neither a space nor a control character.
    "pattern": r"[^\s\x00-\x1f\x7f-\x9f]",
}
TYPE_CHOICES = {
    "description": "What to search: photos (the default, also when empty), people or tags.",
    # Empty is accepted as the default (a search form may send ``type=``).
    "enum": [kind.value for kind in search.SearchType] + [""],
    "default": search.SearchType.IMAGES.value,
}


@dataclass
class SearchQuery:
    q: Annotated[str | None, Field(json_schema_extra=QUERY_BOUNDS)] = None
    type: Annotated[str | None, Field(json_schema_extra=TYPE_CHOICES)] = None
    limit: Limit | None = None
    cursor: Annotated[str, cursor_field(search.MAX_CURSOR_LENGTH)] | None = None


@bp.get("/tags/<name>/images")
@tag(["images", "tags"])
@validate_query(PageQuery)
@document_response(Feed)
@answers(304, 404)
async def tag_images(name: str, query_args: PageQuery) -> Response:
    """The images tagged ``#name`` (any case), newest first; 404 for a tag nobody used."""
    return await feed_json(*tag_page(name, query_args.limit, query_args.cursor))


@bp.get("/search")
@tag(["search"])
@validate_query(SearchQuery)
@document_response(SearchResults)
@rate_limited("searches", counted_in_view=True)  # by run_search, once the query is valid
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
