"""The hot feed and today's top: images ranked by likes, comments, views and age.

The score, HN-style (points over a power of age)::

    points = 2·likes + 3·comments + views / 10 + 1
    score  = points / (age_hours + 2) ** 1.5

* A comment takes more effort than a like, so it weighs more (3 against 2).
* Views are cheap and the easiest to inflate (an anonymous viewer is only an
  address and a browser), so ten views weigh half a like.
* The ``+ 1`` gives an image nobody has touched yet a place: on a quiet site
  the hot feed is then simply the newest images.
* ``+ 2`` hours keeps a brand-new image from dividing by almost nothing, and
  gravity 1.5 (gentler than HN's 1.8: photos gather reactions over a day
  rather than an hour) halves a score in about 60 % more age: at a day old an
  image needs about 47 times the points of a fresh one to rank level with it.

Candidates are the images of the last ``HOT_WINDOW`` (7 days: by then the age
term has divided any score by several hundred). Ranking them is not done per
request: one pass reads only ``(id, counts, created_at)`` of the window's images,
scores them, and stores the ranked ids in Redis under a *generation* that
lives ``RANKING_TTL_SECONDS``; every page and every process slices the stored
lists until it expires. The generation id is a hash of the ranked ids, so a
re-ranking that changes nothing keeps the ETags that clients hold.

A cursor carries the generation and an offset, so a client paging through one
ranking sees each image once even though the ranking is redone every minute.
A generation's lists outlive its turn as the current one by
``RANKING_KEEP_SECONDS``; a cursor older than that continues at its offset in
the current ranking.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.infra.coalesced import coalesced
from gallery.models.image import Image
from gallery.services.errors import InvalidInput
from gallery.services.feeds import FeedPage, ImageCard, cards_for
from gallery.services.paging import check_limit, invalid_cursor, pack_cursor, unpack_cursor
from gallery.services.visibility import visible_posts

LIKE_WEIGHT = 2.0
COMMENT_WEIGHT = 3.0
VIEW_WEIGHT = 0.1
BASE_POINTS = 1.0
AGE_OFFSET_HOURS = 2.0
GRAVITY = 1.5

HOT_WINDOW = timedelta(days=7)
TODAY_WINDOW = timedelta(hours=24)
# Nobody pages a thousand images deep into "hot"; the feed ends there.
MAX_RANKED = 1000
TODAY_KEPT = 50

RANKING_TTL_SECONDS = 60
RANKING_KEEP_SECONDS = 15 * 60
# Only one process re-ranks at a time; the others keep serving the previous
# generation meanwhile (or rank themselves if there is none).
RANKING_LOCK_SECONDS = 30

GENERATION_KEY = "hot:generation"
LATEST_KEY = "hot:latest"
LOCK_KEY = "hot:ranking-lock"
HOT_LIST_PREFIX = "hot:ranking:"
TODAY_LIST_PREFIX = "hot:today:"
# Element 0 of every stored list, so that an empty ranking is still a key
# that exists (Redis deletes empty lists) and "expired" stays distinguishable.
LIST_HEADER = "ranking"

GENERATION_PATTERN = r"[0-9a-f]{16}"
CURSOR_PATTERN = re.compile(rf"h1:({GENERATION_PATTERN}):(0|[1-9][0-9]{{0,5}})")


@dataclass(frozen=True)
class Candidate:
    id: int
    like_count: int
    comment_count: int
    view_count: int
    created_at: datetime


def hot_score(*, likes: int, comments: int, views: int, age_hours: float) -> float:
    """The hot score: ``(2·likes + 3·comments + views/10 + 1) / (age_hours + 2) ** 1.5``."""
    points = LIKE_WEIGHT * likes + COMMENT_WEIGHT * comments + VIEW_WEIGHT * views + BASE_POINTS
    return points / (max(age_hours, 0.0) + AGE_OFFSET_HOURS) ** GRAVITY


def candidate_score(candidate: Candidate, now: datetime) -> float:
    age_hours = (now - candidate.created_at).total_seconds() / 3600
    return hot_score(
        likes=candidate.like_count,
        comments=candidate.comment_count,
        views=candidate.view_count,
        age_hours=age_hours,
    )


def rank(candidates: Sequence[Candidate], now: datetime, limit: int) -> list[int]:
    """The ids of the ``limit`` best-scoring candidates, best first (newer first on ties)."""
    best = heapq.nlargest(limit, candidates, key=lambda c: (candidate_score(c, now), c.id))
    return [c.id for c in best]


# -- cursors ---------------------------------------------------------------


def encode_hot_cursor(generation: str, offset: int) -> str:
    """An opaque cursor: the ranking it belongs to and where the next page starts."""
    return pack_cursor(f"h1:{generation}:{offset}")


def decode_hot_cursor(cursor: str | None) -> tuple[str, int] | None:
    """``(generation, offset)``, None for the first page; ``InvalidInput`` if not ours."""
    if cursor is None or cursor == "":
        return None
    found = CURSOR_PATTERN.fullmatch(unpack_cursor(cursor, max_length=60) or "")
    if found is None or int(found.group(2)) > MAX_RANKED:
        raise invalid_cursor()
    return found.group(1), int(found.group(2))


# -- the stored ranking ----------------------------------------------------


async def refresh_ranking(
    session: AsyncSession, redis: aioredis.Redis, *, now: datetime | None = None
) -> str:
    """Rank the window's images now, store the lists, make them current; the generation.

    Pages call this only when no ranking is current; tests and tools may call
    it to see changes at once.
    """
    now = now or datetime.now(UTC)
    rows = await session.execute(
        select(
            Image.id, Image.like_count, Image.comment_count, Image.view_count, Image.created_at
        ).where(Image.created_at >= now - HOT_WINDOW, *visible_posts(None))
    )
    candidates = [Candidate(*row) for row in rows.all()]
    today_cutoff = now - TODAY_WINDOW
    # Scoring a busy week is CPU work; keep it off the event loop.
    hot_ids, today_ids = await asyncio.to_thread(
        lambda: (
            rank(candidates, now, MAX_RANKED),
            rank([c for c in candidates if c.created_at >= today_cutoff], now, TODAY_KEPT),
        )
    )
    generation = _generation_of(hot_ids, today_ids)
    async with redis.pipeline(transaction=True) as pipe:
        for key, ids in (
            (HOT_LIST_PREFIX + generation, hot_ids),
            (TODAY_LIST_PREFIX + generation, today_ids),
        ):
            pipe.delete(key)
            pipe.rpush(key, LIST_HEADER, *ids)
            pipe.expire(key, RANKING_TTL_SECONDS + RANKING_KEEP_SECONDS)
        pipe.set(GENERATION_KEY, generation, ex=RANKING_TTL_SECONDS)
        pipe.set(LATEST_KEY, generation, ex=RANKING_TTL_SECONDS + RANKING_KEEP_SECONDS)
        pipe.delete(LOCK_KEY)
        await pipe.execute()
    return generation


def _generation_of(hot_ids: list[int], today_ids: list[int]) -> str:
    material = f"{','.join(map(str, hot_ids))}|{','.join(map(str, today_ids))}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


async def current_generation(session: AsyncSession, redis: aioredis.Redis) -> str:
    """The generation pages are served from now, ranking the images if none is current."""
    # Read on every home page and hot poll: shared by the callers of a moment.
    generation = await coalesced(redis).get(GENERATION_KEY)
    if generation is not None:
        return str(generation)
    if await redis.set(LOCK_KEY, "1", nx=True, ex=RANKING_LOCK_SECONDS):
        return await refresh_ranking(session, redis)
    # Someone else is ranking: the previous generation is a minute old at worst.
    latest = await redis.get(LATEST_KEY)
    if latest is not None and await redis.exists(HOT_LIST_PREFIX + str(latest)):
        return str(latest)
    return await refresh_ranking(session, redis)


async def hot_generation(
    session: AsyncSession, redis: aioredis.Redis, *, cursor: str | None
) -> str:
    """The generation that serves the page at ``cursor`` (for ETags); ``InvalidInput`` if
    the cursor is not one we issued."""
    position = decode_hot_cursor(cursor)
    if position is not None and await redis.exists(HOT_LIST_PREFIX + position[0]):
        return position[0]
    return await current_generation(session, redis)


async def _stored_slice(
    redis: aioredis.Redis, key: str, offset: int, count: int
) -> list[int] | None:
    """``count`` ids from ``offset`` of a stored list; None if the list has expired."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(key)
        # + 1: element 0 is the header.
        pipe.lrange(key, offset + 1, offset + count)
        exists, values = await pipe.execute()
    if not exists:
        return None
    return [int(v) for v in values]


