"""The hot feed in the JSON API."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, tag

from gallery.services import feeds, paging, ranking
from gallery.web.feed_pages import feed_json, hot_page
from gallery.web.json_routes import answers
from gallery.web.querystring import HotPageQuery, validate_query
from gallery.web.resources import resources
from gallery.web.shapes import Feed

bp = Blueprint("ranking", __name__)


@bp.get("/feed/hot")
@tag(["images"])
@validate_query(HotPageQuery)
@document_response(Feed)
@answers(304)
async def hot_feed(query_args: HotPageQuery) -> Response:
    """The last week's images ranked by likes, comments, views and age, best first.

    score = (2·likes + 3·comments + views/10 + 1) / (age in hours + 2) ^ 1.5.
    The ranking is redone about once a minute; paging with ``next_cursor``
    stays in the ranking the first page came from, so no image repeats.
    """
    use = resources()
    paging.check_limit(query_args.limit)
    session = use.db
    redis = use.redis
    # The body depends on what feeds show (likes, comments) and on the ranking.
    generation = await ranking.hot_generation(session, redis, cursor=query_args.cursor)
    version = f"{await feeds.feed_version(redis)}/{generation}"
    return await feed_json(*hot_page(query_args.limit, query_args.cursor), version=version)
