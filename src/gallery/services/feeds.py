"""Feeds of images: keyset pages for the API, numbered pages for the seed clients.

Every page costs the same few queries whatever its length: one for the images
with their authors, one for the first comments of all of them (with theirs),
and for a signed-in viewer one for which of them they like. Nothing is loaded
per image.

A feed's *version* lives in Redis and changes after every write that can change
what a feed shows; polling clients get ``304 Not Modified`` while it stays put,
without a single database query.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.infra.coalesced import coalesced
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.social import Follow, Like, Save
from gallery.models.user import User
from gallery.services.errors import NotFoundError
from gallery.services.paging import check_limit, decode_cursor, trim_page
from gallery.services.visibility import (
    NO_IMAGE_MESSAGE,
    comments_shown,
    not_blocked,
    not_hidden,
    sees_everything_of,
    viewer_relations,
    visible_posts,
)

log = logging.getLogger(__name__)

FIRST_COMMENTS = 2

FEED_VERSION_KEY = "feed:version"


@dataclass(frozen=True)
class ImageCard:
    """An image as feeds show it: author loaded, its first comments, the viewer's like."""

    image: Image
    first_comments: list[Comment]
    liked: bool
    saved: bool = False


@dataclass(frozen=True)
class FeedPage:
    cards: list[ImageCard]
    next_cursor: str | None


@dataclass(frozen=True)
class NumberedPage:
    cards: list[ImageCard]
    has_next: bool


# -- pages -----------------------------------------------------------------


def _images_with_authors() -> Select[Image]:
    return select(Image).options(joinedload(Image.author))


async def latest(
    session: AsyncSession, *, viewer_id: int | None, limit: int | None, cursor: str | None
) -> FeedPage:
    """Everyone's images the viewer may see, newest first."""
    query = _images_with_authors().where(*visible_posts(viewer_id))
    return await keyset_page(session, query, viewer_id, limit, cursor)


async def by_author(
    session: AsyncSession,
    author_id: int,
    *,
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
    everything: bool = False,
) -> FeedPage:
    """One author's images, newest first: the public ones, or with ``everything``
    (for those who may see it: ``visibility.sees_everything_of``) all of them."""
    query = _images_with_authors().where(Image.author_id == author_id)
    if not everything:
        query = query.where(*visible_posts(viewer_id))
    return await keyset_page(session, query, viewer_id, limit, cursor)


async def keyset_page(
    session: AsyncSession,
    query: Select[Image],
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
) -> FeedPage:
    """A newest-first page of ``query`` (images with their authors), continuing after ``cursor``."""
    # Keyset on the id: a page continues strictly below the last id seen, so
    # images uploaded meanwhile never shift or repeat what comes next.
    size = check_limit(limit)
    before_id = decode_cursor(cursor)
    if before_id is not None:
        query = query.where(Image.id < before_id)
    rows, next_cursor = trim_page(
        (await session.scalars(query.order_by(Image.id.desc()).limit(size + 1))).all(), size
    )
    return FeedPage(cards=await cards_for(session, rows, viewer_id), next_cursor=next_cursor)


async def following(
    session: AsyncSession, *, viewer_id: int, limit: int | None, cursor: str | None
) -> FeedPage:
    """The images of the people ``viewer_id`` follows, newest first."""
    followed = select(Follow.followed_id).where(Follow.follower_id == viewer_id)
    query = _images_with_authors().where(
        Image.author_id.in_(followed), *not_hidden(viewer_id, Image.author_id)
    )
    return await keyset_page(session, query, viewer_id, limit, cursor)


async def numbered_page(
    session: AsyncSession,
    *,
    page: int,
    per_page: int,
    viewer_id: int | None,
    author_id: int | None = None,
) -> NumberedPage:
    """Page ``page`` (from 1) of ``per_page`` images, newest first: the seed clients' paging.

    A deferred join: the page's ids come first, from the index alone (the
    primary key, or ``author_id``'s index, which ends in the primary key), and
    only those rows are read and joined to their authors. ``OFFSET`` over the
    full join would read and join every skipped row, so page 500 cost 3× page 1.
    """
    ids_query = select(Image.id).where(*visible_posts(viewer_id))
    if author_id is not None:
        ids_query = ids_query.where(Image.author_id == author_id)
    ids_query = (
        ids_query.order_by(Image.id.desc()).offset((page - 1) * per_page).limit(per_page + 1)
    )
    ids = list((await session.scalars(ids_query)).all())
    shown = ids[:per_page]
    rows: list[Image] = []
    if shown:
        query = _images_with_authors().where(Image.id.in_(shown)).order_by(Image.id.desc())
        rows = list((await session.scalars(query)).all())
    cards = await cards_for(session, rows, viewer_id)
    return NumberedPage(cards=cards, has_next=len(ids) > per_page)


async def image_card(session: AsyncSession, image_id: int, viewer: User | None) -> ImageCard:
    """One image as the feeds show it; ``NotFoundError`` if there is none, if a
    block stands between the viewer and its author, or if it is not public
    and the viewer is none of its author, a follower or a moderator."""
    image = await session.scalar(_images_with_authors().where(Image.id == image_id))
    if image is None:
        raise NotFoundError(NO_IMAGE_MESSAGE)
    # One query for the block check and the first comments' filter below.
    blocked = (await viewer_relations(session, viewer)).blocked
    if image.author_id in blocked:
        raise NotFoundError(NO_IMAGE_MESSAGE)
    if not image.is_public and not await sees_everything_of(session, viewer, image.author_id):
        raise NotFoundError(NO_IMAGE_MESSAGE)
    viewer_id = viewer.id if viewer is not None else None
    card = (await cards_for(session, [image], viewer_id))[0]
    if not blocked:
        return card
    # The first comments, less those by accounts behind a block with the viewer.
    shown = [c for c in card.first_comments if c.author_id not in blocked]
    return card if len(shown) == len(card.first_comments) else replace(card, first_comments=shown)


