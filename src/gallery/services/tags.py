"""Hashtags: finding them in descriptions, attaching them to images, the tag feeds.

The rules (``static/js/shared.js`` ``descriptionNodes`` follows the very same ones):

* A tag is ``#`` (or the full-width ``＃``) followed by a run of *tag characters*:
  Unicode letters, digits, combining marks and connector punctuation (``_``).
  The run ends at anything else, so ``#tag.`` is ``tag`` and ``#sunset🌅`` is
  ``sunset``; emoji are never part of a tag.
* The ``#`` must not be glued to what comes before: after a tag character, ``&``
  or ``/`` it starts nothing (``a#b``, ``&#39;``, ``example.com/#top``). So
  ``#tag#other`` is only ``tag``; in ``##tag`` the second ``#`` follows a ``#``,
  which is not glue, so it is ``tag``.
* Whitespace-separated words that contain ``://`` or begin with ``www.`` are
  links, and a link's fragment (``http://x/#top``) is never a tag.
* Names are stored and compared in their NFKC case-folded form: ``#Sea``, ``#SEA``
  and ``#ｓｅａ`` are one tag ``sea``.
* A name needs at least one letter (``#2024`` and ``#1`` are not tags: they are
  usually numbers, not topics) and at most ``TAG_MAX_LENGTH`` characters after
  folding; a longer one is ignored rather than cut, since a cut name would link
  to a different tag than the one written.
* Repeated tags collapse; names come out in the order they first appear.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Insert, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.models.image import Image
from gallery.models.social import TAG_MAX_LENGTH, Tag, image_tags
from gallery.services.errors import NotFoundError
from gallery.services.feeds import FeedPage, keyset_page
from gallery.services.visibility import visible_posts

HASH_CHARACTERS = frozenset("#＃")
# Before a "#", these glue it to the preceding text (besides the tag characters).
GLUE_CHARACTERS = frozenset("&/")
# Python's str.isspace() and JavaScript's \s together, spelled out so that the
# browser's copy of these rules splits words exactly where this one does.
WORD = re.compile(
    "[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
)


@dataclass(frozen=True)
class HashtagSpan:
    """Where a hashtag is in a text: ``text[start:end]`` is ``#`` and the name as written."""

    start: int
    end: int
    name: str


@dataclass(frozen=True)
class TagSummary:
    name: str
    image_count: int


def is_tag_character(character: str) -> bool:
    """Letters, digits, combining marks and connector punctuation (``_``)."""
    return unicodedata.category(character)[0] in "LNM" or unicodedata.category(character) == "Pc"


def fold_tag_name(text: str) -> str:
    """The stored form of a name: NFKC, case-folded, NFKC again (folding can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def valid_tag_name(text: str) -> str | None:
    """The folded name for the characters after a ``#``, or ``None`` if it is no tag."""
    name = fold_tag_name(text)
    if not name or len(name) > TAG_MAX_LENGTH:
        return None
    # Folding may turn a character into others (NFKC "½" is "1⁄2"); all must still fit.
    if not all(is_tag_character(c) for c in name):
        return None
    if not any(unicodedata.category(c)[0] == "L" for c in name):
        return None
    return name


def tag_name_from_input(text: str) -> str | None:
    """A tag name typed by someone (a URL, a search box): leading ``#`` optional."""
    return valid_tag_name(text.strip().lstrip("".join(HASH_CHARACTERS)))


def hashtag_spans(text: str) -> list[HashtagSpan]:
    """Every hashtag occurrence in ``text``, in order (repeats included)."""
    spans: list[HashtagSpan] = []
    for word in WORD.finditer(text):
        value = word.group()
        if "://" in value or value[:4].lower() == "www.":
            continue
        offset = word.start()
        for index, character in enumerate(value):
            if character not in HASH_CHARACTERS:
                continue
            if index > 0:
                before = value[index - 1]
                if before in GLUE_CHARACTERS or is_tag_character(before):
                    continue
            end = index + 1
            while end < len(value) and is_tag_character(value[end]):
                end += 1
            name = valid_tag_name(value[index + 1 : end]) if end > index + 1 else None
            if name is not None:
                spans.append(HashtagSpan(offset + index, offset + end, name))
    return spans


