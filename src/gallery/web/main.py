"""The home page and other site-wide pages."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, current_app, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.runtime import current_redis, current_storage, request_db
from gallery.services import feeds, ranking
from gallery.web.api.schemas import image_out
from gallery.web.current_user import signed_in_user

bp = Blueprint("main", __name__)

HOME_PAGE_SIZE = 12
TODAYS_TOP_SIZE = 6


@bp.get("/")
async def index() -> ResponseReturnValue:
    """Everyone's latest images; scripts continue from ``next_cursor`` with the JSON feed."""
    viewer = signed_in_user()
    viewer_id = viewer.id if viewer else None
    session = await request_db()
    cursor = request.args.get("cursor")
    page = await feeds.latest(session, viewer_id=viewer_id, limit=HOME_PAGE_SIZE, cursor=cursor)
    # The strip of today's best sits above the first page only.
    top = (
        []
        if cursor
        else await ranking.todays_top(
            session, current_redis(), viewer_id=viewer_id, limit=TODAYS_TOP_SIZE
        )
    )
    storage = current_storage()
    return await render_template(
        "main/index.html",
        top_items=[asdict(image_out(card, storage)) for card in top],
        items=[asdict(image_out(card, storage)) for card in page.cards],
        next_cursor=page.next_cursor,
        feed_url=url_for("api.feed"),
        page_size=HOME_PAGE_SIZE,
        more_url=url_for("main.index", cursor=page.next_cursor) if page.next_cursor else None,
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
