"""The home page and other site-wide pages."""

from __future__ import annotations

from quart import Blueprint, current_app, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.runtime import current_redis
from gallery.services import feeds
from gallery.web.feed_pages import feed_items, latest_page, todays_top_items

bp = Blueprint("main", __name__)

HOME_PAGE_SIZE = 12
TODAYS_TOP_SIZE = 6


@bp.get("/")
async def index() -> ResponseReturnValue:
    """Everyone's latest images; scripts continue from ``next_cursor`` with the JSON feed."""
    cursor = request.args.get("cursor")
    version = await feeds.feed_version(current_redis())
    page = await feed_items(*latest_page(HOME_PAGE_SIZE, cursor), version=version)
    # The strip of today's best sits above the first page only.
    top = [] if cursor else await todays_top_items(TODAYS_TOP_SIZE, version)
    return await render_template(
        "main/index.html",
        top_items=top,
        items=page["items"],
        next_cursor=page["next_cursor"],
        feed_url=url_for("api.feed"),
        page_size=HOME_PAGE_SIZE,
        more_url=url_for("main.index", cursor=page["next_cursor"]) if page["next_cursor"] else None,
    )


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