def parse_hashtags(text: str) -> list[str]:
    """The distinct folded tag names in ``text``, in the order they first appear."""
    return list(dict.fromkeys(span.name for span in hashtag_spans(text or "")))


# -- storing ---------------------------------------------------------------


async def attach_tags(session: AsyncSession, image_id: int, names: Sequence[str]) -> None:
    """Link image ``image_id`` (flushed, not committed) to tags ``names``, creating missing ones.

    Runs inside the caller's transaction, so the image and its tags commit together.
    Safe when concurrent uploads create the same new tag: the insert ignores a
    name that another transaction has just added, and the locking read that
    follows sees that row even where a plain read would still show an older
    snapshot (MariaDB's REPEATABLE READ).
    """
    if not names:
        return
    wanted = sorted(set(names))  # one lock order for every transaction: no deadlock cycles
    ids = await _tag_ids(session, wanted, locking=False)
    missing = [name for name in wanted if name not in ids]
    if missing:
        await session.execute(_insert_ignoring_duplicates(session), [{"name": n} for n in missing])
        ids.update(await _tag_ids(session, missing, locking=True))
    await session.execute(
        insert(image_tags), [{"image_id": image_id, "tag_id": ids[name]} for name in wanted]
    )


def _insert_ignoring_duplicates(session: AsyncSession) -> Insert:
    statement = insert(Tag)
    if session.get_bind().dialect.name == "sqlite":
        return statement.prefix_with("OR IGNORE")
    return statement.prefix_with("IGNORE")


async def _tag_ids(session: AsyncSession, names: Sequence[str], *, locking: bool) -> dict[str, int]:
    query = select(Tag.name, Tag.id).where(Tag.name.in_(names))
    if locking:
        # LOCK IN SHARE MODE reads the newest committed rows (SQLite ignores it).
        query = query.with_for_update(read=True)
    return {name: tag_id for name, tag_id in await session.execute(query)}


# -- reading ---------------------------------------------------------------


async def find_tag(session: AsyncSession, name: str) -> Tag:
    """The tag called ``name`` (any case, ``#`` optional); ``NotFoundError`` otherwise."""
    folded = tag_name_from_input(name)
    found = None
    if folded is not None:
        found = await session.scalar(select(Tag).where(Tag.name == folded))
    if found is None:
        raise NotFoundError("There is no such tag: no photo has been tagged with it yet.")
    return found


async def tag_summary(session: AsyncSession, name: str) -> TagSummary:
    """The tag's stored name and how many images carry it; ``NotFoundError`` if unknown."""
    found = await find_tag(session, name)
    return TagSummary(name=found.name, image_count=(await image_counts(session, [found.id]))[0])


async def image_counts(session: AsyncSession, tag_ids: Sequence[int]) -> list[int]:
    """How many public images carry each tag, in the order of ``tag_ids`` (one query):
    a tag page is the same for everyone, so posts only followers see are not counted."""
    if not tag_ids:
        return []
    rows = await session.execute(
        select(image_tags.c.tag_id, func.count())
        .join(Image, Image.id == image_tags.c.image_id)
        .where(image_tags.c.tag_id.in_(tag_ids), *visible_posts(None))
        .group_by(image_tags.c.tag_id)
    )
    counts: dict[int, int] = {tag_id: count for tag_id, count in rows}
    return [counts.get(tag_id, 0) for tag_id in tag_ids]


async def tagged_images(
    session: AsyncSession,
    name: str,
    *,
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
) -> FeedPage:
    """The images tagged ``name``, newest first, with the feeds' cursors.

    ``NotFoundError`` for a tag nobody has used.
    """
    found = await find_tag(session, name)
    query = (
        select(Image)
        .options(joinedload(Image.author))
        .join(image_tags, image_tags.c.image_id == Image.id)
        .where(image_tags.c.tag_id == found.id, *visible_posts(viewer_id))
    )
    return await keyset_page(session, query, viewer_id, limit, cursor)
