"""Who sees whose posts: the one place that decides what a viewer is spared.

Who may see a post at all comes first:

* **Audience**: a post is public (``images.is_public``) unless its author
  made it followers-only or the author's account is private. A post that is
  not public is seen by its author, the author's followers and moderators,
  and answers everyone else ``404``, as if absent (``check_post_visible``).
  The shared feed pages are built as an anonymous visitor sees them, so they
  hold public posts only (``visible_posts(None)``); the places where a
  follower sees more (the author's profile, the following feed, search, the
  post itself) ask with the viewer.

Then two relations between accounts:

* **Mute** (one way, private): the muted account's posts leave the muter's
  feeds (everyone's, following, tags, hot, today's top, the seed pages) and
  search results, and its notices the muter's notifications. Its profile
  still shows its posts to the muter (they went there on purpose), and its
  comments stay where they are.
* **Block** (both ways): the two accounts no longer see each other anywhere:
  not in feeds, search, notifications or comments, and each one's profile
  and posts answer the other ``404``, as if absent (``check_not_blocked``).
  The blocked one cannot follow, comment, like or report what it cannot see.
  Comments the blocked account left on the blocker's posts are hidden from
  everyone (``comments_shown``).

Each rule has two forms, so every caller pays only for what it needs:

* sets (``viewer_relations``, one query for both), for filtering what is
  already built (the shared feed pages of ``web/feed_pages.py``, live
  messages); it costs no query for a viewer who was never in a relation
  (``users.relations_version`` 0);
* a subquery (``hidden_authors``, ``blocked_either_way``), for a query's
  ``NOT IN`` (the following feed, search, notifications, comment lists), so
  the database filters before paging.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CompoundSelect, exists, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from gallery.models.image import Image
from gallery.models.social import Block, Follow, Mute
from gallery.models.user import Permission, User
from gallery.services.errors import NotFoundError

# What a block answers, word for word what an absent post or account does.
NO_IMAGE_MESSAGE = "There is no image with that id (it may have been deleted)."


def no_user_message(username: str) -> str:
    return f"There is no user called {username!r}."


def blocked_either_way(viewer_id: int) -> CompoundSelect:
    """The ids of the accounts ``viewer_id`` blocked or is blocked by."""
    return union_all(
        select(Block.blocked_id).where(Block.blocker_id == viewer_id),
        select(Block.blocker_id).where(Block.blocked_id == viewer_id),
    )


def hidden_authors(viewer_id: int) -> CompoundSelect:
    """The ids of the accounts whose posts and notices ``viewer_id`` is spared."""
    return union_all(
        select(Mute.muted_id).where(Mute.muter_id == viewer_id),
        select(Block.blocked_id).where(Block.blocker_id == viewer_id),
        select(Block.blocker_id).where(Block.blocked_id == viewer_id),
    )


def not_hidden(
    viewer_id: int | None, column: InstrumentedAttribute[int]
) -> list[ColumnElement[bool]]:
    """Conditions keeping the rows whose ``column`` (an author or actor id) the viewer sees.

    None for an anonymous viewer. For a signed-in one, an anti-join on the
    mutes' and blocks' keys, which costs next to nothing when there are none.
    """
    if viewer_id is None:
        return []
    return [column.not_in(hidden_authors(viewer_id))]


def not_blocked(
    viewer_id: int | None, column: InstrumentedAttribute[int]
) -> list[ColumnElement[bool]]:
    """As ``not_hidden``, for blocks alone (what muting leaves alone: comments, people)."""
    if viewer_id is None:
        return []
    return [column.not_in(blocked_either_way(viewer_id))]


def comments_shown(
    post_author: InstrumentedAttribute[int] | int, comment_author: InstrumentedAttribute[int]
) -> ColumnElement[bool]:
    """The comments everyone may see: none by someone the post's author blocked, and
    none of a deleted account (gone at once, before the worker removes them)."""
    return ~exists(
        select(Block.id).where(Block.blocker_id == post_author, Block.blocked_id == comment_author)
    ) & ~exists(select(User.id).where(User.id == comment_author, User.deleted_at.is_not(None)))


@dataclass(frozen=True)
class Relations:
    """A viewer's relations as sets: whom they are spared (mutes and blocks), and
    who is behind a block with them (a subset)."""

    hidden: frozenset[int] = frozenset()
    blocked: frozenset[int] = frozenset()


async def relations_of(session: AsyncSession, viewer_id: int) -> Relations:
    """Both sets in one query on the mutes' and blocks' keys."""
    rows = await session.execute(
        union_all(
            select(Mute.muted_id, literal(False)).where(Mute.muter_id == viewer_id),
            select(Block.blocked_id, literal(True)).where(Block.blocker_id == viewer_id),
            select(Block.blocker_id, literal(True)).where(Block.blocked_id == viewer_id),
        )
    )
    pairs = [(other, bool(is_block)) for other, is_block in rows]
    return Relations(
        hidden=frozenset(other for other, _ in pairs),
        blocked=frozenset(other for other, is_block in pairs if is_block),
    )


async def viewer_relations(session: AsyncSession, viewer: User | None) -> Relations:
    """``relations_of`` the viewer; no query for one never in a relation."""
    if viewer is None or not viewer.relations_version:
        return Relations()
    return await relations_of(session, viewer.id)


async def is_blocked_either_way(
    session: AsyncSession, viewer_id: int | None, other_id: int
) -> bool:
    if viewer_id is None or viewer_id == other_id:
        return False
    found = await session.scalar(
        select(Block.id)
        .where(
            ((Block.blocker_id == viewer_id) & (Block.blocked_id == other_id))
            | ((Block.blocker_id == other_id) & (Block.blocked_id == viewer_id))
        )
        .limit(1)
    )
    return found is not None


async def check_not_blocked(
    session: AsyncSession, viewer: User | None, other_id: int, message: str
) -> None:
    """``NotFoundError(message)`` if a block stands between the viewer and ``other_id``:
    to each of them the other's profile and posts are as if absent.

    No query for a viewer never in a relation (a block moves both sides' version).
    """
    if viewer is None or not viewer.relations_version:
        return
    if await is_blocked_either_way(session, viewer.id, other_id):
        raise NotFoundError(message)


# -- audience: public posts, and the rest for followers ---------------------


def visible_posts(viewer_id: int | None) -> list[ColumnElement[bool]]:
    """Conditions keeping the posts (``Image`` rows) the viewer may see.

    Anonymous (and every shared page): the public ones. Signed in: those, the
    viewer's own, and all of the accounts the viewer follows.
    """
    if viewer_id is None:
        return [Image.is_public.is_(True)]
    followed = select(Follow.followed_id).where(Follow.follower_id == viewer_id)
    return [or_(Image.is_public, Image.author_id == viewer_id, Image.author_id.in_(followed))]


async def sees_everything_of(session: AsyncSession, viewer: User | None, author_id: int) -> bool:
    """Whether the viewer may see all of the author's posts, public or not:
    the author, a follower, or a moderator (who must see what is reported)."""
    if viewer is None:
        return False
    if viewer.id == author_id or viewer.can(Permission.MODERATE):
        return True
    found = await session.scalar(
        select(Follow.id).where(Follow.follower_id == viewer.id, Follow.followed_id == author_id)
    )
    return found is not None


async def can_see_post(
    session: AsyncSession, viewer: User | None, author_id: int, is_public: bool
) -> bool:
    """Whether the viewer may see a post by ``author_id`` (``is_public`` as stored):
    no block between them, and a public post or someone who sees everything of
    its author. No query for a public post and a viewer never in a relation."""
    if (
        viewer is not None
        and viewer.relations_version
        and await is_blocked_either_way(session, viewer.id, author_id)
    ):
        return False
    return is_public or await sees_everything_of(session, viewer, author_id)


async def check_post_visible(
    session: AsyncSession,
    viewer: User | None,
    author_id: int,
    is_public: bool,
    message: str = NO_IMAGE_MESSAGE,
) -> None:
    """``NotFoundError(message)`` unless the viewer may see the post (``can_see_post``)."""
    if not await can_see_post(session, viewer, author_id, is_public):
        raise NotFoundError(message)


async def visible_post_author(session: AsyncSession, viewer: User | None, image_id: int) -> int:
    """The author of the post ``image_id`` if the viewer may see it; else ``NotFoundError``,
    the same for a post that is absent and one the viewer may not see."""
    row = (
        await session.execute(select(Image.author_id, Image.is_public).where(Image.id == image_id))
    ).first()
    if row is None:
        raise NotFoundError(NO_IMAGE_MESSAGE)
    await check_post_visible(session, viewer, row[0], bool(row[1]))
    return int(row[0])