async def cards_for(
    session: AsyncSession, images: Sequence[Image], viewer_id: int | None
) -> list[ImageCard]:
    """Attach the first comments and the viewer's likes: one query for each, for all images."""
    if not images:
        return []
    image_ids = [image.id for image in images]
    first = await _first_comments(session, image_ids)
    liked, saved = (
        await viewer_marks(session, viewer_id, image_ids)
        if viewer_id is not None
        else (set(), set())
    )
    return [
        ImageCard(
            image=i, first_comments=first.get(i.id, []), liked=i.id in liked, saved=i.id in saved
        )
        for i in images
    ]


async def viewer_marks(
    session: AsyncSession, viewer_id: int, image_ids: list[int]
) -> tuple[set[int], set[int]]:
    """Which of ``image_ids`` the viewer likes, and which they saved: one statement for both."""
    if not image_ids:
        return set(), set()
    likes, saves = Like.__table__.c, Save.__table__.c
    query = union_all(
        select(likes.image_id, literal(0).label("saved")).where(
            likes.user_id == viewer_id, likes.image_id.in_(image_ids)
        ),
        select(saves.image_id, literal(1).label("saved")).where(
            saves.user_id == viewer_id, saves.image_id.in_(image_ids)
        ),
    )
    liked: set[int] = set()
    saved: set[int] = set()
    for image_id, is_save in await session.execute(query):
        (saved if is_save else liked).add(image_id)
    return liked, saved


async def liked_among(session: AsyncSession, viewer_id: int, image_ids: list[int]) -> set[int]:
    """Which of ``image_ids`` the viewer likes: one query on the likes' primary key."""
    if not image_ids:
        return set()
    # On the table, not the mapped class: a plain row query skips the ORM's
    # per-statement set-up, and this runs on every signed-in feed request.
    likes = Like.__table__.c
    query = select(likes.image_id).where(likes.user_id == viewer_id, likes.image_id.in_(image_ids))
    return set((await session.scalars(query)).all())


async def _first_comments(session: AsyncSession, image_ids: list[int]) -> dict[int, list[Comment]]:
    numbered = (
        select(
            Comment.id.label("comment_id"),
            func.row_number()
            .over(partition_by=Comment.image_id, order_by=Comment.id)
            .label("position"),
        )
        .join(Image, Image.id == Comment.image_id)
        .where(Comment.image_id.in_(image_ids), comments_shown(Image.author_id, Comment.author_id))
        .subquery()
    )
    query = (
        select(Comment)
        .options(joinedload(Comment.author))
        .join(numbered, numbered.c.comment_id == Comment.id)
        .where(numbered.c.position <= FIRST_COMMENTS)
        .order_by(Comment.image_id, Comment.id)
    )
    grouped: dict[int, list[Comment]] = defaultdict(list)
    for comment in (await session.scalars(query)).all():
        grouped[comment.image_id].append(comment)
    return grouped


async def counts_of(
    session: AsyncSession, image_ids: Sequence[int], viewer_id: int | None = None
) -> list[tuple[int, int, int]]:
    """``(id, like_count, comment_count)`` of each image that exists, in one query.

    What a page asks after a live reconnect, to bring the counts it shows up
    to date (an id missing from the answer is an image deleted meanwhile).
    """
    if not image_ids:
        return []
    rows = await session.execute(
        select(Image.id, Image.like_count, Image.comment_count)
        .where(
            Image.id.in_(image_ids),
            *visible_posts(viewer_id),
            *not_blocked(viewer_id, Image.author_id),
        )
        .order_by(Image.id)
    )
    return [(row[0], row[1], row[2]) for row in rows]


# -- versions for conditional requests --------------------------------------


async def current_version(redis: aioredis.Redis, key: str) -> str:
    """The version stored under ``key``: it changes after every write it stands for.

    Concurrent callers share one GET that is sent after all of them asked
    (``infra.coalesced``), so the answer is never older than the caller.
    """
    version = await coalesced(redis).get(key)
    if version is None:
        # A random start, so that a Redis that lost its data never hands out a
        # version that old ETags already used.
        await redis.set(key, secrets.randbelow(2**48), nx=True)
        version = await redis.get(key)
    return str(version)


async def bump_version(redis: aioredis.Redis, key: str) -> None:
    """Move the version under ``key`` on; call after the commit (never before: a
    poll in between would cache the old data under the new version).

    The change is committed by then, so a Redis failure here must not turn it
    into an error for the user: it is logged, and the next bump catches up.
    """
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(key, secrets.randbelow(2**48), nx=True)
            pipe.incr(key)
            await pipe.execute()
    except RedisError:
        log.exception("Could not bump %s; polls may see stale data until the next change", key)


async def feed_version(redis: aioredis.Redis) -> str:
    """The current version of everything feeds show; changes after every such write."""
    return await current_version(redis, FEED_VERSION_KEY)


async def bump_feed_version(redis: aioredis.Redis) -> None:
    """Call after committing a change that feeds show."""
    await bump_version(redis, FEED_VERSION_KEY)
