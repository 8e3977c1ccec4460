"""Who sees whose posts: the one place that decides what a viewer is spared.

Today that is the accounts a viewer muted: their posts leave the viewer's
feeds (everyone's, following, tags, hot, today's top, the seed pages), their
posts and their account leave the viewer's search results, and their notices
leave the viewer's notifications. Nothing else changes for anyone: a muted
account's own profile still shows its posts to the muter (they went there on
purpose), and its comments stay where they are.

Two forms of the same rule, so each caller pays only for what it needs:

* ``hidden_author_ids``: the set, for filtering items already built (the
  shared feed pages of ``web/feed_pages.py``, live messages);
* ``hidden_authors``: a subquery, for a query's ``NOT IN`` (the following
  feed, search, notifications), so the database filters before paging.

The set costs no query for a viewer who never muted anyone (``users.relations_version`` 0).
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from gallery.models.social import Mute
from gallery.models.user import User


def hidden_authors(viewer_id: int) -> Select[int]:
    """The ids of the accounts whose posts and notices ``viewer_id`` is spared."""
    return select(Mute.muted_id).where(Mute.muter_id == viewer_id)


def not_hidden(
    viewer_id: int | None, column: InstrumentedAttribute[int]
) -> list[ColumnElement[bool]]:
    """Conditions keeping the rows whose ``column`` (an author or actor id) the viewer sees.

    None for an anonymous viewer. For a signed-in one, an anti-join on the
    mutes' unique key, which costs next to nothing when they muted nobody.
    """
    if viewer_id is None:
        return []
    return [column.not_in(hidden_authors(viewer_id))]


async def hidden_author_ids(session: AsyncSession, viewer: User | None) -> frozenset[int]:
    """``hidden_authors`` as a set: one query on the mutes' unique key, none if never muted."""
    if viewer is None or not viewer.relations_version:
        return frozenset()
    return frozenset((await session.scalars(hidden_authors(viewer.id))).all())
