"""Lists of people at the other end of an edge: followers, follows, mutes, blocks, requests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from gallery.models.user import User
from gallery.services.paging import check_limit, decode_cursor, encode_cursor


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


async def people_page(
    session: AsyncSession,
    edge_id: InstrumentedAttribute[int],
    condition: ColumnElement[bool],
    other_side: InstrumentedAttribute[int],
    limit: int | None,
    cursor: str | None,
) -> UserPage:
    """The active accounts at ``other_side`` of the edges matching ``condition``,
    most recent edge first (keyset on ``edge_id``)."""
    size = check_limit(limit)
    before_id = decode_cursor(cursor)
    query = (
        select(edge_id, User)
        .join(User, User.id == other_side)
        .where(condition, User.is_active)
        .order_by(edge_id.desc())
        .limit(size + 1)
    )
    if before_id is not None:
        query = query.where(edge_id < before_id)
    rows = list((await session.execute(query)).all())
    has_more = len(rows) > size
    rows = rows[:size]
    return UserPage(
        users=[user for _, user in rows],
        next_cursor=encode_cursor(rows[-1][0]) if has_more else None,
    )
