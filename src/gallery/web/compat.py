"""The seed clients' feeds: numbered pages, ``{"has_next", "images"}``."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, tag

from gallery.services import paging
from gallery.services.errors import InvalidInput, NotFoundError
from gallery.web.feed_pages import check_author_visible, feed_json, seed_page
from gallery.web.json_routes import Bounds, answers, path_bounds
from gallery.web.shapes import SeedFeed

bp = Blueprint("compat", __name__)

# Deep offsets are slow and nobody scrolls that far: beyond this, use the cursor API.
MAX_PAGE = 10_000


def check_paging(page: int, per_page: int) -> int:
    """The page size to use; 404 for a page that cannot exist, 400 for a bad size."""
    if page < 1 or page > MAX_PAGE:
        raise NotFoundError(f"Pages are numbered from 1 to {MAX_PAGE}.")
    if per_page < 1:
        raise InvalidInput("per_page must be at least 1.", field="per_page")
    return min(per_page, paging.MAX_LIMIT)


async def seed_feed(page: int, per_page: int, author_id: int | None) -> Response:
    size = check_paging(page, per_page)
    # One author's pages show that author even to someone who muted them, as the profile does.
    return await feed_json(
        *seed_page(page, size, author_id), list_field="images", spare_hidden=author_id is None
    )


@bp.get("/index/images/<int:page>/<int:per_page>/")
@tag(["seed feeds"])
@document_response(SeedFeed)
@answers(304, 400, 404)
@path_bounds(page=Bounds(1, MAX_PAGE), per_page=Bounds(minimum=1))
async def index_images(page: int, per_page: int) -> Response:
    """Everyone's images, newest first, by page number (``per_page`` at most 100)."""
    return await seed_feed(page, per_page, None)


@bp.get("/profile/images/<int:user_id>/<int:page>/<int:per_page>/")
@tag(["seed feeds"])
@document_response(SeedFeed)
@answers(304, 400, 404)
@path_bounds(page=Bounds(1, MAX_PAGE), per_page=Bounds(minimum=1))
async def profile_images(user_id: int, page: int, per_page: int) -> Response:
    """One user's images, newest first, by page number (``per_page`` at most 100)."""
    await check_author_visible(user_id=user_id)
    return await seed_feed(page, per_page, user_id)
