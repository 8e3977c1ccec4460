"""Tag pages and search."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.services import search, tags
from gallery.services.errors import InvalidInput
from gallery.web.actions import run_search
from gallery.web.feed_pages import feed_items
from gallery.web.feed_pages import tag_page as tag_page_of
from gallery.web.rate_limits import rate_limited
from gallery.web.resources import resources

bp = Blueprint("discover", __name__)

TAG_PAGE_SIZE = 12
SEARCH_PAGE_SIZE = 24
SEARCH_TABS = (
    (search.SearchType.IMAGES, "Photos"),
    (search.SearchType.USERS, "People"),
    (search.SearchType.TAGS, "Tags"),
)


@bp.get("/tags/<name>")
async def tag_page(name: str) -> ResponseReturnValue:
    """The photos tagged ``#name``, newest first; scripts continue with the tag's JSON feed."""
    canonical = tags.tag_name_from_input(name)
    if canonical is not None and canonical != name:
        # One address per tag: /tags/Sea and /tags/%23sea are /tags/sea.
        cursor = request.args.get("cursor")
        return redirect(url_for("discover.tag_page", name=canonical, cursor=cursor or None), 301)
    summary = await tags.tag_summary(resources().db, name)
    page = await feed_items(*tag_page_of(summary.name, TAG_PAGE_SIZE, request.args.get("cursor")))
    return await render_template(
        "discover/tag.html",
        tag=asdict(summary),
        items=page["items"],
        next_cursor=page["next_cursor"],
        feed_url=url_for("api.discover.tag_images", name=summary.name),
        page_size=TAG_PAGE_SIZE,
        more_url=url_for("discover.tag_page", name=summary.name, cursor=page["next_cursor"])
        if page["next_cursor"]
        else None,
    )


@bp.get("/search")
@rate_limited("searches", counted_in_view=True)  # by run_search, once the query is valid
async def search_page() -> ResponseReturnValue:
    """The search form, and with ``q`` its results: Photos, People or Tags (``type``)."""
    query = request.args.get("q", "")
    kind = request.args.get("type") or search.SearchType.IMAGES.value
    cursor = request.args.get("cursor")
    try:
        shown = search.search_type(kind)
    except InvalidInput:
        shown = search.SearchType.IMAGES
    context: dict[str, object] = {
        "query": query,
        "search_type": shown.value,
        "tabs": [
            {
                "type": value.value,
                "label": label,
                "url": url_for("discover.search_page", q=query.strip() or None, type=value.value),
            }
            for value, label in SEARCH_TABS
        ],
        "items": [],
        "next_cursor": None,
        "more_url": None,
        "error": None,
        "searched": False,
        "feed_url": None,
        "page_size": SEARCH_PAGE_SIZE,
    }
    if not query.strip():
        # No search yet (the navigation's magnifier on tablets comes here empty):
        # the form, not an error. The API answers 400 for an empty q.
        return await render_template("discover/search.html", **context)
    try:
        results = await run_search(query, kind, limit=SEARCH_PAGE_SIZE, cursor=cursor)
    except InvalidInput as error:
        context["error"] = error.message
        return await render_template("discover/search.html", **context), 400
    context.update(
        searched=True,
        items=[asdict(item) for item in results.items],
        next_cursor=results.next_cursor,
        more_url=url_for(
            "discover.search_page", q=query, type=shown.value, cursor=results.next_cursor
        )
        if results.next_cursor
        else None,
        feed_url=url_for("api.discover.search_everything", q=query, type=shown.value),
    )
    return await render_template("discover/search.html", **context)
