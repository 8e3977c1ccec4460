"""The seed clients' feeds: numbered pages, ``{"has_next", "images"}``."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, tag

from gallery.infra.runtime import current_storage, request_db
from gallery.services import feeds, users
from gallery.services.errors import InvalidInput, NotFoundError
from gallery.web.api.images import viewer_id
from gallery.web.api.schemas import SeedFeed, image_out
from gallery.web.conditional import conditional_json

bp = Blueprint("compat", __name__)

# Deep offsets are slow and nobody scrolls that far: beyond this, use the cursor API.
MAX_PAGE = 10_000


def check_paging(page: int, per_page: int) -> int:
    """The page size to use; 404 for a page that cannot exist, 400 for a bad size."""
    if page < 1 or page > MAX_PAGE:
        raise NotFoundError(f"Pages are numbered from 1 to {MAX_PAGE}.")
    if per_page < 1:
        raise InvalidInput("per_page must be at least 1.", field="per_page")
    return min(per_page, feeds.MAX_LIMIT)


async def seed_feed(page: int, per_page: int, author_id: int | None) -> Response:
    size = check_paging(page, per_page)

    async def build() -> SeedFeed:
        session = await request_db()
        if author_id is not None:
            await users.find_by_id(session, author_id)
        numbered = await feeds.numbered_page(
            session, page=page, per_page=size, viewer_id=viewer_id(), author_id=author_id
        )
        storage = current_storage()
        return SeedFeed(
            has_next=numbered.has_next, images=[image_out(c, storage) for c in numbered.cards]
        )

    return await conditional_json(build)


@bp.get("/index/images/<int:page>/<int:per_page>/")
@tag(["seed feeds"])
@document_response(SeedFeed)
async def index_images(page: int, per_page: int) -> Response:
    """Everyone's images, newest first, by page number (``per_page`` at most 100)."""
    return await seed_feed(page, per_page, None)


@bp.get("/profile/images/<int:user_id>/<int:page>/<int:per_page>/")
@tag(["seed feeds"])
@document_response(SeedFeed)
async def profile_images(user_id: int, page: int, per_page: int) -> Response:
    """One user's images, newest first, by page number (``per_page`` at most 100)."""
    return await seed_feed(page, per_page, user_id)
