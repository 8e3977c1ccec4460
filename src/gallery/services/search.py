"""Search: people by the start of their username, tags by the start of their name,
photos by the words of their descriptions.

Queries are 1–``MAX_QUERY_LENGTH`` characters after trimming; control
characters (NUL included) count as spaces. What users type is only ever a bound
parameter, never part of the SQL text.

* **People** (``users``): active accounts whose case-folded username starts with
  the query (a leading ``@`` is ignored), alphabetical. The prefix match is a
  range on the unique ``username_key`` index (``key >= q AND key < q + U+10FFFF``),
  so ``%``, ``_`` and ``\\`` are ordinary characters and need no escaping.
* **Tags** (``tags``): tags whose folded name starts with the query (a leading
  ``#`` is ignored), alphabetical, with how many photos carry each; tags no photo
  carries any longer are left out.
* **Photos** (``images``): the query is cut into words (runs of letters, digits,
  marks and ``_``, the hashtag characters; everything else, operators and quotes
  included, separates words), at most ``MAX_QUERY_WORDS``. A photo matches when
  its description has *every* word as the start of one of its words (``sun``
  finds "sunset"); results are newest first. On MariaDB the words are required
  prefix terms of a FULLTEXT search (``MATCH … AGAINST ('+sun* +beach*' IN
  BOOLEAN MODE)``); on SQLite of an FTS5 query (``"sun"* "beach"*``). Words the
  FULLTEXT index cannot find are matched as substrings with an escaped ``LIKE``
  on both back-ends alike: words under ``FULLTEXT_MIN_WORD`` characters (InnoDB's
  ``innodb_ft_min_token_size``), InnoDB's stopwords (MariaDB only), and words in
  scripts written without spaces (CJK, Thai…), whose runs neither index splits.

Paging: people and tags continue after the last name shown (an opaque keyset
cursor over the unique name); photos use the feeds' id cursors, so paging is
stable while photos arrive.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from gallery.models.image import Image
from gallery.models.search import FULLTEXT_DIALECTS, images_fts
from gallery.models.social import TAG_MAX_LENGTH, Tag, image_tags
from gallery.models.user import User
from gallery.services.errors import InvalidInput
from gallery.services.feeds import FeedPage, keyset_page
from gallery.services.paging import check_limit, invalid_cursor, pack_cursor, unpack_cursor
from gallery.services.tags import HASH_CHARACTERS, fold_tag_name, image_counts, is_tag_character
from gallery.services.visibility import not_hidden, visible_posts

MAX_QUERY_LENGTH = 100
MAX_QUERY_WORDS = 10
# InnoDB indexes no shorter words (innodb_ft_min_token_size, 3 by default) and
# no longer ones (innodb_ft_max_token_size, 84).
FULLTEXT_MIN_WORD = 3
FULLTEXT_MAX_WORD = 84
# InnoDB's default stopwords (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD):
# a required term that is a stopword makes MATCH find nothing at all.
INNODB_STOPWORDS = frozenset(
    (
        *("a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from"),
        *("how", "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to"),
        *("und", "was", "what", "when", "where", "who", "will", "with", "www"),
    )
)
# Beyond every real character: key < prefix + this  <=>  key starts with prefix
# (for keys without it; U+10FFFF is a noncharacter and never in a name).
PREFIX_END = "\U0010ffff"
KEY_CURSOR_PREFIX = "k1:"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_CURSOR_LENGTH = 400


class SearchType(StrEnum):
    USERS = "users"
    TAGS = "tags"
    IMAGES = "images"


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


@dataclass(frozen=True)
class TagHit:
    name: str
    image_count: int


@dataclass(frozen=True)
class TagPage:
    tags: list[TagHit]
    next_cursor: str | None


@dataclass(frozen=True)
class DescriptionTerms:
    """A photo query cut into words: those for the full-text index, those for LIKE."""

    indexed: list[str]
    substrings: list[str]


def search_type(value: str | None) -> SearchType:
    """The type named ``value`` (default: images); ``InvalidInput`` for anything else."""
    if value is None or value == "":
        return SearchType.IMAGES
    try:
        return SearchType(value)
    except ValueError:
        raise InvalidInput("type must be one of: users, tags, images.", field="type") from None


def clean_query(query: str | None) -> str:
    """The query trimmed, control characters as spaces; ``InvalidInput`` if empty or too long."""
    text = (query or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        # Before any other work on it: a 10 000-character query costs nothing.
        raise InvalidInput(
            f"The search is too long: at most {MAX_QUERY_LENGTH} characters.", field="q"
        )
    text = CONTROL_CHARACTERS.sub(" ", text).strip()
    if not text:
        raise InvalidInput("Type something to search for.", field="q")
    return text


# -- people ------------------------------------------------------------------


async def search_users(
    session: AsyncSession,
    query: str | None,
    *,
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
) -> UserPage:
    """Active users whose username starts with ``query`` (any case), alphabetical,
    but for those the viewer muted."""
    size = check_limit(limit)
    after = _decode_key_cursor(cursor)
    prefix = User.key_for(clean_query(query).lstrip("@"))
    if not prefix:
        raise InvalidInput("Type the beginning of a username.", field="q")
    conditions = [
        *starts_with(User.username_key, prefix),
        User.is_active,
        *not_hidden(viewer_id, User.id),
    ]
    if after is not None:
        conditions.append(User.username_key > after)
    rows = list(
        (
            await session.scalars(
                select(User).where(*conditions).order_by(User.username_key).limit(size + 1)
            )
        ).all()
    )
    has_more = len(rows) > size
    rows = rows[:size]
    next_cursor = _encode_key_cursor(rows[-1].username_key) if has_more else None
    return UserPage(users=rows, next_cursor=next_cursor)


# -- tags ----------------------------------------------------------------------


async def search_tags(
    session: AsyncSession, query: str | None, *, limit: int | None, cursor: str | None
) -> TagPage:
    """Tags that start with ``query`` (``#`` optional, any case), alphabetical, with counts."""
    size = check_limit(limit)
    after = _decode_key_cursor(cursor)
    prefix = fold_tag_name(clean_query(query).lstrip("".join(HASH_CHARACTERS)).strip())
    if not prefix:
        raise InvalidInput("Type the beginning of a tag.", field="q")
    if len(prefix) > TAG_MAX_LENGTH:
        return TagPage(tags=[], next_cursor=None)  # no tag is that long
    conditions = [
        *starts_with(Tag.name, prefix),
        # Only tags some public photo still carries: a tag only followers-only
        # posts carry would tell strangers it exists.
        exists().where(
            image_tags.c.tag_id == Tag.id, image_tags.c.image_id == Image.id, *visible_posts(None)
        ),
    ]
    if after is not None:
        conditions.append(Tag.name > after)
    rows = (
        await session.execute(
            select(Tag.id, Tag.name).where(*conditions).order_by(Tag.name).limit(size + 1)
        )
    ).all()
    has_more = len(rows) > size
    rows = rows[:size]
    counts = await image_counts(session, [row.id for row in rows])
    hits = [TagHit(name=r.name, image_count=c) for r, c in zip(rows, counts, strict=True)]
    return TagPage(tags=hits, next_cursor=_encode_key_cursor(rows[-1].name) if has_more else None)


# -- photos ----------------------------------------------------------------------


def description_terms(query: str | None, *, dialect: str) -> DescriptionTerms:
    """Cut a photo query into distinct lower-cased words; ``InvalidInput`` if it has none."""
    text = unicodedata.normalize("NFKC", clean_query(query)).lower()
    words: list[str] = []
    current: list[str] = []
    for character in f"{text} ":
        if is_tag_character(character):
            current.append(character)
        elif current:
            words.append("".join(current))
            current = []
    words = list(dict.fromkeys(words))
    if not words:
        raise InvalidInput(
            "Search for words: letters or digits (punctuation and symbols are ignored).",
            field="q",
        )
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidInput(f"Search for at most {MAX_QUERY_WORDS} words at a time.", field="q")
    indexed = [w for w in words if _indexable(w, dialect)]
    return DescriptionTerms(indexed=indexed, substrings=[w for w in words if w not in indexed])


def _indexable(word: str, dialect: str) -> bool:
    if not FULLTEXT_MIN_WORD <= len(word) <= FULLTEXT_MAX_WORD:
        return False
    if any(_written_without_spaces(c) for c in word):
        return False
    return not (dialect in FULLTEXT_DIALECTS and word in INNODB_STOPWORDS)


def _written_without_spaces(character: str) -> bool:
    """Han, kana, Hangul syllables, Thai, Lao, Myanmar, Khmer: one index "word" per run."""
    point = ord(character)
    return (
        0x0E00 <= point <= 0x0EFF  # Thai, Lao
        or 0x1000 <= point <= 0x109F  # Myanmar
        or 0x1780 <= point <= 0x17FF  # Khmer
        or 0x3040 <= point <= 0x30FF  # Hiragana, Katakana
        or 0x3400 <= point <= 0x4DBF  # CJK extension A
        or 0x4E00 <= point <= 0x9FFF  # CJK unified ideographs
        or 0xAC00 <= point <= 0xD7AF  # Hangul syllables
        or 0xF900 <= point <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= point <= 0xFF9F  # half-width Katakana
        or 0x20000 <= point <= 0x3FFFF  # CJK extensions B and later
    )


async def search_images(
    session: AsyncSession,
    query: str | None,
    *,
    viewer_id: int | None,
    limit: int | None,
    cursor: str | None,
) -> FeedPage:
    """Images whose description has every word of ``query`` (as word starts), newest first."""
    check_limit(limit)
    dialect = session.get_bind().dialect.name
    terms = description_terms(query, dialect=dialect)
    conditions: list[ColumnElement[bool]] = [
        Image.description.contains(word, autoescape=True) for word in terms.substrings
    ]
    if terms.indexed:
        conditions.append(_full_text_match(terms.indexed, dialect))
    conditions.extend(not_hidden(viewer_id, Image.author_id))
    conditions.extend(visible_posts(viewer_id))
    statement = select(Image).options(joinedload(Image.author)).where(and_(*conditions))
    return await keyset_page(session, statement, viewer_id, limit, cursor)


def _full_text_match(words: list[str], dialect: str) -> ColumnElement[bool]:
    # The words hold only letters, digits, marks and "_": no operator, quote or
    # parenthesis of either query language can be among them.
    if dialect in FULLTEXT_DIALECTS:
        against = " ".join(f"+{word}*" for word in words)
        # MATCH in WHERE (not "MATCH(...) > 0") is the form that uses the FULLTEXT index.
        return cast(
            "ColumnElement[bool]",
            mysql.match(Image.description.expression, against=against).in_boolean_mode(),
        )
    if dialect == "sqlite":
        fts_query = " ".join(f'"{word}"*' for word in words)
        matching = select(images_fts.c.rowid).where(images_fts.c.description.match(fts_query))
        return Image.id.in_(matching)
    # No full-text index elsewhere: substrings, slower but the same answers.
    return and_(*(Image.description.contains(word, autoescape=True) for word in words))


# -- helpers -------------------------------------------------------------------


def starts_with(key: InstrumentedAttribute[str], prefix: str) -> list[ColumnElement[bool]]:
    """``key`` starts with ``prefix``, as a range the column's index serves on both back-ends.

    Both compare keys byte for byte (utf8mb4_bin, SQLite's BINARY): code-point order.
    """
    return [key >= prefix, key < prefix + PREFIX_END]


def _encode_key_cursor(key: str) -> str:
    return pack_cursor(KEY_CURSOR_PREFIX + key)


def _decode_key_cursor(cursor: str | None) -> str | None:
    if cursor is None or cursor == "":
        return None
    raw = unpack_cursor(cursor, max_length=MAX_CURSOR_LENGTH) or ""
    key = raw[len(KEY_CURSOR_PREFIX) :] if raw.startswith(KEY_CURSOR_PREFIX) else None
    if not key or len(key) > TAG_MAX_LENGTH or CONTROL_CHARACTERS.search(key):
        raise invalid_cursor()
    return key
