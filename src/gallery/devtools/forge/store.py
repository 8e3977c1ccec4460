"""Carrying forge's plans out: users straight into the table, everything else through services.

Images, comments, likes and follows go through the services real users go
through (``images.ingest``, ``comments.add_comment``, ``social.like_image``,
``social.follow_user``), so forged data is stored, counted, notified and
cached exactly like real data. Only the users are inserted here, because the
account service would hash the same password once per user (Argon2 is slow on
purpose) and send activation mails.

All four kinds are stored by one loop, ``store_in_batches``: a session per
batch, the batch's users loaded at once, items in plan order (so a seed gives
the same ids).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.devtools.forge.plan import (
    EMAIL_DOMAIN,
    CommentPlan,
    ImagePlan,
    Pair,
    email_for,
    make_username,
)
from gallery.devtools.forge.scenes import render_photo
from gallery.infra.db import Database
from gallery.infra.storage import Storage
from gallery.models.image import Image
from gallery.models.user import Permission, Role, User
from gallery.services import comments as comment_service
from gallery.services import images as image_service
from gallery.services import social
from gallery.services.accounts import check_username
from gallery.services.passwords import hash_password

# Items stored per database session (each item still commits on its own).
BATCH_SIZE = 25
# Images drawn ahead, in threads, while earlier ones are being stored.
LOOKAHEAD = 3
# When --users is 0, images and comments are posted by (up to this many) existing users.
EXISTING_USERS_LIMIT = 1000
# When --images is 0, comments go on (up to this many of) the newest existing images.
EXISTING_IMAGES_LIMIT = 5000

T = TypeVar("T")
PlanT = TypeVar("PlanT")
ResultT = TypeVar("ResultT")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of ``size`` (the last may be shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- users ---------------------------------------------------------------------------------------


async def _taken_keys(db: Database, usernames: Sequence[str]) -> set[str]:
    """Which of these usernames, or the e-mail addresses made from them, are in use."""
    taken: set[str] = set()
    async with db.session() as session:
        for chunk in batches(usernames, 500):  # bounded IN lists, for SQLite's variable limit
            name_keys = [User.key_for(name) for name in chunk]
            email_keys = [User.key_for(email_for(name)) for name in chunk]
            rows = await session.execute(
                select(User.username_key, User.email_key).where(
                    User.username_key.in_(name_keys) | User.email_key.in_(email_keys)
                )
            )
            for username_key, email_key in rows:
                taken.add(username_key)
                taken.add(email_key.removesuffix(f"@{EMAIL_DOMAIN}"))
    return taken


async def _free_usernames(db: Database, rng: random.Random, count: int) -> list[str]:
    """``count`` new usernames, unique among themselves and in the database."""
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < count:
        candidates: list[str] = []
        while len(candidates) < count - len(chosen):
            name = make_username(rng)
            if User.key_for(name) in seen:
                # Renamed rather than redrawn, so a few hundred users still finish quickly.
                name = check_username(f"{name[:26]}{rng.randint(2, 999)}")
            if User.key_for(name) not in seen:
                seen.add(User.key_for(name))
                candidates.append(name)
        taken = await _taken_keys(db, candidates)
        chosen += [name for name in candidates if User.key_for(name) not in taken]
    return chosen


async def store_users(
    db: Database, rng: random.Random, *, count: int, password: str
) -> list[tuple[int, str]]:
    """``count`` activated users sharing one password; their ids and usernames."""
    password_hash = await hash_password(password)  # once: Argon2 is slow on purpose
    for attempt in range(3):
        usernames = await _free_usernames(db, rng, count)
        now = datetime.now(UTC)
        async with db.session() as session:
            rows = [
                User(
                    username=name,
                    username_key=User.key_for(name),
                    email=email_for(name),
                    email_key=User.key_for(email_for(name)),
                    password_hash=password_hash,
                    is_active=True,
                    activated_at=now,
                    permissions=int(Role.USER),
                )
                for name in usernames
            ]
            session.add_all(rows)
            try:
                await session.commit()
            except IntegrityError:
                # Somebody registered one of these names meanwhile: pick again.
                await session.rollback()
                if attempt == 2:
                    raise
                continue
            return [(row.id, row.username) for row in rows]
    raise AssertionError("unreachable")


async def existing_author_ids(db: Database) -> list[int]:
    """Activated users who may upload and comment (for ``users=0``)."""
    needed = int(Permission.UPLOAD | Permission.COMMENT)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(User.id, User.permissions)
                .where(User.is_active)
                .order_by(User.id)
                .limit(EXISTING_USERS_LIMIT)
            )
        ).all()
    return [user_id for user_id, permissions in rows if permissions & needed == needed]


async def existing_image_ids(db: Database) -> list[int]:
    """The newest images, for comments and likes when none are forged (``images=0``)."""
    async with db.session() as session:
        ids = await session.scalars(
            select(Image.id).order_by(Image.id.desc()).limit(EXISTING_IMAGES_LIMIT)
        )
        return list(ids)


# --- images, comments, likes, follows ------------------------------------------------------------


async def _load_users(session: AsyncSession, ids: set[int]) -> dict[int, User]:
    found = await session.scalars(select(User).where(User.id.in_(ids)))
    return {user.id: user for user in found}


async def store_in_batches(
    db: Database,
    plans: Sequence[PlanT],
    *,
    acting_user_ids: Callable[[PlanT], Iterable[int]],
    store_one: Callable[[AsyncSession, dict[int, User], PlanT], Awaitable[ResultT]],
    advance: Callable[[int], None],
) -> list[ResultT]:
    """Carry out ``plans`` in order, ``BATCH_SIZE`` to a session; what ``store_one`` returned.

    The services take the acting users as loaded rows, so each batch loads the
    users its plans name (``acting_user_ids``) in one query rather than one per
    item, and ``store_one`` gets them by id. ``advance`` reports every item.
    """
    results: list[ResultT] = []
    for batch in batches(plans, BATCH_SIZE):
        async with db.session() as session:
            ids = {user_id for plan in batch for user_id in acting_user_ids(plan)}
            users = await _load_users(session, ids)
            for plan in batch:
                results.append(await store_one(session, users, plan))
                advance(1)
    return results


async def store_images(
    db: Database,
    storage: Storage,
    redis: aioredis.Redis | None,
    plans: Sequence[ImagePlan],
    advance: Callable[[int], None],
) -> list[int]:
    """Draw the planned images (ahead, in threads) and ingest them in plan order; their ids."""
    pending: deque[asyncio.Task[bytes]] = deque()
    upcoming = iter(plans)

    def draw_next() -> None:
        plan = next(upcoming, None)
        if plan is not None:
            drawing = asyncio.to_thread(render_photo, plan.kind, plan.seed)
            pending.append(asyncio.ensure_future(drawing))

    async def ingest(session: AsyncSession, users: dict[int, User], plan: ImagePlan) -> int:
        data = await pending.popleft()
        draw_next()
        image = await image_service.ingest(
            session,
            storage,
            redis,
            author=users[plan.author_id],
            data=data,
            description=plan.description,
        )
        return image.id

    for _ in range(LOOKAHEAD):
        draw_next()
    try:
        return await store_in_batches(
            db,
            plans,
            acting_user_ids=lambda plan: (plan.author_id,),
            store_one=ingest,
            advance=advance,
        )
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def store_comments(
    db: Database,
    redis: aioredis.Redis | None,
    plans: Sequence[CommentPlan],
    advance: Callable[[int], None],
) -> int:
    """Post the planned comments; how many."""

    async def post(session: AsyncSession, users: dict[int, User], plan: CommentPlan) -> None:
        await comment_service.add_comment(
            session,
            redis,
            image_id=plan.image_id,
            author=users[plan.author_id],
            content=plan.content,
        )

    stored = await store_in_batches(
        db, plans, acting_user_ids=lambda plan: (plan.author_id,), store_one=post, advance=advance
    )
    return len(stored)


async def store_likes(
    db: Database,
    redis: aioredis.Redis | None,
    plans: Sequence[Pair],
    advance: Callable[[int], None],
) -> int:
    """Like the planned (user, image) pairs; how many."""

    async def like(session: AsyncSession, users: dict[int, User], pair: Pair) -> None:
        user_id, image_id = pair
        await social.like_image(session, redis, user=users[user_id], image_id=image_id)

    stored = await store_in_batches(
        db, plans, acting_user_ids=lambda pair: pair[:1], store_one=like, advance=advance
    )
    return len(stored)


async def store_follows(
    db: Database,
    redis: aioredis.Redis | None,
    plans: Sequence[Pair],
    advance: Callable[[int], None],
) -> int:
    """Make the planned (follower, followed) follows; how many."""

    async def follow(session: AsyncSession, users: dict[int, User], pair: Pair) -> None:
        follower_id, followed_id = pair
        await social.follow_user(
            session, redis, follower=users[follower_id], username=users[followed_id].username
        )

    # Both ends are loaded: the service follows by username.
    stored = await store_in_batches(
        db, plans, acting_user_ids=lambda pair: pair, store_one=follow, advance=advance
    )
    return len(stored)
