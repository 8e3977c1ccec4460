"""Saved for later: a private bookmark on any post, and the list of one's saves.

Nobody else learns of a save: no notice, no counter on the post, no change to
the shared feed pages. What the viewer sees as "saved" is laid over those
pages per viewer (``web/feed_pages.py``), keyed by ``users.saves_version``,
which every save and unsave moves on in the same transaction (and, after the
commit, the account's generation, ``services/feed_viewers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.infra.db import insert_unless_present
from gallery.models.image import Image
from gallery.models.social import Save
from gallery.models.user import User
from gallery.services.feed_viewers import viewer_changed
from gallery.services.feeds import FeedPage, cards_for
from gallery.services.paging import check_limit, decode_cursor, encode_cursor
from gallery.services.visibility import not_blocked, visible_post_author, visible_posts


@dataclass(frozen=True)
class SaveState:
    saved: bool


async def _bump_saves_version(session: AsyncSession, user: User) -> None:
    await session.execute(
        update(User).where(User.id == user.id).values(saves_version=User.saves_version + 1)
    )


async def save_post(
    session: AsyncSession, redis: aioredis.Redis | None, *, user: User, image_id: int
) -> SaveState:
    """``user`` saves the post (again is fine). Any signed-in account may, locked or not:
    a bookmark changes nothing anyone else sees."""
    await visible_post_author(session, user, image_id)
    added = await insert_unless_present(
        session, Save.__table__, {"user_id": user.id, "image_id": image_id}
    )
    if added:
        await _bump_saves_version(session, user)
    await session.commit()
    if added:
        await viewer_changed(redis, user.id)
    return SaveState(saved=True)


async def unsave_post(
    session: AsyncSession, redis: aioredis.Redis | None, *, user: User, image_id: int
) -> SaveState:
    """Take the post off ``user``'s saved list (not there, or deleted meanwhile, is fine)."""
    removed = await session.execute(
        delete(Save).where(Save.user_id == user.id, Save.image_id == image_id)
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await _bump_saves_version(session, user)
    await session.commit()
    if removed.rowcount:  # type: ignore[attr-defined]
        await viewer_changed(redis, user.id)
    return SaveState(saved=False)


async def saved_among(session: AsyncSession, user_id: int, image_ids: Sequence[int]) -> set[int]:
    """Which of ``image_ids`` the user saved: one query on the saves' unique key."""
    if not image_ids:
        return set()
    saves = Save.__table__.c
    query = select(saves.image_id).where(saves.user_id == user_id, saves.image_id.in_(image_ids))
    return set((await session.scalars(query)).all())


async def saved_page(
    session: AsyncSession, *, user_id: int, limit: int | None, cursor: str | None
) -> FeedPage:
    """The user's saved posts, most recently saved first (keyset on the save)."""
    size = check_limit(limit)
    before = decode_cursor(cursor)
    query = (
        select(Save.id, Image)
        .join(Image, Image.id == Save.image_id)
        .options(joinedload(Image.author))
        .where(
            Save.user_id == user_id,
            *not_blocked(user_id, Image.author_id),
            # A post saved before it turned followers-only (or before an unfollow).
            *visible_posts(user_id),
        )
        .order_by(Save.id.desc())
        .limit(size + 1)
    )
    if before is not None:
        query = query.where(Save.id < before)
    rows = (await session.execute(query)).all()
    shown = rows[:size]
    cards = await cards_for(session, [image for _, image in shown], user_id)
    next_cursor = encode_cursor(shown[-1][0]) if len(rows) > size else None
    return FeedPage(cards=cards, next_cursor=next_cursor)