async def _ranked_slice(
    session: AsyncSession,
    redis: aioredis.Redis,
    prefix: str,
    generation: str | None,
    offset: int,
    count: int,
) -> tuple[str, list[int]]:
    if generation is not None:
        ids = await _stored_slice(redis, prefix + generation, offset, count)
        if ids is not None:
            return generation, ids
    generation = await current_generation(session, redis)
    ids = await _stored_slice(redis, prefix + generation, offset, count)
    if ids is None:  # gone between two calls (evicted, flushed): rank afresh
        generation = await refresh_ranking(session, redis)
        ids = await _stored_slice(redis, prefix + generation, offset, count) or []
    return generation, ids


async def _cards_in_order(
    session: AsyncSession, ids: list[int], viewer_id: int | None
) -> list[ImageCard]:
    if not ids:
        return []
    found = await session.scalars(
        select(Image)
        .options(joinedload(Image.author))
        .where(Image.id.in_(ids), *visible_posts(viewer_id))
    )
    by_id = {image.id: image for image in found}
    # Images deleted (or no longer public) since the ranking was stored are left out.
    return await cards_for(session, [by_id[i] for i in ids if i in by_id], viewer_id)


# -- pages -----------------------------------------------------------------


async def hot_page(
    session: AsyncSession,
    redis: aioredis.Redis,
    *,
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
) -> FeedPage:
    """A page of the hot feed: the last week's images, best score first.

    ``cursor`` (from the previous page's ``next_cursor``) continues in the same
    ranking while it is kept, else at the same offset in the current one.
    Costs the queries of ``cards_for`` plus one for the images, and a light
    ranking query once a minute for the whole site.
    """
    size = check_limit(limit)
    position = decode_hot_cursor(cursor)
    generation, offset = position if position is not None else (None, 0)
    generation, ids = await _ranked_slice(
        session, redis, HOT_LIST_PREFIX, generation, offset, size + 1
    )
    has_more = len(ids) > size
    cards = await _cards_in_order(session, ids[:size], viewer_id)
    next_cursor = encode_hot_cursor(generation, offset + size) if has_more else None
    return FeedPage(cards=cards, next_cursor=next_cursor)


async def todays_top(
    session: AsyncSession, redis: aioredis.Redis, *, viewer_id: int | None, limit: int = 6
) -> list[ImageCard]:
    """The best-scoring images uploaded in the last 24 hours, best first (at most ``limit``)."""
    if not 1 <= limit <= TODAY_KEPT:
        raise InvalidInput(f"limit must be between 1 and {TODAY_KEPT}.", field="limit")
    _, ids = await _ranked_slice(session, redis, TODAY_LIST_PREFIX, None, 0, limit)
    return await _cards_in_order(session, ids, viewer_id)
