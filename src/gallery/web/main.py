"""The home page and other site-wide pages."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.web.current_user import signed_in_user
from gallery.web.feed_pages import (
    feed_items,
    feed_version_or_none,
    latest_page,
    outage_version,
    todays_top_items,
)
from gallery.web.fragments import cached_fragment

bp = Blueprint("main", __name__)

HOME_PAGE_SIZE = 12
TODAYS_TOP_SIZE = 6
# The home page's content, kept rendered for anonymous visitors (see index).
HOME_CONTENT_TEMPLATE = "main/_home_content.html"


@bp.get("/")
async def index() -> ResponseReturnValue:
    """Everyone's latest images; scripts continue from ``next_cursor`` with the JSON feed."""
    cursor = request.args.get("cursor")
    version = await feed_version_or_none()
    page = await feed_items(
        *latest_page(HOME_PAGE_SIZE, cursor), version=version or outage_version()
    )
    # The strip of today's best sits above the first page only. Its ranking
    # lives in Redis: while Redis is down the page goes without it.
    top = [] if cursor or version is None else await todays_top_items(TODAYS_TOP_SIZE, version)
    if signed_in_user() is None and version is not None and only_a_cursor_in_query():
        # Rendering the cards was most of the page's cost, and an anonymous
        # visitor's content is the same for everyone at this URL until the feed
        # moves on. Today's top is re-ranked on a clock of its own (the ranking
        # generation, not in the feed version), so its ids go in the version
        # too; their cards come from the page cache under the same feed version.
        shown = f"{version}/top:{'.'.join(str(item['id']) for item in top)}"
        content_html = await cached_fragment(
            shown,
            HOME_CONTENT_TEMPLATE,
            request.full_path,
            lambda: render_template(HOME_CONTENT_TEMPLATE, **home_context(page, top)),
        )
        # The page around it needs none of the content's context (built on a miss only).
        return await render_template("main/index.html", content_html=content_html)
    return await render_template("main/index.html", content_html=None, **home_context(page, top))


def home_context(page: dict[str, Any], top: list[dict[str, Any]]) -> dict[str, Any]:
    """What main/_home_content.html shows: the feed ``page`` and today's ``top``."""
    next_cursor = page["next_cursor"]
    return {
        "top_items": top,
        "items": page["items"],
        "next_cursor": next_cursor,
        "feed_url": url_for("api.images.feed"),
        "page_size": HOME_PAGE_SIZE,
        "more_url": url_for("main.index", cursor=next_cursor) if next_cursor else None,
    }


def only_a_cursor_in_query() -> bool:
    """Whether the query string is empty or one ``cursor`` (the pages worth keeping).

    Anything else (stray parameters, a repeated cursor) is rendered as usual,
    so that odd URLs cannot fill the fragment cache with copies of one page.
    """
    args = request.args
    return not args or (len(args) == 1 and "cursor" in args and len(args.getlist("cursor")) == 1)


@bp.get("/docs")
async def api_docs() -> ResponseReturnValue:
    """A browsable page of the OpenAPI document (served without CDN scripts, for the CSP)."""
    schema = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": (details.get("summary") or "").strip(),
            "description": (details.get("description") or "").strip(),
            "tags": details.get("tags", []),
        }
        for path, methods in sorted(schema.get("paths", {}).items())
        for method, details in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    return await render_template("main/api_docs.html", info=schema["info"], operations=operations)
