"""Fake data for trying Gallery out: users, photo-like images, comments, likes, follows.

``gallery forge`` calls ``forge``; tests call it directly. The work is split
by what it touches: ``plan`` decides what to create (pure, from one random
generator), ``store`` writes it through the services, ``scenes`` draws the
images with Pillow. ``forge`` below runs them in order.

With a ``seed`` the output is reproducible: every random choice is drawn, in
order, from one ``random.Random``, and each image is drawn in its own thread
from a seed taken from that generator; images are stored in plan order so
their ids follow it too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis

from gallery.devtools.forge.plan import (
    DEFAULT_PASSWORD,
    make_description,
    make_username,
    plan_comments,
    plan_images,
    plan_pairs,
)
from gallery.devtools.forge.scenes import SCENE_KINDS, SIZES, render_photo
from gallery.devtools.forge.store import (
    existing_author_ids,
    existing_image_ids,
    store_comments,
    store_follows,
    store_images,
    store_likes,
    store_users,
)
from gallery.infra.db import Database
from gallery.infra.storage import Storage
from gallery.services.accounts import check_password
from gallery.services.errors import InvalidInput

__all__ = [
    "DEFAULT_PASSWORD",
    "SCENE_KINDS",
    "SIZES",
    "ForgeReport",
    "Progress",
    "forge",
    "make_description",
    "make_username",
    "no_progress",
    "plan_images",
    "render_photo",
]

# A progress reporter: given a label and a total, a context manager that
# yields a callable to report how many more items are done.
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@contextmanager
def no_progress(_label: str, _total: int) -> Iterator[Callable[[int], None]]:
    """The progress reporter for callers that show none (tests)."""
    yield lambda _done: None


@dataclass(frozen=True)
class ForgeReport:
    """What was forged, for ``gallery forge`` to print."""

    usernames: list[str]
    images: int
    comments: int
    likes: int
    follows: int
    password: str
    seconds: float


async def forge(
    db: Database,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    users: int = 12,
    images: int = 300,
    comments: int = 600,
    likes: int = 1500,
    follows: int = 40,
    seed: int | None = None,
    password: str = DEFAULT_PASSWORD,
    progress: Progress = no_progress,
) -> ForgeReport:
    """Forge ``users`` activated users, then images, comments, likes and follows.

    Images are posted by random forged users; comments and likes come from
    random forged users on random forged images (some images much more popular
    than others), and forged users follow each other. With ``users=0``
    existing activated users act; with ``images=0`` comments and likes go on
    existing images. Likes and follows are distinct pairs, so fewer (or none)
    are made when there are not enough people or images for the number asked. Raises
    ``AccountError`` for an unusable password and ``InvalidInput`` when there
    is nobody to post as or nothing to comment on.
    """
    started = time.perf_counter()
    check_password(password)
    rng = random.Random(seed)

    forged = await store_users(db, rng, count=users, password=password) if users else []
    author_ids = [user_id for user_id, _ in forged]
    if not author_ids and (images or comments):
        author_ids = await existing_author_ids(db)
        if not author_ids:
            raise InvalidInput("There are no activated users to post as: forge some users too.")

    image_ids: list[int] = []
    if images:
        plans = plan_images(rng, author_ids, images)
        with progress("Forging images", images) as advance:
            image_ids = await store_images(db, storage, redis, plans, advance)

    comment_count = 0
    if comments:
        targets = image_ids or await existing_image_ids(db)
        if not targets:
            raise InvalidInput("There are no images to comment on: forge some images too.")
        comment_plans = plan_comments(rng, author_ids, targets, comments)
        with progress("Forging comments", comments) as advance:
            comment_count = await store_comments(db, redis, comment_plans, advance)

    like_count = 0
    # Nothing to like is not an error: likes are on by default, images may not be.
    like_targets = (image_ids or await existing_image_ids(db)) if likes else []
    if like_targets and author_ids:
        like_plans = plan_pairs(rng, author_ids, like_targets, likes, allow_same=True)
        with progress("Forging likes", len(like_plans)) as advance:
            like_count = await store_likes(db, redis, like_plans, advance)

    follow_count = 0
    if follows and len(author_ids) > 1:
        follow_plans = plan_pairs(rng, author_ids, author_ids, follows, allow_same=False)
        with progress("Forging follows", len(follow_plans)) as advance:
            follow_count = await store_follows(db, redis, follow_plans, advance)

    return ForgeReport(
        usernames=[name for _, name in forged],
        images=len(image_ids),
        comments=comment_count,
        likes=like_count,
        follows=follow_count,
        password=password,
        seconds=time.perf_counter() - started,
    )
